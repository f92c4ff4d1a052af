#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# capyctl migrate, as an operator runs it: a live connection to an
# unmodified echo server (socat) moved between two servers through the
# switch, to the switch's pick or to a named target, refused (by the
# target, or by the switch with no target to pick), and
# followed through an overrun of capyctl's events socket, its end heard
# after it or lost in it, and failed after its export, the connection
# gone from its origin.
#
#   host0 (client) -- switch -- host1 (A, 10.10.1.2)
#                            -- host2 (B, 10.10.2.2)
#
# The client connects to A's own address; each server runs
# "socat TCP-LISTEN,fork EXEC:cat", whose per-connection state is empty
# between requests.  An overrun is made by stopping capyctl, with a
# receive buffer of the least size, while events come: those of a second
# connection exported and imported again on A.  Meanwhile B drops what
# TCPMig brings it, so that the migration's end comes only once its
# socket is full; A sends its PREPARE again until it gets through.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

PORT=7450
TIMEOUT_MS=12000	# the migrations' deadline, while B drops TCPMig
C1=40001		# the client's ports: the connection migrated ...
C2=40002		# ... and the one that makes events
# The least receive buffer Linux sets: two of TCP's smallest skbs.
RMEM_LEAST=4608

require_root
require_module
require_cmd capymig-switchd capyctl socat jq tc

tmp=$(mktemp -d)
on_exit rm -rf "$tmp"
sw_deploy 2 $PORT
a=10.10.1.2
b=10.10.2.2
client=10.10.0.2
rmem_default=$(sysctl -n net.core.rmem_default)
on_exit sysctl -qw net.core.rmem_default="$rmem_default"

for i in 1 2; do
	ip netns exec "${sw_host[i]}" socat \
		TCP-LISTEN:$PORT,bind=10.10.$i.2,reuseaddr,fork EXEC:cat \
		</dev/null &>/dev/null &
	on_exit kill $!
	ip netns exec "${sw_host[i]}" capyctl -j monitor \
		</dev/null >>"$tmp/events$i" 2>/dev/null &
	on_exit kill $!
done
wait_for 10 eval "ip netns exec ${sw_host[1]} ss -Hlt 'sport = :$PORT' |
		  grep -q ." || ksft_skip_all "the echo server did not start"
coproc CLIENT { ip netns exec "${sw_host[0]}" \
	socat - TCP:$a:$PORT,sourceport=$C1 2>/dev/null; }
on_exit kill $CLIENT_PID
# Reads what comes, sends nothing: it stays open.
ip netns exec "${sw_host[0]}" socat -u TCP:$a:$PORT,sourceport=$C2 \
	/dev/null </dev/null &>/dev/null &
on_exit kill $!

# ask WORD: the client's request, answered with itself.
ask()
{
	local reply

	echo "$1" >&"${CLIENT[1]}" &&
		read -r -t 20 reply <&"${CLIENT[0]}" && [ "$reply" = "$1" ] &&
		return 0
	echo "asked $1, answered '$reply'"
	return 1
}

# listed HOST PORT: whether host HOST (1, 2) lists the connection from the
# client's PORT, as jq's true or false; fails if the list cannot be had.
# An imported connection is listed once its listener accepted it.
listed()
{
	local conns

	conns=$(ip netns exec "${sw_host[$1]}" capyctl -j list $PORT) &&
		jq -se "any(.[]; .remote == \"$client:$2\")" <<<"$conns"
}

on()
{
	[ "$(listed "$@")" = true ]
}

off()
{
	[ "$(listed "$@")" = false ]
}

# arrived HOST PORT: on HOST within 10 s; else HOST's sockets are shown.
arrived()
{
	wait_for 10 on "$@" && return 0
	echo "not listed on host $1 after 10 s; its sockets:"
	ip netns exec "${sw_host[$1]}" ss -tane "sport = :$PORT"
	return 1
}

# migrate HOST [ARGS...]: capyctl migrate of C1 on HOST, to the target
# ARGS name; its output in $tmp/out and $tmp/err.
migrate()
{
	local host=$1

	shift
	ip netns exec "${sw_host[host]}" capyctl "${@:2}" migrate \
		"10.10.$host.2:$PORT" "$client:$C1" ${1:+"$1"} \
		>"$tmp/out" 2>"$tmp/err"
}

tap_plan 16

tap_check "the client's connection is up and answered" \
	eval 'arrived 1 $C1 && ask hello'
migrate 1
status=$?
tap_check "capyctl migrate: the switch picks the target; exit 0, the last event migrated" \
	eval '[ $status -eq 0 ] && tail -1 "$tmp/out" | grep -q " migrated "'
tap_check "... the connection is on B, and its next request is answered" \
	eval 'arrived 2 $C1 && off 1 $C1 && ask after-switch-pick'

migrate 2 "$a:$PORT" -j
status=$?
tap_check "capyctl -j migrate naming the target: a JSON object per event, the last migrated to it" \
	eval '[ $status -eq 0 ] &&
	      jq -se ".[-1].event == \"migrated\" and
		      .[-1].target == \"$a:$PORT\" and length >= 4" "$tmp/out" &&
	      arrived 1 $C1 && off 2 $C1 && ask after-named'

# b_config FLAG: capyctl config FLAG on B (--draining, --no-draining).
b_config()
{
	ip netns exec "${sw_host[2]}" capyctl config "$1" >/dev/null
}

b_config --draining
migrate 1 "$b:$PORT"
status=$?
b_config --no-draining
tap_check "a target that refuses (draining): exit 1, rejected, and the connection serves on from A" \
	eval '[ $status -eq 1 ] && grep -q " rejected " "$tmp/out" &&
	      on 1 $C1 && off 2 $C1 && ask after-refusal ||
	      { echo "exit $status"; cat "$tmp/out" "$tmp/err"; false; }'

# b_is STATE: the switch holds B to be STATE (its REGISTERs tell).
b_is()
{
	wait_for 10 sw_dump_is ".servers[\"$b:$PORT\"].state == \"$1\""
}

b_config --draining
b_is draining
migrate 1
status=$?
tap_check "no target for the switch to pick (B draining): exit 1, the switch's refusal, and the connection serves on from A" \
	eval '[ $status -eq 1 ] &&
	      grep -q " rejected .*No route to host" "$tmp/out" &&
	      on 1 $C1 && off 2 $C1 && ask after-no-target ||
	      { echo "exit $status"; cat "$tmp/out" "$tmp/err"; false; }'

# resent_refusal DESC WHY [TARGET]: a migration from A, to TARGET or to
# the switch's pick, with A's PREPARE delayed 200 ms: A sends it again
# (after 20 ms, 60, 140...) before the refusal, matching WHY, comes.  One
# copy may have been taken: unnamed, the switch may have sent it to
# another target; named, the target may have refused one and taken a
# later.  Its PREPARE-ACK may be on the way, or lost after the switch
# redirected the client: A withdraws by ABORT, refusing meanwhile to
# start another migration of the connection.  Unanswered (no target holds
# anything), A's ABORT is sent until three migration deadlines (1 s)
# passed; a named target answers it at once, so B's answers are delayed
# too, by half a second (within the 1 s timeout), for the next MIGRATE to
# come before the ABORT-ACK.
resent_refusal()
{
	local desc=$1 why=$2 status again

	tc -n "${sw_host[1]}" qdisc add dev eth0 root netem delay 200ms
	[ -z "$3" ] ||
		tc -n "${sw_host[2]}" qdisc add dev eth0 root netem delay 500ms
	migrate 1 "$3"
	status=$?
	ip netns exec "${sw_host[1]}" capyctl migrate "$a:$PORT" \
		"$client:$C1" >"$tmp/again" 2>&1
	again=$?
	tc -n "${sw_host[1]}" qdisc del dev eth0 root
	[ -z "$3" ] || tc -n "${sw_host[2]}" qdisc del dev eth0 root
	tap_check "$desc: exit 1, rejected, withdrawn by ABORT (the next MIGRATE refused meanwhile), serving on from A" \
		eval '[ $status -eq 1 ] &&
		      grep -q " rejected .*$why" "$tmp/out" &&
		      [ $again -eq 1 ] && grep -q "being withdrawn" "$tmp/again" &&
		      on 1 $C1 && ask after-withdrawal ||
		      { echo "exit $status, then $again"; cat "$tmp/out" \
			"$tmp/err" "$tmp/again"; false; }'
	sleep 4
}

resent_refusal "... refused after A sent its PREPARE again" "No route to host"
resent_refusal "B, named, refusing after A sent its PREPARE again" \
	"Cannot send after transport endpoint shutdown" "$b:$PORT"
b_config --no-draining
b_is live || tap_diag "the switch still holds B draining"

tap_check_fails "a target on the origin's own host: exit 1, and why" \
	"on this host" ip netns exec "${sw_host[1]}" capyctl migrate \
	"$a:$PORT" "$client:$C1" "$a:$((PORT + 1))"
tap_check "... the connection serves on from A" \
	eval 'on 1 $C1 && ask after-own-host'

tap_check_fails "a connection that does not exist: exit 1, and why" \
	"no such connection|No such file" \
	ip netns exec "${sw_host[1]}" capyctl migrate "$a:$PORT" "$client:1"

# --- through an overrun ---------------------------------------------------

for i in 1 2; do
	ip netns exec "${sw_host[i]}" capyctl config timeout $TIMEOUT_MS \
		>/dev/null
done
tc -n "${sw_host[2]}" qdisc add dev eth0 clsact

# b_deaf, b_hears: B drops all UDP that comes to it (TCPMig), or no more.
b_deaf()
{
	tc -n "${sw_host[2]}" filter add dev eth0 ingress protocol ip prio 1 \
		u32 match ip protocol 17 0xff action drop
}

b_hears()
{
	tc -n "${sw_host[2]}" filter del dev eth0 ingress prio 1
}

# Events of A's: C2 exported and imported again, 4 times.
make_events()
{
	ip netns exec "${sw_host[1]}" sh -c "
		for i in 1 2 3 4; do
			capyctl export $a:$PORT $client:$C2 >$tmp/blob &&
			capyctl import <$tmp/blob >/dev/null || exit 1
		done"
}

# overrun [END [TARGET]]: C1 migrated from A, to TARGET if given, by a
# capyctl stopped from its PREPARE until events overran its socket (of
# the least buffer).  Without END, B hears the PREPARE once capyctl read
# again, and the end comes after the overrun; with END, it hears it while
# capyctl is stopped, and capyctl goes on once A's monitor heard the
# migration end so: its own socket, full, lost that end.  capyctl's exit
# status.  It is stopped once it printed the PREPARE itself, not on the
# monitor's word: under load the monitor lags, and an event of an earlier
# migration's that it wrote late stopped capyctl before its socket was
# opened.  The order is B's deafness: under load, making the events took
# longer than a migration delayed 1 s a way.
overrun()
{
	local pid id status

	sysctl -qw net.core.rmem_default=$RMEM_LEAST
	b_deaf
	ip netns exec "${sw_host[1]}" capyctl migrate "$a:$PORT" \
		"$client:$C1" ${2:+"$2"} >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	wait_for 10 grep -q prepare_sent "$tmp/out"
	kill -STOP $pid
	sysctl -qw net.core.rmem_default="$rmem_default"
	id=$(sed -n 's/.* prepare_sent .* #\([0-9]*\).*/\1/p' "$tmp/out")
	make_events || tap_diag "could not make events"
	if [ -n "$1" ]; then
		b_hears
		wait_for 10 grep -qE \
			"\"event\":\"$1\".*\"migration_id\":$id[,}]" \
			"$tmp/events1" ||
			tap_diag "A's monitor did not hear migration #$id end $1"
		kill -CONT $pid
	else
		kill -CONT $pid
		wait_for 10 grep -q "events lost" "$tmp/err" ||
			tap_diag "capyctl did not report the overrun"
		b_hears
	fi
	wait $pid
	status=$?
	tap_diag "capyctl migrate: exit $status, $(tr '\n' ' ' <"$tmp/err")"
	return $status
}

overrun
status=$?
tap_check "an overrun before the migration's end: exit 0, its end still heard" \
	eval '[ $status -eq 0 ] && grep -q "events lost" "$tmp/err" &&
	      tail -1 "$tmp/out" | grep -q " migrated " && arrived 2 $C1'
tap_check "... the connection answers from B" ask after-overrun

# --- its end lost -----------------------------------------------------------

# Back on A.  Each end is then heard by A's monitor while capyctl is
# stopped, its socket full: capyctl waits out the deadline (the timeout,
# plus a second) and looks the connection up.
migrate 2 "$a:$PORT"
status=$?
[ $status -eq 0 ] && wait_for 10 on 1 $C1 ||
	tap_diag "the connection did not come back to A (exit $status)"

b_config --draining
overrun rejected "$b:$PORT"
status=$?
b_config --no-draining
tap_check "its end (a refusal) lost: exit 1, not migrated, and it answers from A" \
	eval '[ $status -eq 1 ] && grep -q "still here: not migrated" "$tmp/err" &&
	      on 1 $C1 && ask after-lost-refusal ||
	      { cat "$tmp/out"; false; }'

overrun migrated
status=$?
tap_check "its end (migrated) lost: exit 3, not known which, and it answers from B" \
	eval '[ $status -eq 3 ] && grep -q "not known which" "$tmp/err" &&
	      arrived 2 $C1 && off 1 $C1 && ask after-lost-migration'

# --- a failure after the export ---------------------------------------------

# A takes the PREPARE but drops every CONN-STATE (the type byte of the
# TCPMig header, after IPv4's 20 bytes and UDP's 8): B exports, its
# state is never acknowledged, and after three timeouts it reports the
# migration failed.  The connection is lost: capyctl must not say that it
# stays on its origin.
for i in 1 2; do
	ip netns exec "${sw_host[i]}" capyctl config timeout 1000 >/dev/null
done
tc -n "${sw_host[1]}" qdisc add dev eth0 clsact
tc -n "${sw_host[1]}" filter add dev eth0 ingress protocol ip prio 1 \
	u32 match ip protocol 17 0xff match u8 3 0xff at 31 action drop
migrate 2 "$a:$PORT"
status=$?
tap_check "a failure after the export: exit 3, the connection left B, lost or the target's" \
	eval '[ $status -eq 3 ] && grep -q "failed" "$tmp/out" &&
	      grep -q "lost, or served by the target" "$tmp/err" && off 2 $C1 ||
	      { echo "exit $status"; cat "$tmp/out" "$tmp/err"; false; }'

tap_done
