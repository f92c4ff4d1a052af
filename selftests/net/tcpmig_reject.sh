#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# TCPMig migrations through the switch that are refused or fail, against
# the servers' modules: no listener on the target (REJECT NO_LISTENER),
# a target out of the pool (the switch's REJECT NO_TARGET), the tuple
# taken there (REJECT TUPLE_EXISTS), a second MIGRATE while one
# is in flight (EBUSY), a target that vanishes before its PREPARE-ACK
# (FAILED by timeout, connection kept), PREPARE-ACKs and ABORTs lost
# after the switch (FAILED by timeout, ABORT sent again until the switch
# and the target heard it, connection kept), PREPARE-ACKs lost before
# the switch and a PREPARE sent again with no target named (its copies
# and ABORT go to the one server the switch chose), another server
# answering for a migration named to B (its PREPARE-ACK dropped by the
# switch, its REJECT by the origin) and a target that vanishes after its
# PREPARE-ACK (FAILED by timeout after the export, another server's
# REJECT meanwhile ignored).  See tcpmig_reject.c.
#
#                         +---------------------+        +--------------+
#   +-----------+         | switch              |sw1--eth0 10.10.1.2 (A)  |
#   | host0     |         | capymig-switchd     |sw2--eth0 10.10.2.2 (B)  |
#   | client    eth0--sw0 | VIP 10.10.255.1     |sw3--eth0 10.10.3.2 (C)  |
#   | 10.10.0.2 |         | TCPMig 10.10.254.1  |sw4--eth0 10.10.4.2 (D)  |
#   +-----------+         +---------------------+        +--------------+
#
# A and B listen, C does not; D listens until it vanishes (netem loss
# 100% on sw4, then a filter dropping all but short datagrams at its
# eth0).  The origin (A or B) announces each end on the events group:
# capyctl monitor -j must show them, with their errors.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

PORT=7117
readonly REJECT_CHECKS=22

require_root
require_module
require_cmd capymig-switchd tcpmig_reject capyctl jq tc

sw_topology_create 4 || ksft_skip_all "cannot build the topology"
sw_tcpmig_pool 4 || ksft_fail_all "cannot configure TCPMig"
# Round-robin targets: copies of a PREPARE naming none would go each to
# another server, but for the switch's note of the first's.
sw_switchd_start $PORT 4 --period-us 100000 --target rr ||
	ksft_fail_all "capymig-switchd did not start"

tmp=$(mktemp -d)
on_exit rm -rf "$tmp"
for i in 1 2; do
	ip netns exec "${sw_host[i]}" capyctl -j monitor >"$tmp/events$i" &
	on_exit kill $!
done
tap_plan $((REJECT_CHECKS + 9))
before=$(sw_counter prepares)
rsts=$(sw_out_rsts 4)

tcpmig_reject -a $SW_VIP -p $PORT \
	-N "${sw_host[1]},${sw_host[2]},${sw_host[3]},${sw_host[4]},${sw_host[0]},$sw_ns" |
	tee "$tmp/tap"
tap_adopt "$tmp/tap" $REJECT_CHECKS tcpmig_reject "${PIPESTATUS[0]}"

# event NAME ERROR: the origin announced a migration's end so.
event()
{
	cat "$tmp"/events* |
		jq -se "map(select(.event == \"$1\" and .error == \"$2\")) |
			length == ${3:-1}" >/dev/null
}
tap_check "capyctl monitor: rejected, Connection refused (no listener)" \
	wait_for 5 event rejected "Connection refused"
tap_check "capyctl monitor: rejected, No route to host, twice (no target)" \
	wait_for 5 event rejected "No route to host" 2
tap_check "the switch counted the 2 PREPAREs it refused" \
	test "$(sw_counter no_target)" -eq 2
tap_check "capyctl monitor: rejected, File exists (tuple exists)" \
	wait_for 5 event rejected "File exists"
tap_check "capyctl monitor: failed, Connection timed out, 4 times (target vanished, answers lost)" \
	wait_for 5 event failed "Connection timed out" 4
tap_check "the switch passed on the 5 PREPAREs" \
	test $(($(sw_counter prepares) - before)) -ge 5
tap_check "the switch withdrew the redirect on a retransmitted ABORT" \
	test "$(sw_counter mig_aborted)" -eq 1
tap_check "the switch dropped the PREPARE-ACK of a server the PREPARE did not go to, as spoofed" \
	test "$(sw_counter spoofed)" -eq 1
rsts=$(($(sw_out_rsts 4) - rsts))
tap_check "no namespace sent a reset ($rsts)" test "$rsts" -eq 0
tap_done
