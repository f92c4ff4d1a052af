#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# TCPMig end to end: the servers' modules move a connection back and
# forth through the software switch, while it streams both ways.
#
#   +-----------+        +---------------------+        +-------------+
#   | host0     |        | switch              |        | host1 (A)   |
#   | client    eth0--sw0| capymig-switchd     |sw1--eth0 10.10.1.2    |
#   | 10.10.0.2 |        | VIP 10.10.255.1     |        +-------------+
#   +-----------+        | TCPMig 10.10.254.1  |        +-------------+
#                        |                     |sw2--eth0 10.10.2.2 (B) |
#                        +---------------------+        +-------------+
#
# The client connects to the VIP; the switch places the connection on A
# or B and rewrites addresses both ways.  Each migration is the origin
# module's: PREPARE through the switch, PREPARE-ACK (the switch installs
# the redirect as it passes), export, CONN-STATE, import on the target,
# CONN-STATE-ACK.  The stream must arrive whole, in order, with no reset
# and no loss retransmitted; every migration must complete.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

PORT=7117
MIGRATIONS=${CAPYMIG_SWITCH_MIGRATIONS:-1000}

require_root
require_module
require_cmd capymig-switchd tcpmig_stream capyctl

sw_topology_create 2 || ksft_skip_all "cannot build the topology"
a=10.10.1.2
b=10.10.2.2

log=$(mktemp)
on_exit rm -f "$log"
ip netns exec "$sw_ns" capymig-switchd -s $SW_VIP:$PORT -a $SW_ADDR \
	-S $a:$PORT -S $b:$PORT --heartbeat-timeout 0 2>"$log" &
on_exit kill $!
wait_for 10 ip netns exec "$sw_ns" capymig-switchd --dump >/dev/null ||
	ksft_skip_all "capymig-switchd did not start: $(cat "$log")"

ip netns exec "${sw_host[1]}" sh -c "capyctl config switch $SW_ADDR &&
	capyctl pool add $b" >/dev/null &&
ip netns exec "${sw_host[2]}" sh -c "capyctl config switch $SW_ADDR &&
	capyctl pool add $a" >/dev/null ||
	ksft_skip_all "cannot configure TCPMig"

timeout 600 tcpmig_stream -S -p -n "$MIGRATIONS" -i 16384 -a $SW_VIP \
	-N "${sw_host[1]},${sw_host[2]},${sw_host[0]}" -g $a,$b |
	sed 's/^/# /'
status=${PIPESTATUS[0]}

stat_of()
{
	ip netns exec "$1" capyctl -j info |
		sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

tap_plan 3
tap_check "$MIGRATIONS migrations through the switch: stream intact, no reset, no loss" \
	test "$status" -eq 0
total=$(( $(stat_of "${sw_host[1]}" migrations_out) +
	  $(stat_of "${sw_host[2]}" migrations_out) ))
tap_check "the modules count $MIGRATIONS completed migrations ($total)" \
	test "$total" -eq "$MIGRATIONS"
failed=$(( $(stat_of "${sw_host[1]}" migrations_failed) +
	   $(stat_of "${sw_host[2]}" migrations_failed) ))
tap_check "none failed ($failed)" test "$failed" -eq 0
tap_done
