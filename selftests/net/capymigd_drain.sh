#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# capyctl drain: a server leaves the pool for maintenance (Capybara §8.4)
# and every connection it serves moves to the other server, through the
# switch, with no byte lost; new connections go to the other server.
#
#   +-----------+        +---------------------+        +--------------+
#   | host0     |        | switch              |        | host1 (A)    |
#   | clients   eth0--sw0| capymig-switchd     |sw1--eth0 10.10.1.2     |
#   | 10.10.0.2 |        | VIP 10.10.255.1     |        +--------------+
#   +-----------+        | TCPMig 10.10.254.1  |        +--------------+
#                        |                     |sw2--eth0 10.10.2.2 (B) |
#                        +---------------------+        +--------------+
#
# Both servers run an unmodified echo server (socat, a "cat" per
# connection).  Four clients connect to the VIP (the switch spreads them
# over A and B) and send a first block, echoed back: the connections are
# then idle, at a request boundary.  "capyctl drain" on A sets DRAINING
# and migrates A's connections away; then each client sends a second
# block and closes, and must get both blocks back whole.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

PORT=7117
CLIENTS=4

require_root
require_module
require_cmd capymig-switchd capyctl socat

sw_topology_create 2 || ksft_skip_all "cannot build the topology"
srv=(10.10.1.2 10.10.2.2)
tmp=$(mktemp -d)
on_exit rm -rf "$tmp"

ip netns exec "$sw_ns" capymig-switchd -s $SW_VIP:$PORT -a $SW_ADDR \
	-S ${srv[0]}:$PORT -S ${srv[1]}:$PORT 2>"$tmp/switchd.log" &
on_exit "kill $!"
wait_for 10 ip netns exec "$sw_ns" capymig-switchd --dump >/dev/null 2>&1 ||
	ksft_fail_all "capymig-switchd did not start: $(cat "$tmp/switchd.log")"
for i in 0 1; do
	ip netns exec "${sw_host[i + 1]}" sh -c "capyctl config switch $SW_ADDR &&
		capyctl pool add ${srv[1 - i]}" >/dev/null ||
		ksft_fail_all "cannot configure TCPMig"
	# The origin's socat says ECONNABORTED for each connection gone.
	# -t: after the client's FIN, wait for cat's echo longer than the
	# default 0.5 s, which starting cat can take in an emulated guest.
	ip netns exec "${sw_host[i + 1]}" socat -t 10 \
		TCP-LISTEN:$PORT,reuseaddr,fork EXEC:cat 2>>"$tmp/servers.log" &
	on_exit "kill $!"
done
ip netns exec "${sw_host[2]}" capyctl config --no-draining >/dev/null 2>&1 ||
	ksft_fail_all "no draining in the module or capyctl (TCPMIG_A_CONFIG_FLAGS)"

count()
{
	ip netns exec "$1" capyctl -j list $PORT | grep -c .
}

# The switch places only on servers whose heartbeats it heard.
live()
{
	[ "$(ip netns exec "$sw_ns" capymig-switchd --dump | grep -c live)" -ge 2 ]
}
wait_for 10 live || ksft_fail_all "the servers did not register"

# A client: its first block, echoed; then it waits for the second.
for ((c = 0; c < CLIENTS; c++)); do
	head -c $((4096 + c * 1000)) /dev/urandom >"$tmp/first$c"
	head -c $((8192 + c * 1000)) /dev/urandom >"$tmp/second$c"
	cat "$tmp/first$c" "$tmp/second$c" >"$tmp/sent$c"
	mkfifo "$tmp/in$c"
	ip netns exec "${sw_host[0]}" socat -t 5 - TCP:$SW_VIP:$PORT \
		<"$tmp/in$c" >"$tmp/out$c" &
	client[c]=$!
	on_exit "kill ${client[c]}"
	exec {fd}>"$tmp/in$c"
	infd[c]=$fd
	cat "$tmp/first$c" >&"$fd"
done

echoed()
{
	local c

	for ((c = 0; c < CLIENTS; c++)); do
		[ "$(stat -c %s "$tmp/out$c")" -eq "$(stat -c %s "$tmp/first$c")" ] ||
			return 1
	done
}
wait_for 20 echoed || ksft_fail_all "the first blocks did not come back"
on_a=$(count "${sw_host[1]}")
tap_diag "$on_a of $CLIENTS connections on A"
[ "$on_a" -gt 0 ] || ksft_fail_all "the switch placed nothing on A"

tap_plan 7
# No server monitor runs here: request boundaries are unknown, and only
# the operator can say that the echo server holds nothing of a
# connection between its bytes (-a).
refused_without_monitor()
{
	local out

	out=$(ip netns exec "${sw_host[1]}" capyctl drain -t 30 2>&1) &&
		return 1
	grep -q "no server monitor at .*-a moves them at any point" \
		<<<"$out" || { echo "$out"; return 1; }
	ip netns exec "${sw_host[1]}" capyctl -j config |
		grep -q '"draining":0'
}
tap_check "drain without a server monitor, nor -a: refused, saying why, A not draining" \
	refused_without_monitor
ip netns exec "${sw_host[1]}" capyctl drain -a -t 30 >"$tmp/drain.out" 2>&1
status=$?
tap_check "drain -a on A ends with nothing left ($(tail -1 "$tmp/drain.out"))" \
	test "$status" -eq 0
tap_check "A's $on_a connections are now B's, none on A" \
	test "$(count "${sw_host[1]}")" -eq 0 -a \
	"$(count "${sw_host[2]}")" -eq "$CLIENTS"
tap_check "A is left DRAINING" \
	sh -c "ip netns exec ${sw_host[1]} capyctl -j config |
	       grep -q '\"draining\":1'"

# A new client, which stays connected as the others: the switch must
# place it on B.
mkfifo "$tmp/late_in"
ip netns exec "${sw_host[0]}" socat -t 5 - TCP:$SW_VIP:$PORT \
	<"$tmp/late_in" >"$tmp/late" &
on_exit "kill $!"
exec {late_fd}>"$tmp/late_in"
cat "$tmp/first0" >&"$late_fd"
late_on_b()
{
	[ "$(stat -c %s "$tmp/late")" -eq "$(stat -c %s "$tmp/first0")" ] &&
		[ "$(count "${sw_host[2]}")" -eq $((CLIENTS + 1)) ]
}
tap_check "a new connection is placed on B, not on the draining A: echoed, B serves $((CLIENTS + 1))" \
	wait_for 10 late_on_b
tap_check "... and A serves nothing" test "$(count "${sw_host[1]}")" -eq 0
exec {late_fd}>&-

for ((c = 0; c < CLIENTS; c++)); do
	cat "$tmp/second$c" >&"${infd[c]}"
	exec {infd[c]}>&-
done
whole()
{
	local c

	for ((c = 0; c < CLIENTS; c++)); do
		cmp -s "$tmp/out$c" "$tmp/sent$c" || return 1
	done
}
tap_check "every client got both its blocks back, whole and in order" \
	wait_for 20 whole
tap_diag "$(cat "$tmp/drain.out")"
tap_done
