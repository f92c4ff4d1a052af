#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Path MTU discovery through the switch, for connections to the service
# address while their modules migrate them.  The client's link is narrower
# than the servers', and its routes advertise the servers' MSS, so the
# servers send segments that some hop cannot pass and must learn the
# path's MTU from the ICMP "fragmentation needed" that hop sends.  Where
# the rewrite hides the server, a connection without the switch's help
# would lose every full-sized segment for ever.
#
#   far (client) --- host0 (router) --- switch --- host1 (A)
#     10.10.100.2        10.10.0.2                 \- host2 (B)
#
# First the switch's own link to host0 is the narrowest hop: the switch
# must hand the servers' too-big segments to its stack as the servers sent
# them, so that its ICMP reaches the server.  Then host0's link to the
# client is: host0's ICMP goes to the service address, and the switch
# must send it on to the server serving the connection, translated.  Last,
# the switch's own link again, with an agent whose stack forwards what the
# data plane passes on (--stack-forwarding).  Each time a stream is
# migrated between A and B, and both learn the path MTU.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

PORT=7117	# tcpmig_stream's
MIGRATIONS=20
FAR=10.10.100.2
MTU=1280

require_root
require_module
require_cmd capymig-switchd tcpmig_stream capyctl jq

sw_topology_create 2 || ksft_skip_all "cannot build the topology"
ns_create far || ksft_skip_all "cannot create the client's namespace"
# The client's link is MTU bytes wide; its routes advertise the MSS of a
# 1500-byte link, as a host behind a narrower hop it does not know of.
ip link add r0 netns "${sw_host[0]}" mtu $MTU type veth \
	peer name eth0 netns "$far" mtu $MTU &&
	ip -n "${sw_host[0]}" -b - <<-EOF &&
		address add 10.10.100.1/24 dev r0
		link set r0 up
	EOF
	ip -n "$far" -b - <<-EOF &&
		address add $FAR/24 dev eth0
		link set eth0 up
		route add default via 10.10.100.1 advmss 1460
	EOF
	ip -n "$sw_ns" route add 10.10.100.0/24 via 10.10.0.2 &&
	ip netns exec "${sw_host[0]}" sysctl -qw net.ipv4.ip_forward=1 ||
	ksft_skip_all "cannot connect the client"
# Every "fragmentation needed" sent at once, not one a second.
for ns in "$sw_ns" "${sw_host[0]}"; do
	ip netns exec "$ns" sysctl -qw net.ipv4.icmp_ratelimit=0 ||
		ksft_skip_all "cannot lift the ICMP rate limit"
done
sw_switchd_start $PORT 2 || ksft_fail_all "capymig-switchd did not start"
sw_tcpmig_pool 2 || ksft_fail_all "cannot configure TCPMig"
a=10.10.1.2
b=10.10.2.2

# The servers' path MTU to the client: learned, or none.
learned()
{
	local i

	for i in 1 2; do
		ip -n "${sw_host[i]}" route get $FAR |
			grep -q "mtu $MTU" || return 1
	done
}

forget()
{
	local i

	for i in 1 2; do
		ip -n "${sw_host[i]}" route flush cache || return 1
	done
	! learned
}

# stream NAME: a stream through the service address, migrated between A
# and B; fails if it stalls.
stream()
{
	local log status

	log=$(mktemp)
	timeout 120 tcpmig_stream -S -p -n $MIGRATIONS -i 131072 \
		-a $SW_VIP -N "${sw_host[1]},${sw_host[2]},$far" \
		-g $a,$b >"$log"
	status=$?
	sed 's/^/# /' "$log"
	rm -f "$log"
	return $status
}

tap_plan 8

ip -n "$sw_ns" link set sw0 mtu $MTU &&
	ip -n "${sw_host[0]}" link set eth0 mtu $MTU
tap_check "the switch's own link the narrowest: a stream $MIGRATIONS times migrated arrives whole" \
	stream
tap_check "... the servers' segments too big for it went to its stack as they were sent" \
	test "$(sw_counter too_big)" -gt 0 -a "$(sw_counter icmp_translated)" -eq 0
tap_check "... and both servers learned the path MTU from its ICMP" learned

ip -n "$sw_ns" link set sw0 mtu 1500 &&
	ip -n "${sw_host[0]}" link set eth0 mtu 1500 && forget
forgotten=$?
((forgotten == 0)) ||
	tap_diag "cannot widen the switch's link or flush the servers' routes"
too_big=$(sw_counter too_big)
tap_check "a router beyond the switch the narrowest: a stream $MIGRATIONS times migrated arrives whole" \
	stream
tap_check "... its ICMP errors went to the server serving the connection, translated" \
	test "$(sw_counter icmp_translated)" -gt 0 \
	     -a "$(sw_counter too_big)" -eq "$too_big"
tap_check "... and both servers learned the path MTU from them, having forgotten it" \
	eval '[ $forgotten -eq 0 ] && learned'
tap_diag "counters: too_big $(sw_counter too_big)," \
	"icmp_translated $(sw_counter icmp_translated)"

sw_switchd_stop
ip -n "$sw_ns" link set sw0 mtu $MTU &&
	ip -n "${sw_host[0]}" link set eth0 mtu $MTU && forget &&
	sw_switchd_start $PORT 2 --stack-forwarding &&
	wait_for 10 sw_dump_is '.forwarding == "stack" and
			       ([.servers[].state] | all(. == "live"))' ||
	tap_diag "cannot narrow the switch's link again under an agent" \
		 "with --stack-forwarding"
tap_check "--stack-forwarding, the switch's own link the narrowest: a stream $MIGRATIONS times migrated arrives whole" \
	stream
tap_check "... its too-big segments went to the stack as sent, and both servers learned the path MTU" \
	eval 'test "$(sw_counter too_big)" -gt 0 && learned'
tap_diag "counters: too_big $(sw_counter too_big)," \
	"icmp_translated $(sw_counter icmp_translated)"
tap_done
