# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The topology of the cross-namespace migration tests: a client reaching a
# service address that two servers both hold.  Sourced after lib.sh (it is
# here, not in selftests/net/, so the runner does not take it for a test).
#
#   +------------------+        +-------------------+
#   | C                |        | A        lo: S    |
#   |  c_a 10.9.1.1    +--------+ a_c 10.9.1.2      |
#   |      fd00:9:1::1 |        |     fd00:9:1::2   |
#   |                  |        +-------------------+
#   |                  |        +-------------------+
#   |  c_b 10.9.2.1    +--------+ b_c 10.9.2.2      |
#   |      fd00:9:2::1 |        |     fd00:9:2::2   |
#   |                  |        | B        lo: S    |
#   +------------------+        +-------------------+
#
#   S = 10.9.9.9/32, fd00:9::9/128, on lo in both A and B.
#
# C's host route to S goes via A's or via B's veth address: replacing it
# is the service address moving from one server to the other, as a switch
# or a load balancer would move it.  A and B route everything back to C,
# so each answers the client whatever the source address it connected
# from.  Neighbours are static and DAD is off: the first packet after a
# switch goes out at once, nothing is resolved on the way.  Reverse path
# filtering is off, as on a host behind such a switch: right after a
# switch, segments the old server sent before the export may still arrive
# from it.

readonly TOPO_S4=10.9.9.9
readonly TOPO_S6=fd00:9::9
readonly TOPO_GW4_A=10.9.1.2
readonly TOPO_GW4_B=10.9.2.2
readonly TOPO_GW6_A=fd00:9:1::2
readonly TOPO_GW6_B=fd00:9:2::2

# topo_sysctls NS: no reverse path filtering, host (not router) behaviour.
topo_sysctls()
{
	ip netns exec "$1" sh -c '
		for f in /proc/sys/net/ipv4/conf/*/rp_filter; do
			echo 0 >"$f"
		done
		sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0'
}

# topo_link SERVER_NS SIDE N: the veth pair from C (c_SIDE, 10.9.N.1) to
# the server (SIDE_c, 10.9.N.2), with fixed MAC addresses learnt
# statically on both ends, and the server's routes back to C.
topo_link()
{
	local srv=$1 side=$2 n=$3
	local cmac=02:00:00:00:0$n:01 smac=02:00:00:00:0$n:02

	ip link add "c_$side" netns "$topo_c" address "$cmac" type veth \
		peer name "${side}_c" netns "$srv" address "$smac" || return 1
	ip -n "$topo_c" addr add "10.9.$n.1/24" dev "c_$side" &&
	ip -n "$topo_c" addr add "fd00:9:$n::1/64" dev "c_$side" nodad &&
	ip -n "$srv" addr add "10.9.$n.2/24" dev "${side}_c" &&
	ip -n "$srv" addr add "fd00:9:$n::2/64" dev "${side}_c" nodad &&
	ip -n "$topo_c" link set "c_$side" up &&
	ip -n "$srv" link set "${side}_c" up &&
	ip -n "$topo_c" neigh replace "10.9.$n.2" lladdr "$smac" \
		dev "c_$side" nud permanent &&
	ip -n "$topo_c" neigh replace "fd00:9:$n::2" lladdr "$smac" \
		dev "c_$side" nud permanent &&
	ip -n "$srv" neigh replace "10.9.$n.1" lladdr "$cmac" \
		dev "${side}_c" nud permanent &&
	ip -n "$srv" neigh replace "fd00:9:$n::1" lladdr "$cmac" \
		dev "${side}_c" nud permanent &&
	ip -n "$srv" route add default via "10.9.$n.1" &&
	ip -n "$srv" -6 route add default via "fd00:9:$n::1" &&
	ip -n "$srv" addr add "$TOPO_S4/32" dev lo &&
	ip -n "$srv" addr add "$TOPO_S6/128" dev lo
}

# topology_create: builds the namespaces (deleted on exit) and sets
# topo_a, topo_b and topo_c to their names, as found in /var/run/netns.
# The route to S is left to the tests, which pick the first server.
topology_create()
{
	ns_create topo_a && ns_create topo_b && ns_create topo_c &&
	topo_sysctls "$topo_a" && topo_sysctls "$topo_b" &&
	topo_sysctls "$topo_c" &&
	topo_link "$topo_a" a 1 && topo_link "$topo_b" b 2
}
