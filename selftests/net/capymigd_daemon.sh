#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# capymigd on a server: refuses a bad configuration, logs what a dry run
# would do and does nothing, leaves another port's migrations out of its
# metrics, applies a changed setting on SIGHUP (and keeps its own on a
# bad file), and can be killed (-9) and restarted without harm to the
# connections; restarted for real, its reactive policy starts moving the
# connection through the switch to the other server, it is killed (-9)
# with the migration in flight, which completes without it, and the
# stream arrives whole there.
#
#   +-----------+        +---------------------+        +--------------+
#   | host0     |        | switch              |        | host1        |
#   | client    eth0--sw0| capymig-switchd     |sw1--eth0 10.10.1.2     |
#   | 10.10.0.2 |        | VIP 10.10.255.1     |        +--------------+
#   +-----------+        | TCPMig 10.10.254.1  |        +--------------+
#                        |                     |sw2--eth0 10.10.2.2     |
#                        +---------------------+        +--------------+
#
# The client's connection to the VIP lands on one of the two servers (the
# origin), whose application never reads: what the client sends waits in
# the receive queue, 32 KiB against a reactive threshold of 4 KiB.  The
# other server's application (the target) writes what it reads to a file.
# capymigd runs on each server, with the server monitor attached to the
# application's cgroup and pinned; the application never writes, so it
# has no request boundary (any_point = yes).  Metrics on 127.0.0.1:9467,
# which silent clients cannot make the daemon wait on.  A daemon whose
# pinned monitor's cgroup was made anew, or is no longer the configured
# one, attaches the monitor to the configured cgroup.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

PORT=7117
METRICS=127.0.0.1:9467

require_root
require_module
require_cmd capymig-switchd capymigd capyctl socat curl nsenter bpftool jq

tmp=$(mktemp -d)
on_exit rm -rf "$tmp"

sw_topology_create 2 || ksft_skip_all "cannot build the topology"
srv=(10.10.1.2 10.10.2.2)

ip netns exec "$sw_ns" capymig-switchd -s $SW_VIP:$PORT -a $SW_ADDR \
	-S ${srv[0]}:$PORT -S ${srv[1]}:$PORT --heartbeat-timeout 0 \
	2>"$tmp/switchd.log" &
on_exit "kill $!"
wait_for 10 ip netns exec "$sw_ns" capymig-switchd --dump >/dev/null 2>&1 ||
	ksft_fail_all "capymig-switchd did not start: $(cat "$tmp/switchd.log")"
for i in 0 1; do
	ip netns exec "${sw_host[i + 1]}" sh -c "capyctl config switch $SW_ADDR &&
		capyctl pool add ${srv[1 - i]}" >/dev/null ||
		ksft_fail_all "cannot configure TCPMig"
done

# spawn VAR NS CMD...: CMD in NS, in the background, its pid in VAR.
# nsenter, not "ip netns exec", which mounts a sysfs of its own: the BPF
# filesystem and the cgroups under /sys must stay in view.
spawn()
{
	local var=$1 ns=$2
	shift 2

	nsenter --net="/run/netns/$ns" "$@" &
	printf -v "$var" '%s' $!
	on_exit "kill ${!var}"
}

# listening NS [PORT]: PORT (the service's) is listened on in NS.
listening()
{
	ip netns exec "$1" ss -Htln "sport = :${2:-$PORT}" | grep -q .
}

closed()
{
	! listening "$1"
}

# write_config FILE DRY_RUN THRESHOLD_PCT CGROUP PIN
write_config()
{
	cat >"$1" <<-EOF
		[daemon]
		service_port = $PORT
		cgroup = $4
		bpf_pin = $5
		interval_ms = 50
		dry_run = $2
		metrics = $METRICS
		[proactive]
		threshold_pct = $3
		[reactive]
		threshold_kib = 4
		[migration]
		any_point = yes
	EOF
}

# Each server's application runs in a cgroup of its own, where its
# daemon attaches the server monitor, pinned apart.  Both daemons start
# before the connection exists, in a dry run: the monitor must see it
# established.
for i in 0 1; do
	cg[i]=/sys/fs/cgroup/capymigd-$$-$i
	pin[i]=/sys/fs/bpf/capymigd-$$-$i
	mkdir "${cg[i]}" || ksft_skip_all "no cgroup v2 at /sys/fs/cgroup"
	on_exit "rmdir ${cg[i]}"
	on_exit "rm -rf ${pin[i]}"
	write_config "$tmp/capymigd$i.conf" yes 10 "${cg[i]}" "${pin[i]}"
	spawn daemon[i] "${sw_host[i + 1]}" \
		capymigd -c "$tmp/capymigd$i.conf" 2>"$tmp/daemon$i.log"
done
for i in 0 1; do
	wait_for 20 grep -q "started" "$tmp/daemon$i.log" ||
		ksft_fail_all "capymigd did not start: $(cat "$tmp/daemon$i.log")"
done

# The application that never reads, on both servers until the client's
# connection lands on one: with nofork, the socket is sleep's stdin.
for i in 0 1; do
	spawn sleeper[i] "${sw_host[i + 1]}" sh -c "echo \$\$ >${cg[i]}/cgroup.procs &&
		exec socat TCP-LISTEN:$PORT,reuseaddr EXEC:'sleep 600',nofork"
done
for i in 0 1; do
	wait_for 10 listening "${sw_host[i + 1]}" ||
		ksft_fail_all "the servers did not start"
done

head -c 32768 /dev/urandom >"$tmp/part1"
head -c 65536 /dev/urandom >"$tmp/part2"
mkfifo "$tmp/fifo"
spawn client "${sw_host[0]}" socat -u OPEN:"$tmp/fifo" TCP:$SW_VIP:$PORT
exec 3>"$tmp/fifo"
on_exit "exec 3>&-"
cat "$tmp/part1" >&3

# list NS: the connections of the service there, as capyctl lists them.
list()
{
	ip netns exec "$1" capyctl -j list $PORT
}

queued()
{
	list "$1" | grep -q '"rqlen":32768'
}

# landed: the server where the client's 32 KiB are queued, in origin.
landed()
{
	local i

	for i in 0 1; do
		queued "${sw_host[i + 1]}" && origin=$i && return
	done
	return 1
}

# A monitored socket is in a sockhash: the module must list it.
wait_for 10 landed ||
	ksft_fail_all "the client's 32 KiB are not queued on a listed connection"
target=$((1 - origin))
ons=${sw_host[origin + 1]}
tns=${sw_host[target + 1]}
tap_diag "the connection landed on ${srv[origin]}"
# Not "daemon": assigning to an array's name sets its element 0.
odaemon=${daemon[origin]}
log=$tmp/daemon$origin.log
conf=$tmp/capymigd$origin.conf

# Everything is set up: from here on, no more skipping.
tap_plan 17

printf '[daemon]\ninterval_ms = 5\n' >"$tmp/bad.conf"
tap_check_fails "--check-config refuses a bad file, naming file:line and key" \
	"bad.conf:2: \[daemon\] interval_ms: want an integer" \
	capymigd -c "$tmp/bad.conf" --check-config
tap_check_fails "the daemon refuses to start with it" \
	"bad configuration: .*bad.conf:2: \[daemon\] interval_ms" \
	timeout 10 capymigd -c "$tmp/bad.conf"

# The target: its daemon and sleeper go, a writer takes over.
kill "${daemon[target]}" "${sleeper[target]}"
wait_for 10 closed "$tns"
spawn writer "$tns" socat -u TCP-LISTEN:$PORT,reuseaddr CREATE:"$tmp/received"
wait_for 10 listening "$tns"

metrics()
{
	ip netns exec "$ons" curl -s "http://$METRICS/metrics"
}

metric_is()
{
	metrics | grep -qx "capymigd_$1 $2"
}

# The dry run's decision is logged; nothing was started, nothing moved.
dry_run_only()
{
	grep -q "dry run: reactive would migrate ${srv[origin]}:$PORT" "$log" &&
	metric_is 'migrations_started_total{policy="reactive"}' 0 &&
	metric_is 'migrations_total{result="migrated"}' 0 &&
	queued "$ons"
}

moved()
{
	list "$tns" | grep -q . && ! list "$ons" | grep -q .
}

# Silent clients on the metrics port (any local user may connect): a
# scrape behind five of them is answered at once -- the daemon used to
# wait 200 ms on each, its whole loop with it -- and each of them is
# closed at its deadline, a second after it connected.
silent_clients()
{
	ip netns exec "$ons" bash -c '
		# scrape: the answer read, in ms.
		scrape() {
			local start=$EPOCHREALTIME s line found=
			exec {s}<>"/dev/tcp/${1%:*}/${1#*:}" || return 1
			printf "GET /metrics HTTP/1.0\r\n\r\n" >&$s
			while read -r -t 5 -u "$s" line; do
				[[ $line = capymigd_* ]] && found=1
			done
			exec {s}<&-
			[ -n "$found" ] &&
			echo $(( (${EPOCHREALTIME/./} - ${start/./}) / 1000 ))
		}
		alone=$(scrape "$1") || exit 1
		for i in 1 2 3 4 5; do
			exec {fd}<>"/dev/tcp/${1%:*}/${1#*:}" || exit 1
			fds+=("$fd")
		done
		behind=$(scrape "$1") || exit 1
		echo "a scrape alone: $alone ms; behind 5 silent clients: $behind ms"
		[ "$behind" -lt $((alone + 500)) ] || exit 1
		for fd in "${fds[@]}"; do
			read -r -t 5 -u "$fd"
			[ $? -eq 1 ] || exit 1	# end of file: closed
		done' _ "$METRICS"
}

wait_for 20 grep -q "dry run: reactive would migrate" "$log"
tap_check "dry run: the reactive decision is logged, no migration started" \
	dry_run_only
tap_check "the server monitor recorded the connection" \
	wait_for 5 metric_is connections_monitored 1
tap_check "silent metrics clients stall nothing and are closed" \
	silent_clients

# Another server on the origin's host, port $OTHER, whose connection
# capyctl tries to move: the switch knows no server at that endpoint and
# drops the PREPARE, the migration fails.  The origin's module counts it;
# the daemon of $PORT's server counted every migration of its host.
OTHER=7118
spawn other_server "$ons" \
	socat TCP-LISTEN:$OTHER,reuseaddr EXEC:'sleep 600',nofork
wait_for 10 listening "$ons" $OTHER
spawn other_client "${sw_host[0]}" \
	socat -u EXEC:'sleep 600' TCP:${srv[origin]}:$OTHER
# other_conn: that connection's endpoints, as capyctl migrate takes them.
other_conn()
{
	ip netns exec "$ons" capyctl -j list $OTHER |
		jq -r '.local + " " + .remote'
}
wait_for 10 eval '[ -n "$(other_conn)" ]'
failed=$(sw_host_stats $((origin + 1)) migrations_failed)
ip netns exec "$ons" capyctl migrate $(other_conn) >"$tmp/other.out" 2>&1
tap_check "another port's migration, failed, is its daemon's to count, not this one's" \
	eval '[ "$(sw_host_stats $((origin + 1)) migrations_failed)" -eq $((failed + 1)) ] &&
	      sleep 1 && metric_is "migrations_total{result=\"failed\"}" 0'

write_config "$conf" yes 30 "${cg[origin]}" "${pin[origin]}"
kill -HUP "$odaemon"
tap_check "SIGHUP applies a changed threshold (metrics show 30 %)" \
	wait_for 10 metric_is proactive_threshold_percent 30
tap_check "the reload is logged" \
	grep -q "configuration reloaded: proactive on, threshold 30 %" "$log"
cp "$tmp/bad.conf" "$conf"
kill -HUP "$odaemon"
tap_check "SIGHUP with a bad file: refused, logged naming file:line, the running configuration kept" \
	eval 'wait_for 10 grep -q "reload refused, keeping the running configuration: .*$(basename "$conf"):2: \[daemon\] interval_ms" "$log" &&
	      metric_is proactive_threshold_percent 30'

kill -9 "$odaemon"
wait "$odaemon" 2>/dev/null
tap_check "killed with -9 (in a dry run), the daemon leaves the connection where it was" \
	queued "$ons"

# The target's answers take a second, within the migration's deadline (5
# s a phase here): the migration the restarted daemon starts is in flight
# two seconds at least, and the daemon is killed meanwhile.
ip netns exec "$ons" capyctl config timeout 5000 >/dev/null
tc -n "$tns" qdisc add dev eth0 root netem delay 1000ms
write_config "$conf" no 30 "${cg[origin]}" "${pin[origin]}"
spawn odaemon "$ons" capymigd -c "$conf" 2>"$tmp/restarted.log"
tap_check "restarted, it finds the pinned monitor's record of the connection" \
	wait_for 20 grep -q "started: 1 connections, 1 known to the monitor" \
	"$tmp/restarted.log"
wait_for 20 grep -q "reactive: migrating" "$tmp/restarted.log"
kill -9 "$odaemon"
wait "$odaemon" 2>/dev/null
in_flight=$(list "$ons" | grep -c .
	    sw_host_stats $((origin + 1)) migrations_out)
tc -n "$tns" qdisc del dev eth0 root
tap_check "killed -9 as it started a migration, still in flight (the connection on the origin, no migration done: $(echo $in_flight))" \
	test "$(echo $in_flight)" = "1 0"
tap_check "... which completes without it: the connection is the target's" \
	eval 'wait_for 20 moved &&
	      [ "$(sw_host_stats $((origin + 1)) migrations_out)" -eq 1 ]'

cat "$tmp/part2" >&3
exec 3>&-
wait_for 20 sh -c "! kill -0 $writer 2>/dev/null"
cat "$tmp/part1" "$tmp/part2" >"$tmp/sent"
tap_check "the target received the whole stream, in order" \
	cmp "$tmp/received" "$tmp/sent"
# The target's daemon, stopped, left its monitor's link pinned.  Its
# service's cgroup made anew (systemd does so at each start), then
# another cgroup configured: each start watches the cgroup configured.
# link_on CGROUP: the pinned link attaches the target's monitor there.
link_on()
{
	[ "$(bpftool -j link show pinned "${pin[target]}/link" |
	     jq .cgroup_id)" = "$(stat -c %i "$1")" ]
}

# start_target CGROUP: the target's daemon started for CGROUP.
start_target()
{
	write_config "$tmp/target.conf" yes 10 "$1" "${pin[target]}"
	spawn tdaemon "$tns" capymigd -c "$tmp/target.conf" \
		>/dev/null 2>>"$tmp/target.log"
}

old_cgroup=$(stat -c %i "${cg[target]}")
wait_for 10 rmdir "${cg[target]}" && mkdir "${cg[target]}"
start_target "${cg[target]}"
tap_check "restarted after its service's cgroup was made anew, a daemon \
watches the new one" \
	eval '[ "$(stat -c %i "${cg[target]}")" != "$old_cgroup" ] &&
	      wait_for 20 link_on "${cg[target]}"'
kill "$tdaemon"
wait "$tdaemon" 2>/dev/null
mkdir "${cg[target]}-other"
on_exit "rmdir ${cg[target]}-other"
start_target "${cg[target]}-other"
tap_check "... and after its configuration names another cgroup, that one" \
	wait_for 20 link_on "${cg[target]}-other"
# The service restarted while the daemon runs: its cgroup made anew.
old_cgroup=$(stat -c %i "${cg[target]}-other")
rmdir "${cg[target]}-other" && mkdir "${cg[target]}-other"
tap_check "running, when its service's cgroup is made anew, it attaches there again and says so" \
	eval '[ "$(stat -c %i "${cg[target]}-other")" != "$old_cgroup" ] &&
	      wait_for 20 link_on "${cg[target]}-other" &&
	      wait_for 10 grep -q "was made anew: attached to it again" \
		      "$tmp/target.log"'
kill "$tdaemon"
wait "$tdaemon" 2>/dev/null
tap_diag "$(sed 's/^/daemon: /' "$log" "$tmp/restarted.log" \
	"$tmp/target.log")"
tap_done
