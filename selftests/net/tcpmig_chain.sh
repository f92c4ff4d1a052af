#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# TCPMig along a chain of servers behind the switch: one connection,
# streaming both ways, moved A -> B -> C -> A ... and then, with a fourth
# server, A -> B -> C -> D -> A ..., each move to a named target.
#
#                         +---------------------+        +-------------+
#   +-----------+         | switch              |sw1--eth0 10.10.1.2 (A) |
#   | host0     |         | capymig-switchd     |sw2--eth0 10.10.2.2 (B) |
#   | client    eth0--sw0 | VIP 10.10.255.1     |sw3--eth0 10.10.3.2 (C) |
#   | 10.10.0.2 |         | TCPMig 10.10.254.1  |sw4--eth0 10.10.4.2 (D) |
#   +-----------+         +---------------------+        +-------------+
#
# The client and the server application keep writing while each
# migration runs.  Every byte must arrive once, in order; no namespace
# may send a reset; the client may retransmit nothing for a loss (tail
# loss probes proved spurious aside: see tcpmig_stream); every migration
# must complete, as the modules count too.
#
# A segment the switch sent to the origin just before the redirect, that
# reached it after the export, used to wait for the origin's protocol
# tick (up to 8 ms) before going on to the target, which meanwhile SACKed
# the client's next segments, and the client's RACK retransmitted the
# hole: this test's client retransmitted a few segments in 1000
# migrations.  Late segments now go on as they arrive.  tcpmig_stream
# stays on one CPU: veth under emulation reorders a flow sent from two
# (see tcpmig_stream.c), which a real link does not.  Left, documented in
# protocol.rst (Late segments): a late segment that reaches the origin
# after the target's import, or the target behind its successors, still
# arrives after them.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

PORT=7117
MIGRATIONS=${CAPYMIG_CHAIN_MIGRATIONS:-1000}

require_root
require_module
require_cmd capymig-switchd tcpmig_stream capyctl

sw_topology_create 4 || ksft_skip_all "cannot build the topology"
tmp=$(mktemp -d)
on_exit rm -rf "$tmp"
sw_tcpmig_pool 4 || ksft_fail_all "cannot configure TCPMig"
# The client's data waits unacknowledged at the target while its
# connection moves, which in an emulated guest can outlast the usual
# 200 ms retransmission timeout: a loss would still show, a second later.
ip -n "${sw_host[0]}" route change default via 10.10.0.1 rto_min 1000ms ||
	ksft_skip_all "cannot set the client's rto_min"

tap_plan 10

# chain N: MIGRATIONS moves along hosts 1 to N.
chain()
{
	local n=$1 i ns= addrs= status rsts out failed

	# LOADs every 100 ms, not every one: nothing here uses them.
	sw_switchd_start $PORT "$n" --period-us 100000 || {
		tap_not_ok "capymig-switchd serving $n servers"
		return
	}
	for ((i = 1; i <= n; i++)); do
		ns+=${sw_host[i]},
		addrs+=${addrs:+,}10.10.$i.2
	done
	rsts=$(sw_out_rsts 4)
	out=$(sw_stats "$n" migrations_out)
	failed=$(sw_stats "$n" migrations_failed)
	timeout 900 tcpmig_stream -S -k -p -b 65536 -n "$MIGRATIONS" \
		-i 16384 -a $SW_VIP -N "$ns${sw_host[0]}" -g "$addrs" \
		>"$tmp/out"
	status=$?
	sed 's/^/# /' "$tmp/out"
	sw_switchd_stop
	if [ "$status" -ne 0 ]; then
		sw_diag_stats "$n"
		tap_diag "client: $(ip netns exec "${sw_host[0]}" nstat -as |
			grep -Ei 'retrans|timeout|loss|sack|reord|spurious|recover' |
			tr -s ' \n' ' ')"
	fi

	tap_check "$n servers: $MIGRATIONS migrations around the chain, stream intact both ways" \
		test "$status" -eq 0
	tap_check "$n servers: the client retransmitted nothing for a loss" \
		grep -q '^ok .* no retransmission for a loss' "$tmp/out"
	rsts=$(($(sw_out_rsts 4) - rsts))
	tap_check "$n servers: no namespace sent a reset ($rsts)" \
		test "$rsts" -eq 0
	out=$(($(sw_stats "$n" migrations_out) - out))
	tap_check "$n servers: the modules count $MIGRATIONS completed ($out)" \
		test "$out" -eq "$MIGRATIONS"
	failed=$(($(sw_stats "$n" migrations_failed) - failed))
	tap_check "$n servers: none failed ($failed)" test "$failed" -eq 0
}

chain 3
chain 4
tap_done
