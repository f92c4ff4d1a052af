#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# TCPMig on lossy links: the servers' links to the switch lose 5% of the
# packets and reorder a quarter, both ways, TCPMig's datagrams as much as
# the connection's segments.
#
#   +-----------+        +---------------------+  netem   +-------------+
#   | host0     |        | switch              |sw1~~~eth0 10.10.1.2 (A)  |
#   | client    eth0--sw0| capymig-switchd     |          +-------------+
#   | 10.10.0.2 |        | VIP 10.10.255.1     |  netem   +-------------+
#   +-----------+        | TCPMig 10.10.254.1  |sw2~~~eth0 10.10.2.2 (B)  |
#                        +---------------------+          +-------------+
#
# The connection streams both ways and is moved back and forth.  Lost
# messages are sent again; a migration whose PREPARE-ACK never comes in
# time fails, and must then leave the connection on its origin, serving.
# None may fail after the export (the connection would be lost).  The
# stream must arrive whole and in order, and nobody may reset.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

PORT=7117
MIGRATIONS=${CAPYMIG_LOSS_MIGRATIONS:-50}
NETEM="loss 5% delay 1ms reorder 25% 50%"

require_root
require_module
require_cmd capymig-switchd tcpmig_stream capyctl tc

sw_topology_create 2 || ksft_skip_all "cannot build the topology"
sw_tcpmig_pool 2 || ksft_fail_all "cannot configure TCPMig"
for i in 1 2; do
	tc -n "$sw_ns" qdisc add dev sw$i root netem $NETEM &&
	tc -n "${sw_host[i]}" qdisc add dev eth0 root netem $NETEM ||
		ksft_skip_all "no netem"
done
sw_switchd_start $PORT 2 --period-us 100000 ||
	ksft_fail_all "capymig-switchd did not start"

tap_plan 4
rsts=$(sw_out_rsts 2)
timeout 600 tcpmig_stream -S -l -n "$MIGRATIONS" -i 4096 -a $SW_VIP \
	-N "${sw_host[1]},${sw_host[2]},${sw_host[0]}" -g 10.10.1.2,10.10.2.2 |
	sed 's/^/# /'
status=${PIPESTATUS[0]}

tap_check "$MIGRATIONS migrations on lossy links: each completed or left the connection serving on its origin; stream intact both ways" \
	test "$status" -eq 0
# Counted after the close too: the switch must rewrite a connection's
# last segments (crossed FINs, a FIN sent again) as it did the others.
rsts=$(($(sw_out_rsts 2) - rsts))
tap_check "no namespace sent a reset ($rsts), the close included" \
	test "$rsts" -eq 0
completed=$(sw_stats 2 migrations_out)
failed=$(sw_stats 2 migrations_failed)
tap_diag "completed: $completed, failed: $failed" \
	"TCPMig messages sent again: $(sw_stats 2 msg_retransmits)"
tap_check "the modules count every attempt: $completed completed + $failed failed = $MIGRATIONS" \
	test $((completed + failed)) -eq "$MIGRATIONS"
tap_check "most completed" test $((completed * 2)) -gt "$MIGRATIONS"
tap_done
