#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Malformed and spoofed TCPMig against a server's module: from a host
# outside the pool, and from a pool member, hand-made defects and
# thousands of deterministic random mutants of the messages of a real
# migration.  See tcpmig_fuzz.c.
#
#   +-----------+        +---------------------+        +-------------+
#   | host0     |        | switch              |sw1--eth0 10.10.1.2 (A) |
#   | outsider  eth0--sw0| (capymig-switchd    |        | member      |
#   | 10.10.0.2 |        |  for the real       |        +-------------+
#   +-----------+        |  migrations only)   |        +-------------+
#                        |                     |sw2--eth0 10.10.2.2 (B) |
#                        +---------------------+        | fuzzed      |
#                                                       +-------------+
#
# The switch's data plane runs for the real migrations, before and after;
# while B is fuzzed it is gone, the switch namespace only routes (the
# data plane would drop the malformed messages itself; its own tests are
# in selftests/bpf).  Afterwards B's sockets are back to what they were,
# the kernel said nothing (the harness also checks the module's refcount
# and log), and a real migration through B still works.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

PORT=7117
MUTANTS=${CAPYMIG_FUZZ_MUTANTS:-3000}
SEED=${CAPYMIG_FUZZ_SEED:-20261122}
readonly FUZZ_CHECKS=$((2 + 41))

require_root
require_module
require_cmd capymig-switchd tcpmig_fuzz tcpmig_stream capyctl

sw_topology_create 2 || ksft_skip_all "cannot build the topology"
sw_tcpmig_pool 2 || ksft_fail_all "cannot configure TCPMig"
# No heartbeats: B's messages are then only its answers to the fuzz.
for i in 1 2; do
	ip netns exec "${sw_host[i]}" capyctl config --heartbeat-ms 0 >/dev/null ||
		ksft_fail_all "cannot stop the heartbeats"
done
sw_switchd_start $PORT 2 --period-us 100000 ||
	ksft_fail_all "capymig-switchd did not start"
tmp=$(mktemp -d)
on_exit rm -rf "$tmp"

# B's TCP and UDP sockets in use.
sockstat()
{
	ip netns exec "${sw_host[2]}" awk '$1 == "TCP:" || $1 == "UDP:" {
		printf "%s %s ", $1, $3 }' /proc/net/sockstat
}

tap_plan $((FUZZ_CHECKS + 4))
dmesg_mark
tcpmig_fuzz capture -N "${sw_host[1]},${sw_host[2]},${sw_host[0]}" \
	-a $SW_VIP -p $PORT -o "$tmp/msgs" | grep -v '^\(TAP version\|1\.\.\)' |
	tee "$tmp/tap"
status=${PIPESTATUS[0]}
sw_switchd_stop
baseline=$(sockstat)
tcpmig_fuzz fuzz -N "${sw_host[1]},${sw_host[2]},${sw_host[0]}" -p $PORT \
	-i "$tmp/msgs" -s "$SEED" -n "$MUTANTS" |
	grep -v '^\(TAP version\|1\.\.\)' |
	awk -v n=2 '/^(not )?ok [0-9]+/ { sub(/ok [0-9]+/, "ok " ++n) } 1' |
	tee -a "$tmp/tap"
fuzzed=${PIPESTATUS[0]}
tap_adopt "$tmp/tap" $FUZZ_CHECKS tcpmig_fuzz $((status ? status : fuzzed))

# B's sockets are as they were before the fuzz.
sockets_back()
{
	[ "$(sockstat)" = "$baseline" ]
}

tap_check "B's sockets are back to what they were ($baseline)" \
	wait_for 10 sockets_back
tap_check "the kernel did not complain" dmesg_clean
sw_switchd_start $PORT 2 --period-us 100000
back=$?
tap_check "capymig-switchd back" test $back -eq 0
tap_check "real migrations through B still work" \
	tcpmig_stream -S -n 4 -a $SW_VIP \
	-N "${sw_host[1]},${sw_host[2]},${sw_host[0]}" -g 10.10.1.2,10.10.2.2
tap_done
