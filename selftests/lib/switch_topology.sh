# SPDX-License-Identifier: GPL-2.0
#
# The topology of the software switch's tests: hosts on subnets of their
# own, joined by veth to a switch namespace that routes between them and
# where the switch's data plane runs.  Sourced after lib.sh (it is here,
# not in selftests/net/, so the runner does not take it for a test).
#
#   +-----------+             +-----------------+             +-----------+
#   | host 0    |             | switch          |             | host N    |
#   | 10.10.0.2 eth0 ---- sw0 | 10.10.N.1 (swN) | swN ---- eth0 10.10.N.2 |
#   +-----------+             | lo: SW_ADDR     |             +-----------+
#                             +-----------------+
#
# Hosts route everything through the switch.  The switch forwards
# (ip_forward=1) without reverse path filtering: it rewrites the sources
# of servers' answers to the service address, which is nowhere on its
# interfaces.  Commands are batched: in an emulated guest, starting a
# process is what takes time.

readonly SW_ADDR=10.10.254.1	# the switch's TCPMig address
readonly SW_VIP=10.10.255.1	# the service address

# sw_topology_create N: the switch namespace, in sw_ns, and hosts 0 to N,
# in sw_host[0..N].
sw_topology_create()
{
	local i var links=

	ns_create sw_ns || return 1
	ip netns exec "$sw_ns" sh -c '
		sysctl -qw net.ipv4.ip_forward=1 &&
		for f in /proc/sys/net/ipv4/conf/*/rp_filter; do
			echo 0 >"$f"
		done' || return 1
	for ((i = 0; i <= $1; i++)); do
		var=host$i
		ns_create "$var" || return 1
		sw_host[i]=${!var}
		links+="link add name sw$i netns $sw_ns type veth"
		links+=" peer name eth0 netns ${sw_host[i]}"$'\n'
	done
	ip -b - <<<"$links" || return 1
	for ((i = 0; i <= $1; i++)); do
		echo "address add 10.10.$i.1/24 dev sw$i"
		echo "link set sw$i up"
	done | ip -n "$sw_ns" -b - || return 1
	ip -n "$sw_ns" address add "$SW_ADDR/32" dev lo || return 1
	for ((i = 0; i <= $1; i++)); do
		ip -n "${sw_host[i]}" -b - <<-EOF || return 1
			address add 10.10.$i.2/24 dev eth0
			link set eth0 up
			route add default via 10.10.$i.1
		EOF
	done
}

# sw_tcpmig_start PORT LOG: TCPMig between hosts 1 and 2 (10.10.1.2 and
# 10.10.2.2) through the switch agent, which serves SW_VIP:PORT on them
# and logs to LOG.  The agent is stopped on exit.
sw_tcpmig_start()
{
	local port=$1 log=$2 a=10.10.1.2 b=10.10.2.2

	ip netns exec "$sw_ns" capymig-switchd -s $SW_VIP:$port -a $SW_ADDR \
		-S $a:$port -S $b:$port --heartbeat-timeout 0 2>"$log" &
	on_exit kill $!
	wait_for 10 ip netns exec "$sw_ns" capymig-switchd --dump \
		>/dev/null 2>&1 || return 1
	ip netns exec "${sw_host[1]}" sh -c "capyctl config switch $SW_ADDR &&
		capyctl pool add $b" >/dev/null &&
	ip netns exec "${sw_host[2]}" sh -c "capyctl config switch $SW_ADDR &&
		capyctl pool add $a" >/dev/null
}
