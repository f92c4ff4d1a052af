#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# An unmodified nginx behind the service address keeps serving wrk's
# keep-alive connections while they migrate, back and forth, between two
# servers: wrk sees no socket error and only 2xx responses.
#
#   +-----------+        +---------------------+        +---------------+
#   | host0     |        | switch              |        | host1 (A)     |
#   | wrk       eth0--sw0| capymig-switchd     |sw1--eth0 10.10.1.2:80  |
#   | 10.10.0.2 |        | VIP 10.10.255.1:80  |        | nginx, cgroup |
#   +-----------+        | TCPMig 10.10.254.1  |        +---------------+
#                        |                     |        +---------------+
#                        |                     |sw2--eth0 10.10.2.2:80  |
#                        +---------------------+        | nginx, cgroup |
#                                                       +---------------+
#
# nginx, as Debian packages it, serves the same file on A and B, each
# instance listening on its server's own address: the switch rewrites the
# client's packets to the server now serving the connection, and an
# imported connection is served under the target's address, so it lands
# in the accept queue of the target nginx's listener.  wrk opens CONNS
# keep-alive connections to the VIP.  Meanwhile boundary_mover moves each
# connection to the other server, again and again.
#
# Where a connection may move.  nginx keeps each connection's request
# state in its own memory: a request it has read part of, a response it
# has not finished writing.  Neither moves with the connection, so a
# move is safe only where nginx holds none: after it wrote the response
# to everything it read.  Each nginx runs in a cgroup of its own, watched
# by a server monitor (bpf/conn_monitor.bpf.c, Documentation/monitor.rst)
# whose sk_msg program notes at every write how far nginx had read then
# (read_seq).  boundary_mover passes that boundary to MIGRATE
# (TCPMIG_A_READ_SEQ); the module exports only if copied_seq still
# equals it, i.e. nginx has read nothing since that write, checked once
# at MIGRATE and again under the socket lock at the export.  Bytes of a
# next request already received and not yet read are no problem: they
# are in the receive queue and move with the connection.  If nginx read
# more meanwhile, the migration is refused (EAGAIN) or withdrawn (ABORT
# after the PREPARE-ACK) and the connection stays and serves; the next
# write gives the next boundary.  A connection that moved in has no
# boundary until the target's nginx has answered on it, so every move
# is followed by at least one response from the new server.
#
# When.  wrk runs a closed loop: each connection sends its next request
# as soon as the response is in, and boundary_mover moves a connection
# whenever its record has a boundary.  Some moves are then withdrawn,
# nginx having read the next request during the PREPARE's round trip:
# the connection stays and serves, and the client's segments that the
# switch sent to the target meanwhile are dropped there and sent again.
# CAPYMIG_NGINX_THINK_MS gives the clients a think time between requests
# and CAPYMIG_NGINX_FRESH_MS moves connections only within that many ms
# of a response (their record changed), where nginx waits in epoll
# until the next request: moves are then rarely withdrawn.
#
# This holds because nginx writes each response in one write: the file is
# small and sendfile is off (with sendfile on, nginx writes the header,
# then sends the body: a move between the two would leave the body
# behind).  The test checks it: nginx's writes, as the monitors counted
# them, are wrk's responses plus at most one a connection, for the
# response wrk did not read before the connection ended.
#
# Checks: no socket error (connect, read, write, timeout) and no non-2xx
# response in wrk's report; every connection answered again after the
# last move (none stalled); a meaningful number of moves, each counted by
# the modules and each recorded by the target's monitor as imported;
# every connection exported ended in nginx as an abort on its next read,
# nginx logged no other error; no namespace sent a reset while they
# moved; the kernel logged nothing.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"
source "$TOP/selftests/lib/nginx.sh"

readonly PORT=80
readonly CONNS=8
readonly MOVE_SECONDS=${CAPYMIG_NGINX_SECONDS:-10}
readonly THINK_MS=${CAPYMIG_NGINX_THINK_MS:-0}
readonly FRESH_MS=${CAPYMIG_NGINX_FRESH_MS:-0}
# At least this many moves (both ways), so that each connection moved
# several times.
readonly MIN_MOVES=$((4 * CONNS))
readonly OBJ=$BUILD/bpf/conn_monitor.bpf.o

require_root
require_module
require_cmd capymig-switchd capyctl boundary_mover nginx wrk
[ -r "$OBJ" ] || ksft_skip_all "$OBJ not built (make -C bpf)"
cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cgroot" ] || ksft_skip_all "no cgroup2 mount"

dmesg_mark
sw_deploy 2 $PORT
srv=(- 10.10.1.2:$PORT 10.10.2.2:$PORT)
tmp=$(mktemp -d)
on_exit rm -rf "$tmp"
mkdir "$tmp/www"
echo "served by nginx, wherever the connection is" >"$tmp/www/index.html"

# start_nginx I: nginx in host I, in cgroup cg[I] (made here), from its
# first instruction: its listener and every connection accepted on it
# are the cgroup's.
start_nginx()
{
	local i=$1 dir=$tmp/nginx-$1

	cg[i]=$cgroot/capymig-nginx-$$-$i
	mkdir "${cg[i]}" || return 1
	on_exit rmdir "${cg[i]}"
	nginx_conf "$dir" "master_process off;" "
		# One write per response: see the top of this file.
		sendfile off;
		# wrk's connections stay the same ones throughout.
		keepalive_requests 1000000;
		server {
			listen ${srv[i]};
			root $tmp/www;
		}" || return 1
	sh -c "echo \$\$ >${cg[i]}/cgroup.procs &&
		exec ip netns exec ${sw_host[i]} nginx -p $dir -c $dir/nginx.conf \
		-e $dir/error.log" >"$dir/stderr.log" 2>&1 &
	on_exit "kill $!; wait $!"
}

listening()
{
	ip netns exec "${sw_host[$1]}" ss -Hltn "src ${srv[$1]}" | grep -q .
}

start_nginx 1 && start_nginx 2 || ksft_skip_all "cannot start nginx"
wait_for 10 listening 1 && wait_for 10 listening 2 ||
	ksft_skip_all "nginx did not start: $(cat "$tmp"/nginx-*/stderr.log)"

tap_plan 13

boundary_mover -o "$OBJ" -N "${sw_host[1]},${sw_host[2]}" \
	-C "${cg[1]},${cg[2]}" -g "${srv[1]},${srv[2]}" -n $CONNS \
	-d "$MOVE_SECONDS" -f "$FRESH_MS" >"$tmp/mover.log" 2>&1 &
mover=$!
on_exit "kill $mover; wait $mover"
tap_check "a server monitor on each nginx's cgroup" \
	wait_for 20 grep -q '^# ready' "$tmp/mover.log"
if [ "$tap_failed" -ne 0 ]; then
	sed 's/^/# mover: /' "$tmp/mover.log"
	tap_done
fi

# wrk runs until it is interrupted (then it reports), once the moves are
# over: a duration of its own would have to guess how long they take.
# Its timeout is a latency above which it counts a request as an error:
# an emulated guest under load stalls for seconds, moves or not, so it is
# 10 s rather than 2.  A request lost in a move would stall its
# connection for good: boundary_mover checks that each one is answered
# again after the last move.
script=()
if [ "$THINK_MS" -gt 0 ]; then
	printf 'function delay()\n\treturn %d\nend\n' "$THINK_MS" \
		>"$tmp/think.lua"
	script=(-s "$tmp/think.lua")
fi
ip netns exec "${sw_host[0]}" wrk -t 2 -c $CONNS -d 600s --timeout 10s \
	"${script[@]}" "http://$SW_VIP:$PORT/index.html" >"$tmp/wrk.log" 2>&1 &
wrk=$!
on_exit "kill $wrk"
wait_for $((MOVE_SECONDS + 60)) grep -q '^moved' "$tmp/mover.log"
# Counted before wrk stops: it closes its connections with responses
# still coming, and its kernel answers those with resets, as it should.
rsts=$(($(sw_out_rsts 2) + $(ns_out_rsts "$sw_ns")))
kill -INT $wrk
wait $wrk
wrk_status=$?

# wrk closed its connections at its exit; once nginx closed them too,
# the monitors have forgotten every one.
none_left()
{
	[ -z "$(ip netns exec "${sw_host[1]}" capyctl list $PORT | sed 1d)" ] &&
	[ -z "$(ip netns exec "${sw_host[2]}" capyctl list $PORT | sed 1d)" ]
}
wait_for 10 none_left
kill -TERM $mover
wait $mover

sed 's/^/# wrk: /' "$tmp/wrk.log"
sed 's/^/# mover: /' "$tmp/mover.log"
sw_diag_stats 2

# mover_count NAME: the count NAME of the mover's "moved" line.
mover_count()
{
	awk -v name="$1" '/^moved/ {
		for (i = 1; i < NF; i += 2)
			if ($i == name) print $(i + 1) }' "$tmp/mover.log"
}

# monitors FIELD: the field of both monitors' totals, added up.
monitors()
{
	awk -v name="$1" '/^totals/ {
		for (i = 3; i < NF; i += 2)
			if ($i == name) sum += $(i + 1) }
		END { print sum + 0 }' "$tmp/mover.log"
}

requests=$(awk '/requests in/ { print $1 }' "$tmp/wrk.log")
moved=$(mover_count moved)
tap_check "wrk: ${requests:-no} requests, no socket error (connect, read, write, timeout)" \
	eval '[ "$wrk_status" -eq 0 ] && [ "${requests:-0}" -gt 0 ] &&
	      ! grep -q "Socket errors" "$tmp/wrk.log"'
tap_check "wrk: every response 2xx" \
	eval '[ -n "$requests" ] && ! grep -q "Non-2xx" "$tmp/wrk.log"'
tap_check "${moved:-no} moves at request boundaries (at least $MIN_MOVES)" \
	test "${moved:-0}" -ge $MIN_MOVES
answered=$(awk '/^answered/ { print $2 }' "$tmp/mover.log")
conns=$(awk '/^answered/ { print $4 }' "$tmp/mover.log")
tap_check "every connection answered after the last move (${answered:-none} of ${conns:-none})" \
	test "${conns:-0}" -ge $CONNS -a "${answered:-0}" = "${conns:-0}"
tap_check "no move failed but by nginx reading past the boundary ($(mover_count stale) refused, $(mover_count withdrawn) withdrawn)" \
	test "$(mover_count failed)" = 0
tap_check "the modules count each move out and in" \
	eval '[ "$(sw_stats 2 migrations_out)" = "$moved" ] &&
	      [ "$(sw_stats 2 migrations_in)" = "$moved" ]'
tap_check "the target's nginx accepted each (imported, by its monitor: $(monitors imported))" \
	test "$(monitors imported)" = "$moved"
# Each export shows in the origin nginx's log: its next read of the
# connection fails with ECONNABORTED, and it closes it.
aborts=$(cat "$tmp"/nginx-*/error.log |
	 grep -c 'Software caused connection abort')
tap_check "nginx closed each connection exported from it ($aborts aborts), logged no other error" \
	eval '[ "$aborts" = "$moved" ] &&
	      ! cat "$tmp"/nginx-*/error.log |
		grep -E "\[(emerg|alert|crit|error)\]" |
		grep -v "Software caused connection abort"'
writes=$(monitors writes)
tap_check "nginx wrote each response in one write ($writes writes)" \
	eval '[ "${requests:-0}" -gt 0 ] && [ "$writes" -ge "$requests" ] &&
	      [ "$writes" -le $((requests + $(monitors accepted))) ]'
tap_check "every connection closed and forgotten ($(monitors accepted) accepted, $(monitors forgotten) forgotten)" \
	test "$(monitors forgotten)" = \
	"$(($(monitors accepted) + $(monitors imported)))"
tap_check "no namespace sent a reset while connections moved ($rsts)" \
	test "$rsts" -eq 0
tap_check "the kernel logged no warning" dmesg_clean
tap_done
