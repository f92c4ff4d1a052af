#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Unmodified servers keep serving a connection that moves between them:
# socat (an echo server forking per connection) and nginx (keep-alive
# HTTP), one instance in each of two namespaces holding the service
# address S, the client in a third.  The client moves its connection
# between requests, two-phase (hold at the target, switch the route,
# export, import into the target server's listener), over IPv4, IPv6 and
# IPv4 to a dual-stack socket.
#
#   +---------+ c_a     a_c +----------------------------+
#   |         |-------------| A  lo: S   socat, nginx    |
#   |    C    |             +----------------------------+
#   |  S via  | c_b     b_c +----------------------------+
#   |  A or B |-------------| B  lo: S   socat, nginx    |
#   +---------+             +----------------------------+
#
# (selftests/lib/topology.sh has the addresses.)  The servers know nothing
# of the migration: the origin's server gets ECONNABORTED on its
# connection and closes it, which sends nothing; the target's accepts the
# imported connection like any other - socat forks a new "cat" for it,
# nginx reads the next request on it.  Moves happen between requests
# because these servers keep each request's state in userspace (socat's
# and cat's buffers, nginx's request parser and response), which does not
# move.  The client (tcpmig_client) checks every answer, that each came
# from the server the connection was moved to, and that no segment was
# lost or reset; the servers' logs show that each import was accepted and
# each export noticed.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/topology.sh"
source "$TOP/selftests/lib/nginx.sh"

require_root
require_module
require_cmd tcpmig_client socat nginx ss

readonly MIGRATIONS=50
# Fewer where the server's socket is dual-stack: each move of an IPv4
# connection there is the same kernel path as on an IPv4 socket, except for
# how the connection is named.
readonly DUAL_MIGRATIONS=6
readonly ECHO_PORT=7000
readonly DUAL_PORT=7001

topology_create || ksft_skip_all "cannot build the veth topology"
tmp=$(mktemp -d)
on_exit rm -rf "$tmp"

# spawn NS LOG CMD...: runs CMD in NS in the background, output to LOG;
# stopped, and waited for, on exit.
spawn()
{
	local ns=$1 log=$2
	shift 2

	ip netns exec "$ns" "$@" >"$log" 2>&1 &
	on_exit "kill $!; wait $!"
}

listening()
{
	ip netns exec "$1" ss -Hltn "src $2" | grep -q .
}

# start_socat NS NAME LISTEN-ADDRESS: an echo server, one process per
# connection ("cat" behind socat's fork).  -d -d logs each connection
# accepted.
start_socat()
{
	spawn "$1" "$tmp/socat-$2.log" socat -d -d "$3,fork,reuseaddr" EXEC:cat
}

# nginx as packaged, with a configuration of its own: one worker, long
# keep-alive, a static file, and a header naming the instance.
start_nginx()
{
	local ns=$1 name=$2 dir=$tmp/nginx-$2

	nginx_conf "$dir" "master_process on;
		worker_processes 1;" "
		keepalive_requests 100000;
		server {
			listen $TOPO_S4:80;
			listen [$TOPO_S6]:80;
			root $tmp/www;
			add_header X-Server $name;
		}" || return 1
	spawn "$ns" "$dir/stderr.log" \
		nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
}

# client_check DESC MIGRATIONS ARGS...: a test point, passing when
# tcpmig_client does; its own TAP is shown as diagnostics.
client_check()
{
	local desc=$1 n=$2
	shift 2

	tcpmig_client -N "$topo_a,$topo_b,$topo_c" -n "$n" "$@" |
		sed 's/^/# /'
	if [ "${PIPESTATUS[0]}" -eq 0 ]; then
		tap_ok "$desc"
	else
		tap_not_ok "$desc"
	fi
}

# Moves alternate from A, so after N of them A's server has had the first
# connection and the imports of the even moves, B's those of the odd ones;
# each has exported the others.
into_a() { echo $(($1 / 2 + 1)); }
into_b() { echo $((($1 + 1) / 2)); }

# socat_accepted NAME_A NAME_B N: socat's accepts after N moves.
socat_accepted()
{
	local a b

	a=$(grep -c 'accepting connection from' "$tmp/socat-$1.log")
	b=$(grep -c 'accepting connection from' "$tmp/socat-$2.log")
	echo "A accepted $a, B $b"
	[ "$a" -eq "$(into_a "$3")" ] && [ "$b" -eq "$(into_b "$3")" ]
}

# nginx_aborts NAME N: nginx logs each connection exported from it, which
# it finds aborted (ECONNABORTED) when it reads the next request: N of
# them.  It must log no other error.
nginx_aborts()
{
	local log=$tmp/nginx-$1/error.log want=$2 aborts

	aborts=$(grep -c 'Software caused connection abort' "$log")
	echo "$1: $aborts aborted connections, $want exported"
	! grep -E '\[(emerg|alert|crit|error)\]' "$log" |
		grep -v 'Software caused connection abort' &&
		[ "$aborts" -eq "$want" ]
}

# start_servers NS NAME: every server of one side.
start_servers()
{
	start_socat "$1" "${2}4" "TCP4-LISTEN:$ECHO_PORT,bind=$TOPO_S4"
	start_socat "$1" "${2}6" "TCP6-LISTEN:$ECHO_PORT,bind=[$TOPO_S6]"
	# On [::], serving IPv4 too, as servers listen by default.
	start_socat "$1" "${2}46" "TCP6-LISTEN:$DUAL_PORT,ipv6only=0"
	start_nginx "$1" "${2^^}"
}

# all_listening NS...: every server is up in each namespace.
all_listening()
{
	local ns addr

	for ns in "$@"; do
		for addr in "$TOPO_S4:$ECHO_PORT" "[$TOPO_S6]:$ECHO_PORT" \
			    "[::]:$DUAL_PORT" "$TOPO_S4:80" "[$TOPO_S6]:80"; do
			listening "$ns" "$addr" || return 1
		done
	done
}

mkdir -p "$tmp/www"
head -c 70001 /dev/urandom >"$tmp/www/blob"
start_servers "$topo_a" a
start_servers "$topo_b" b

tap_plan 11
tap_check "socat and nginx listen in A and B" \
	wait_for 10 all_listening "$topo_a" "$topo_b"
[ "$tap_failed" -eq 0 ] || tap_done

client_check "socat ipv4: $MIGRATIONS moves between requests, every echo right" \
	"$MIGRATIONS" -P echo -a "$TOPO_S4" -p "$ECHO_PORT" \
	-g "$TOPO_GW4_A,$TOPO_GW4_B"
tap_check "socat ipv4: the target's socat accepted each imported connection" \
	socat_accepted a4 b4 "$MIGRATIONS"
client_check "socat ipv6: $MIGRATIONS moves between requests, every echo right" \
	"$MIGRATIONS" -6 -P echo -a "$TOPO_S6" -p "$ECHO_PORT" \
	-g "$TOPO_GW6_A,$TOPO_GW6_B"
tap_check "socat ipv6: the target's socat accepted each imported connection" \
	socat_accepted a6 b6 "$MIGRATIONS"
client_check "socat dual-stack: $DUAL_MIGRATIONS moves of an ipv4 connection on an ipv6 socket, every echo right" \
	"$DUAL_MIGRATIONS" -P echo -a "$TOPO_S4" -p "$DUAL_PORT" \
	-g "$TOPO_GW4_A,$TOPO_GW4_B"
tap_check "socat dual-stack: the target's socat accepted each imported connection" \
	socat_accepted a46 b46 "$DUAL_MIGRATIONS"

client_check "nginx ipv4: $MIGRATIONS moves between keep-alive requests, every response right" \
	"$MIGRATIONS" -P http -f "$tmp/www/blob" -a "$TOPO_S4" -p 80 \
	-g "$TOPO_GW4_A,$TOPO_GW4_B"
client_check "nginx ipv6: $MIGRATIONS moves between keep-alive requests, every response right" \
	"$MIGRATIONS" -6 -P http -f "$tmp/www/blob" -a "$TOPO_S6" -p 80 \
	-g "$TOPO_GW6_A,$TOPO_GW6_B"
# The last export's abort may still be on its way to the log.
tap_check "nginx A: closed each connection exported from it, logged no other error" \
	wait_for 5 nginx_aborts A "$((2 * $(into_b "$MIGRATIONS")))"
tap_check "nginx B: closed each connection exported from it, logged no other error" \
	wait_for 5 nginx_aborts B "$((2 * ($(into_a "$MIGRATIONS") - 1)))"

tap_done
