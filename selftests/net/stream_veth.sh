#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A stream flowing both ways is migrated 1,000 times between two servers
# in their own namespaces, both holding the service address S, while the
# client's route to S moves from one to the other: the two-phase sequence
# of a real move (hold at the target, switch the route, export, import),
# over IPv4 and IPv6 on veth.
#
#   +---------+ c_a     a_c +-----------+
#   |         |-------------| A  lo: S  |   S = 10.9.9.9, fd00:9::9
#   |    C    |             +-----------+
#   |  S via  | c_b     b_c +-----------+
#   |  A or B |-------------| B  lo: S  |
#   +---------+             +-----------+
#
# (selftests/lib/topology.sh has the addresses.)  tcpmig_stream is the
# client in C and the application of both servers: it checks every byte,
# the origin's ECONNABORTED after each export, and that C's TCP counters
# show no reset and no retransmission for a loss - so no segment was lost
# on the way, not even around the route switch.  C keeps sending while
# the connection is held at B, unacknowledged until the import: a move in
# a busy emulated guest may outlast C's tail loss probe timeout (a few ms
# on veth), even its usual 200 ms minimum retransmission timeout.  So the
# probes, spurious, are forgiven (-p: B had the segments already) and the
# route to S has a 1 s minimum RTO (-r): a loss still shows, later.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/topology.sh"

require_root
require_module
require_cmd tcpmig_stream

topology_create || ksft_skip_all "cannot build the veth topology"

# stream FAMILY ARGS...: 1,000 moves, the output as diagnostics.
stream()
{
	local family=$1
	shift

	tcpmig_stream -p -r 1000 -N "$topo_a,$topo_b,$topo_c" -n 1000 \
		-i 16384 "$@" | sed "s/^/# $family: /"
	return "${PIPESTATUS[0]}"
}

stream ipv4 -a "$TOPO_S4" -g "$TOPO_GW4_A,$TOPO_GW4_B"
v4=$?
stream ipv6 -6 -a "$TOPO_S6" -g "$TOPO_GW6_A,$TOPO_GW6_B"
v6=$?

tap_plan 2
tap_check "ipv4: 1000 moves between namespaces, nothing lost, no reset, no loss retransmitted" \
	test "$v4" -eq 0
tap_check "ipv6: 1000 moves between namespaces, nothing lost, no reset, no loss retransmitted" \
	test "$v6" -eq 0
tap_done
