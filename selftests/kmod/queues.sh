#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A connection moves with its queues and its options: 0 B, 1 B, 64 KiB and
# 1 MiB unread in the server's receive queue and unacknowledged in its send
# queue, and a send queue stuck behind the client's zero window; socket
# options and TCP_INFO compared before and after (ss -tie shown as
# diagnostics); every byte checked once both directions drain.  IPv4 and
# IPv6 loopback; and IPv4 with net.ipv4.tcp_notsent_lowat set during the
# move (a common tuning of a target host), which must not stop the
# import's send of the bytes never sent half-way; IPv4 with ECN
# negotiated, whose state must move too; and, from Linux 6.7, IPv4 with
# TSvals in microseconds, which must stay so.
#
#   [ client ] --lo--> [ listener ]   (one namespace; export, import back
#                                      into the same listener)

source "$(dirname "$0")/../lib.sh"

require_root
require_module
require_cmd tcpmig_queues ss

ns_create ns
ip netns exec "$ns" tcpmig_queues | sed 's/^/# ipv4: /'
v4=${PIPESTATUS[0]}
ip netns exec "$ns" tcpmig_queues -6 | sed 's/^/# ipv6: /'
v6=${PIPESTATUS[0]}
ip netns exec "$ns" tcpmig_queues -l 16384 | sed 's/^/# notsent_lowat: /'
lowat=${PIPESTATUS[0]}
ip netns exec "$ns" tcpmig_queues -e | sed 's/^/# ecn: /'
ecn=${PIPESTATUS[0]}
ip netns exec "$ns" tcpmig_queues -u | sed 's/^/# usec_ts: /'
usec=${PIPESTATUS[0]}

tap_plan 5
tap_check "ipv4: queues and options survive the move" test "$v4" -eq 0
tap_check "ipv6: queues and options survive the move" test "$v6" -eq 0
tap_check "ipv4, tcp_notsent_lowat 16 KiB: the same" \
	test "$lowat" -eq 0
tap_check "ipv4, ECN negotiated: the same, and the ECN state too" \
	test "$ecn" -eq 0
if [ "$usec" -eq $KSFT_SKIP ]; then
	tap_skip "ipv4, microsecond timestamps" "before Linux 6.7"
else
	tap_check "ipv4, microsecond timestamps (the route's tcp_usec_ts): the same, the TSvals still in microseconds" \
		test "$usec" -eq 0
fi
tap_done
