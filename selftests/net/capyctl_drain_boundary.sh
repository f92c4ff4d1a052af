#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# capyctl drain waits for each connection's request boundary, as the
# server monitor capymigd pins tells it: a server that read a request and
# has not answered it yet holds that request's state, which a move would
# lose (its answer written into a socket gone).  Here each server answers
# each line 2 s after it read it.  B drains, the monitor pinned at PIN
# (-m), to A by name (-T), the connections of its server only (SERVER):
# the answer B owes must come, then the connection moves, and A answers
# the next request.  A connection the monitor does not watch (its server
# outside the cgroup) stays where it is.
#
#   host0 (client) -- switch -- host1 (A, 10.10.1.2)
#                            -- host2 (B, 10.10.2.2, capymigd: dry run)
#
# The client connects to B's own address; the servers run
# "socat TCP-LISTEN,fork SYSTEM:..." (a shell loop per connection), B's
# in the cgroup where its monitor watches.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

PORT=7460
OTHER_PORT=7461
SLOW_S=2

require_root
require_module
require_cmd capymig-switchd capymigd capyctl socat nsenter

tmp=$(mktemp -d)
on_exit rm -rf "$tmp"
sw_deploy 2 $PORT
a=10.10.1.2
b=10.10.2.2

cg=/sys/fs/cgroup/capymig-drain-$$
pin=/sys/fs/bpf/capymig-drain-$$
mkdir "$cg" || ksft_skip_all "no cgroup v2 at /sys/fs/cgroup"
on_exit "rmdir $cg"
on_exit "rm -rf $pin"
# A dry run: it only attaches the monitor to the cgroup and pins it.
printf '[daemon]\nservice_port = %s\ncgroup = %s\nbpf_pin = %s\ndry_run = yes\n' \
	$PORT "$cg" "$pin" >"$tmp/capymigd.conf"
# nsenter, not "ip netns exec", whose own /sys would hide the cgroup.
nsenter --net="/run/netns/${sw_host[2]}" capymigd -c "$tmp/capymigd.conf" \
	2>"$tmp/capymigd.log" &
on_exit "kill $!"
wait_for 20 grep -q "started" "$tmp/capymigd.log" ||
	ksft_fail_all "capymigd did not start: $(cat "$tmp/capymigd.log")"

slow="while read -r line; do sleep $SLOW_S; echo \"\$line\"; done"
for i in 1 2; do
	nsenter --net="/run/netns/${sw_host[i]}" sh -c '
		[ "$1" = 2 ] && echo $$ >"$2/cgroup.procs"
		exec socat TCP-LISTEN:$3,reuseaddr,fork SYSTEM:"$4"' \
		_ $i "$cg" $PORT "$slow" &
	on_exit "kill $!"
	wait_for 10 eval "ip netns exec ${sw_host[i]} ss -Htln 'sport = :$PORT' |
			  grep -q ." || ksft_skip_all "socat did not start"
done
# An echo server outside the monitored cgroup, on B only, with a client:
# the monitor does not watch its connection.
ip netns exec "${sw_host[2]}" socat TCP-LISTEN:$OTHER_PORT,reuseaddr,fork \
	EXEC:cat &
on_exit "kill $!"
wait_for 10 eval "ip netns exec ${sw_host[2]} ss -Htln 'sport = :$OTHER_PORT' |
		  grep -q ." || ksft_skip_all "socat did not start"
# Its client writes what it sends into a FIFO (bash has one coproc only).
mkfifo "$tmp/other_in"
ip netns exec "${sw_host[0]}" socat - TCP:$b:$OTHER_PORT \
	<"$tmp/other_in" >"$tmp/other_out" &
on_exit "kill $!"
exec {other_fd}>"$tmp/other_in"
on_exit "exec {other_fd}>&-"
coproc CLIENT { ip netns exec "${sw_host[0]}" socat - TCP:$b:$PORT; }
on_exit "kill $CLIENT_PID"

# ask WORD: sent, and answered with itself.
ask()
{
	local reply

	echo "$1" >&"${CLIENT[1]}" &&
		read -r -t $((SLOW_S * 5)) reply <&"${CLIENT[0]}" &&
		[ "$reply" = "$1" ]
}

# listed HOST: host HOST (1, 2) lists a connection of the service.
listed()
{
	ip netns exec "${sw_host[$1]}" capyctl -j list $PORT | grep -q .
}

tap_plan 5
tap_check "the client's first request is answered by B" \
	eval 'ask one && listed 2'

echo two >&"${CLIENT[1]}"
sleep 0.5	# read by B's application, which answers in $SLOW_S s
start=$SECONDS
nsenter --net="/run/netns/${sw_host[2]}" capyctl drain -t 30 -m "$pin" \
	-T $a:$PORT $b:$PORT >"$tmp/drain.out" 2>&1 &
drain=$!
read -r -t $((SLOW_S * 5)) reply <&"${CLIENT[0]}"
wait $drain
status=$?
tap_check "drain waits for the request B's application had read: it answers it ($reply)" \
	test "$reply" = two
tap_check "... then moves the connection: exit 0 after $((SECONDS - start)) s ($(tail -1 "$tmp/drain.out"))" \
	eval '[ $status -eq 0 ] && listed 1 && ! listed 2'
tap_check "A answers the next request" ask three
tap_diag "$(cat "$tmp/drain.out")"

# All of B's connections now: the one left is the unwatched one.
nsenter --net="/run/netns/${sw_host[2]}" capyctl drain -t 5 -m "$pin" \
	-T $a:$PORT >"$tmp/drain2.out" 2>&1
status=$?
echo other >&"$other_fd"
tap_check "a connection the monitor does not watch stays: exit 1, 1 left, saying why; it answers from B ($(tail -1 "$tmp/drain2.out"))" \
	eval '[ $status -eq 1 ] && wait_for 10 grep -qx other "$tmp/other_out" &&
	      grep -q "no request boundary known" "$tmp/drain2.out" &&
	      tail -1 "$tmp/drain2.out" | grep -q "0 migrated, 1 left"'
tap_done
