#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The switch agent restarted under live connections: with --state, its
# tables outlive it and its data plane stays attached, so a restart
# loses nothing.
#
#   host0 (client) -- switch (capymig-switchd --state DIR) -- host1 (A)
#                                                          -- host2 (B)
#
# A stream through the service address, migrated between A and B by
# their modules, carries on while the agent is killed and started again
# twice: whole, in order, no reset, no loss.  The new agent takes the
# tables over (their entries and gauges); --remove then takes the data
# plane off the interfaces and deletes the tables.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

PORT=7117	# tcpmig_stream's
MIGRATIONS=${CAPYMIG_RESTART_MIGRATIONS:-2000}

require_root
require_module
require_cmd capymig-switchd tcpmig_stream capyctl jq

state=$(mktemp -d /tmp/capymig-state-XXXXXX) || ksft_skip_all "no tmpdir"
on_exit rmdir "$state"
mount -t bpf bpf "$state" || ksft_skip_all "cannot mount a bpffs"
on_exit umount "$state"
sw_topology_create 2 || ksft_skip_all "cannot build the topology"
sw_switchd_start $PORT 2 --state "$state" ||
	ksft_fail_all "capymig-switchd did not start"
sw_tcpmig_pool 2 || ksft_fail_all "cannot configure TCPMig"
a=10.10.1.2
b=10.10.2.2

attached()
{
	tc -n "$sw_ns" filter show dev sw0 ingress | grep -q capymig
}

restart()
{
	sw_switchd_stop
	attached || return 1
	sw_switchd_start $PORT 2 --state "$state" &&
		grep -q "taking over the tables in $state" "$sw_switchd_log"
}

tap_plan 6
log=$(mktemp)
on_exit rm -f "$log"
timeout 600 tcpmig_stream -S -p -n "$MIGRATIONS" -i 131072 -a $SW_VIP \
	-N "${sw_host[1]},${sw_host[2]},${sw_host[0]}" -g $a,$b >"$log" &
stream=$!

migrated()
{
	[ "$(sw_stats 2 migrations_out)" -ge "$1" ]
}

# Twice while the stream runs, after some of its migrations.
restarts=0
for after in 20 100; do
	wait_for 300 migrated $after && kill -0 $stream && restart &&
		restarts=$((restarts + 1))
done
running=$(kill -0 $stream 2>/dev/null && echo yes)
tap_diag "after the restarts: $(sw_stats 2 migrations_out) migrations done"
tap_check "the data plane stays attached while the agent is down, and a new one takes the tables over, twice while the stream runs" \
	test $restarts -eq 2 -a "$running" = yes
tap_check "... with the connection's placement counted in the taken-over gauge" \
	sw_dump_is '.placement_entries == 1'
wait $stream
status=$?
sed 's/^/# /' "$log"
tap_check "$MIGRATIONS migrations across two restarts of the agent: stream intact, no reset, no loss" \
	test "$status" -eq 0

sw_switchd_stop
tap_check "an agent with --state leaves its data plane attached on exit" \
	attached
tap_check "--remove detaches it" \
	eval 'ip netns exec "$sw_ns" capymig-switchd --remove --state "$state" &&
	      ! attached'
tap_check "... and deletes the kept tables" \
	eval '[ -z "$(ls -A "$state")" ]'
tap_done
