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

# sw_switchd_start PORT N [ARGS...]: capymig-switchd in the switch
# namespace, serving SW_VIP:PORT with the servers of hosts 1 to N (each
# 10.10.i.2:PORT), not reaping servers whose heartbeats stop unless ARGS
# set --heartbeat-timeout; killed on exit.  Its pid is in sw_switchd.
sw_switchd_start()
{
	local port=$1 n=$2 i servers=()
	shift 2

	for ((i = 1; i <= n; i++)); do
		servers+=(-S "10.10.$i.2:$port")
	done
	sw_switchd_log=$(mktemp)
	on_exit rm -f "$sw_switchd_log"
	ip netns exec "$sw_ns" capymig-switchd -s "$SW_VIP:$port" \
		-a $SW_ADDR "${servers[@]}" --heartbeat-timeout 0 "$@" \
		2>"$sw_switchd_log" &
	sw_switchd=$!
	on_exit sw_switchd_stop
	wait_for 20 ip netns exec "$sw_ns" capymig-switchd --dump &>/dev/null &&
		return 0
	cat "$sw_switchd_log" >&2
	return 1
}

# Stops the switchd of sw_switchd_start, which detaches its data plane.
sw_switchd_stop()
{
	[ -n "$sw_switchd" ] || return 0
	kill "$sw_switchd" && wait "$sw_switchd"
	sw_switchd=
}

# sw_tcpmig_pool N: TCPMig on hosts 1 to N, each with the switch and the
# others in its pool.
sw_tcpmig_pool()
{
	local i j cmds

	for ((i = 1; i <= $1; i++)); do
		cmds="capyctl config switch $SW_ADDR"
		for ((j = 1; j <= $1; j++)); do
			((i == j)) || cmds+=" && capyctl pool add 10.10.$j.2"
		done
		ip netns exec "${sw_host[i]}" sh -c "$cmds" >/dev/null ||
			return 1
	done
}

# sw_deploy N PORT [ARGS...]: the topology of hosts 0 to N, the switch
# agent serving SW_VIP:PORT with hosts 1 to N (sw_switchd_start, ARGS
# its own), and TCPMig on hosts 1 to N (sw_tcpmig_pool).  Skips the test
# if the machine cannot build the topology; fails it if capymig's own
# parts do not start.
sw_deploy()
{
	local n=$1 port=$2
	shift 2

	sw_topology_create "$n" || ksft_skip_all "cannot build the topology"
	sw_switchd_start "$port" "$n" "$@" ||
		ksft_fail_all "capymig-switchd did not start"
	sw_tcpmig_pool "$n" || ksft_fail_all "cannot configure TCPMig"
}

# sw_dump_is FILTER: the switch agent's state (--dump -j) is FILTER.
sw_dump_is()
{
	ip netns exec "$sw_ns" capymig-switchd --dump -j | json_is "$1"
}

# sw_delay N PROTO [from]: the switch delays what it sends servers 1 to N
# of IP protocol PROTO by 20 ms, and nothing else; with "from", the
# servers delay what they send the switch instead.  sw_undelay N [from]
# ends it.
sw_delay()
{
	local i ns dev

	for ((i = 1; i <= $1; i++)); do
		read -r ns dev <<<"$(sw_link "$i" "$3")"
		tc -n "$ns" -b - <<-EOF || return 1
			qdisc add dev $dev root handle 1: prio
			qdisc add dev $dev parent 1:3 handle 30: netem delay 20ms
			filter add dev $dev parent 1: protocol ip prio 1 u32 match ip protocol $2 0xff flowid 1:3
		EOF
	done
}

sw_undelay()
{
	local i ns dev

	for ((i = 1; i <= $1; i++)); do
		read -r ns dev <<<"$(sw_link "$i" "$2")"
		tc -n "$ns" qdisc del dev "$dev" root
	done
}

# sw_link I [from]: the namespace and device by which the switch sends to
# host I, or with "from", by which host I sends to the switch.
sw_link()
{
	if [ "$2" = from ]; then
		echo "${sw_host[$1]} eth0"
	else
		echo "$sw_ns sw$1"
	fi
}

# The sums of the capymig counters NAME... (as capyctl -j info names
# them) over the capyctl -j info objects on stdin, on one line.
sum_stats()
{
	jq -rs --args \
		'[$ARGS.positional[] as $name | map(.stats[$name] // 0) | add // 0] |
		 join(" ")' "$@"
}

# sw_stats N NAME...: the sums over hosts 1 to N of the capymig counters
# NAME..., on one line, each host read once.
sw_stats()
{
	local n=$1 i

	shift
	for ((i = 1; i <= n; i++)); do
		ip netns exec "${sw_host[i]}" capyctl -j info
	done | sum_stats "$@"
}

# sw_host_stats I NAME...: host I's capymig counters NAME..., on one line.
sw_host_stats()
{
	local i=$1

	shift
	ip netns exec "${sw_host[i]}" capyctl -j info | sum_stats "$@"
}

# sw_counter NAME: the switch agent's counter NAME (--dump -j).
sw_counter()
{
	ip netns exec "$sw_ns" capymig-switchd --dump -j | jq ".counters.$1"
}

# ns_snmp NS GROUP NAME: namespace NS's counter NAME of /proc/net/snmp's
# GROUP (Ip, Tcp...).
ns_snmp()
{
	ip netns exec "$1" awk -v group="$2:" -v name="$3" '
		$1 == group { if (!n) { for (f = 2; f <= NF; f++)
					    if ($f == name) c = f
					n = 1; next }
			      print $c }' /proc/net/snmp
}

# ns_out_rsts NS: resets sent (Tcp: OutRsts) by namespace NS.
ns_out_rsts()
{
	ns_snmp "$1" Tcp OutRsts
}

# sw_out_rsts N: resets sent (Tcp: OutRsts) by hosts 0 to N together.
sw_out_rsts()
{
	local i sum=0

	for ((i = 0; i <= $1; i++)); do
		sum=$((sum + $(ns_out_rsts "${sw_host[i]}")))
	done
	echo $sum
}

# sw_diag_stats N: the capymig counters of hosts 1 to N, as TAP comments.
sw_diag_stats()
{
	local i

	for ((i = 1; i <= $1; i++)); do
		tap_diag "host$i: $(ip netns exec "${sw_host[i]}" capyctl -j info |
				    sed 's/.*"stats"://')"
	done
}
