#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# capymig-switchd on this machine's own kernel, without the module: the
# agent in the switch namespace of selftests/lib/switch_topology.sh, a
# client and two servers on plain sockets (socat), and what the agent
# must do by itself.
#
#   host0 (client) -- switch (capymig-switchd) -- host1 (10.10.1.2)
#                                              -- host2 (10.10.2.2)
#                                              -- host3 (10.10.3.2)
#
# - a data plane that does not load ends the agent with a message, --pin
#   or not;
# - every live server gets its LOADs, even after one the switch has no
#   route to, whose failures are counted and said once a second;
# - a weight -S gives a server wins over its REGISTERs'; a server given
#   none takes theirs;
# - a control socket on a file is removed on exit, and one a killed agent
#   left is replaced at start, but not one an agent answers on; --dump
#   refuses one that another user bound;
# - SIGHUP and SIGQUIT stop the agent as SIGTERM does, its filter and
#   clsact qdisc removed; --remove takes off what --state left, the
#   clsact qdisc with it unless another filter uses it;
# - timeouts under what the reaper and the heartbeats work with are
#   refused, saying why;
# - the reaper makes up for periods the agent missed;
# - a LOAD reports the load of the target the switch's policy would pick,
#   round-robin's too;
# - a start that fails to attach half way puts back what it replaced;
# - a restart with --state that drops a server from -S keeps it, retired,
#   while a connection uses it, and forgets it once none does.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

PORT=7000
TCPMIG_PORT=7290	# the default

require_root
require_cmd capymig-switchd jq socat setpriv tc

tmp=$(mktemp -d)
on_exit rm -rf "$tmp"
sw_topology_create 3 || ksft_skip_all "cannot build the topology"

# says STATUS PATTERN CMD...: CMD exits with STATUS and says PATTERN (an
# extended regular expression) on stdout or stderr.
says()
{
	local status=$1 pattern=$2 out got
	shift 2

	out=$("$@" 2>&1)
	got=$?
	[ "$got" -eq "$status" ] && grep -Eq -- "$pattern" <<<"$out" && return
	echo "exit status $got, not $status, or not /$pattern/:"
	printf '%s\n' "$out"
	return 1
}

# unprivileged CMD...: CMD in the switch namespace as nobody, without a
# capability: no BPF program loads.
unprivileged()
{
	ip netns exec "$sw_ns" setpriv --reuid=65534 --regid=65534 \
		--clear-groups --inh-caps=-all --bounding-set=-all "$@"
}

# loads_in HOST: the datagrams host HOST's sockets got (Udp InDatagrams):
# the LOADs its TCPMig listener took.
loads_in()
{
	ns_snmp "${sw_host[$1]}" Udp InDatagrams
}

# tcpmig_listen HOST [FILE]: a plain UDP listener on host HOST's TCPMig
# port, taking the switch's LOADs into FILE (none by default); its pid in
# listener.
tcpmig_listen()
{
	ip netns exec "${sw_host[$1]}" socat -u \
		UDP-RECV:$TCPMIG_PORT,bind=10.10.$1.2 \
		OPEN:"${2:-/dev/null}",creat &
	listener=$!
	on_exit "kill $listener"
}

# register HOST WEIGHT: host HOST's REGISTER to the switch, as the module
# sends it, with weight WEIGHT (< 256).
register()
{
	local msg

	# "TM", version 1, REGISTER (8), migration 0, no client; the origin
	# 10.10.HOST.2, port 0 (the host's every server); no target; flags
	# 0, the weight.
	msg=$(printf '\\x%s' 54 4d 01 08 00 00 00 00 00 00 00 00 00 00 00 00 \
	      0a 0a "$(printf %02x "$1")" 02 00 00 00 00 \
	      00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 \
	      "$(printf %02x "$2")")
	# One write, one datagram: the shell's printf writes line by line.
	env printf "$msg" | ip netns exec "${sw_host[$1]}" socat -u - \
		UDP-SENDTO:$SW_ADDR:$TCPMIG_PORT
}

# answers SOCKET: an agent answers --dump on SOCKET.
answers()
{
	ip netns exec "$sw_ns" capymig-switchd --dump -u "$1" &>/dev/null
}

# agent_start SOCKET ARGS...: capymig-switchd serving SW_VIP:PORT on host
# 1's server, its control socket SOCKET, its log in $tmp/agent.log, its
# pid in agent; returns once it answers there or has exited.  Not in a
# command substitution (tap_check): it would wait for the agent's end.
agent_start()
{
	local socket=$1
	shift

	ip netns exec "$sw_ns" capymig-switchd -s $SW_VIP:$PORT -a $SW_ADDR \
		-S 10.10.1.2:$PORT --heartbeat-timeout 0 -u "$socket" "$@" \
		2>>"$tmp/agent.log" &
	agent=$!
	on_exit "kill $agent"
	wait_for 20 eval 'answers "$socket" || ! kill -0 $agent 2>/dev/null'
}

# ended PID: process PID is gone, or a zombie for this shell to wait for.
ended()
{
	! ps -o stat= -p "$1" | grep -qv Z
}

# agent_stop SIGNAL: sends the agent SIGNAL; its exit status.  One that
# does not end is killed (the shell starts it with SIGQUIT ignored).
agent_stop()
{
	# Not the shell's word on a signal that killed it.
	{
		kill -"$1" "$agent"
		wait_for 10 ended "$agent" || kill -KILL "$agent"
		wait "$agent"
	} 2>/dev/null
}

# bare: the switch's interfaces without a clsact qdisc, as an agent
# killed by SIGKILL did not leave them.
bare()
{
	local i

	for i in 0 1 2 3; do
		tc -n "$sw_ns" qdisc del dev sw$i clsact 2>/dev/null
	done
}

# hooked IFACE: the switch's interface IFACE has a clsact qdisc.
hooked()
{
	tc -n "$sw_ns" qdisc show dev "$1" | grep -q clsact
}

# attached IFACE: ... and the data plane's filter.
attached()
{
	tc -n "$sw_ns" filter show dev "$1" ingress 2>/dev/null |
		grep -q capymig
}

server2_packets()
{
	ip netns exec "$sw_ns" capymig-switchd --dump -j |
		jq '.servers["10.10.2.2:7000"].packets'
}

# loading: server 2 got more than 1000 packets in the last half second (a
# period's pps, of a millisecond, may be 0 between a stream's bursts).
loading()
{
	local before after

	before=$(server2_packets)
	sleep 0.5
	after=$(server2_packets)
	[ $((after - before)) -gt 1000 ]
}

# last_target_pps FILE: the target_pps of the last LOAD in FILE (64 bytes
# each, target_pps their last 8, big-endian).
last_target_pps()
{
	echo $((16#$(tail -c 8 "$1" | od -An -tx1 | tr -d ' \n')))
}

# prog_on IFACE: the id of the program the data plane's filter on the
# switch's interface IFACE runs; nothing without one.
prog_on()
{
	tc -n "$sw_ns" filter show dev "$1" ingress |
		sed -n 's/.* capymig.* id \([0-9]*\) .*/\1/p'
}

# echo_server HOST: an echo server on host HOST, answering each line
# with "sHOST-" and the line.
echo_server()
{
	ip netns exec "${sw_host[$1]}" socat \
		TCP-LISTEN:$PORT,bind=10.10.$1.2,reuseaddr,fork \
		EXEC:"sed -u s/^/s$1-/" &
	on_exit "kill $!"
	wait_for 10 eval 'ip netns exec "${sw_host[$1]}" ss -Hltn \
			  "sport = $PORT" | grep -q .'
}

tap_plan 40

# A value refused: the option named as the operator may not have written
# it (-S, --server=), the value whole.
tap_check_fails "a bad server weight: refused, naming --server and the value whole" \
	"bad --server '10.10.1.2:$PORT/0'" \
	capymig-switchd -a $SW_ADDR -S10.10.1.2:$PORT/0
tap_check_fails "a bad service: refused, naming --service" \
	"bad --service '10.10.255.1'" \
	capymig-switchd -a $SW_ADDR --service=10.10.255.1 -S 10.10.1.2:$PORT

tap_check "--pin: a data plane that does not load ends the agent, status 1, with the reason" \
	says 1 "loading the data plane" unprivileged capymig-switchd \
	-a $SW_ADDR -S 10.10.1.2:$PORT --pin /sys/fs/bpf/capymig-test-$$ \
	-u @capymig-test-pin sw0

# 10.10.9.9 is nowhere: sending it a LOAD fails (ENETUNREACH).
tcpmig_listen 1
sw_switchd_start $PORT 0 -S 10.10.9.9:$PORT -S 10.10.1.2:$PORT ||
	ksft_fail_all "capymig-switchd did not start"
before=$(loads_in 1)
tap_check "a server after one the switch cannot reach gets its LOADs" \
	wait_for 5 eval '[ $(($(loads_in 1) - before)) -ge 100 ]'
sleep 1.5
tap_check "... the failed ones counted in the dump" \
	sw_dump_is '.loads_failed >= 1000 and .loads_sent >= 1000'
said=$(grep -c "LOAD to 10.10.9.9:$PORT: Network is unreachable" \
	"$sw_switchd_log")
tap_check "... and said at most once a second ($said times in 1.5 s)" \
	test "$said" -ge 1 -a "$said" -le 3
sw_switchd_stop
kill $listener

sw_switchd_start $PORT 0 -S 10.10.1.2:$PORT/3 -S 10.10.2.2:$PORT -P lwrr ||
	ksft_fail_all "capymig-switchd did not start"
register 1 1
register 2 2
s1='.servers["10.10.1.2:7000"]'
s2='.servers["10.10.2.2:7000"]'
# Host 1's REGISTER went first: it is read when host 2's is, or before.
tap_check "a server -S gives no weight takes its REGISTERs'" \
	wait_for 5 sw_dump_is "$s2.weight == 2"
tap_check "... one -S gives a weight keeps it" \
	sw_dump_is "$s1.weight == 3"
# 3:2, give or take the slot each is sure of.
tap_check "... and LWRR shares by them" \
	sw_dump_is "$s1.lwrr_slots * 2 - $s2.lwrr_slots * 3 |
		    . <= 5 and . >= -5"
sw_switchd_stop

socket=$tmp/control.sock
agent_start "$socket"
agent_stop TERM
tap_check "a control socket on a file is removed on exit" test ! -e "$socket"
agent_start "$socket"
tap_check "... and an agent started again there answers" answers "$socket"
agent_stop KILL
agent_start "$socket"
tap_check "one a killed agent left is replaced at start" \
	grep -q "replaced the stale control socket $socket" "$tmp/agent.log"
tap_check "... but not one an agent answers on: another agent refuses it" \
	says 1 "control socket $socket: Address already in use" \
	ip netns exec "$sw_ns" capymig-switchd -a $SW_ADDR -S 10.10.1.2:$PORT \
	--tcpmig-port 7291 -u "$socket" sw0
agent_stop TERM
bare

# Any user may bind an abstract name first; a dump from it, however well
# formed (zeros), is not the agent's.
ip netns exec "$sw_ns" setpriv --reuid=nobody --regid=nogroup \
	--clear-groups socat ABSTRACT-LISTEN:capymig-test-impostor,fork \
	SYSTEM:'head -c 1000000 /dev/zero' &
impostor=$!
on_exit "kill $impostor"
wait_for 5 eval 'ip netns exec "$sw_ns" ss -xl | grep -q capymig-test-impostor'
tap_check "--dump refuses a control socket another user bound" \
	says 1 "@capymig-test-impostor is not the agent's: its process \([0-9]+\) runs as user $(id -u nobody)" \
	ip netns exec "$sw_ns" capymig-switchd --dump -u @capymig-test-impostor
kill $impostor

for sig in HUP QUIT; do
	agent_start @capymig-test-signals
	agent_stop $sig
	status=$?
	tap_check "SIG$sig stops the agent, status 0" \
		eval "echo status $status; [ $status -eq 0 ]"
	tap_check "... its filter and the clsact qdisc it made removed" \
		eval '! attached sw0 && ! hooked sw0'
done

state=$tmp/state
mkdir "$state" && mount -t bpf bpf "$state" ||
	ksft_skip_all "cannot mount a bpffs"
on_exit umount "$state"
agent_start @capymig-test-remove --state "$state"
agent_stop TERM
# Someone else's filter: classic BPF returning 0, no verdict.
tc -n "$sw_ns" filter add dev sw1 egress bpf bytecode '1,6 0 0 0'
tap_check "--state leaves the data plane attached" attached sw0
ip netns exec "$sw_ns" capymig-switchd --remove --state "$state"
tap_check "--remove takes it off, the clsact qdisc with it" \
	eval '! attached sw0 && ! hooked sw0'
tap_check "... but for one another filter uses" \
	eval '! attached sw1 && hooked sw1'
bare

# Under a time unit (1.05 ms), or TCP's first retransmission timeout;
# under three of the module's 100 ms heartbeats.
while read -r option ms min; do
	tap_check "--$option $ms is refused, under $min ms" \
		says 1 "--$option $ms: under $min ms, .+" \
		timeout 10 ip netns exec "$sw_ns" capymig-switchd \
		-a $SW_ADDR -S 10.10.1.2:$PORT -u @capymig-test-timeouts \
		--"$option" "$ms" sw0
done <<-EOF
	idle-timeout 1 1000
	closed-timeout 0 1000
	unanswered-timeout 999 1000
	heartbeat-timeout 100 300
EOF
agent_start @capymig-test-timeouts --idle-timeout 1000 --closed-timeout 1000 \
	--unanswered-timeout 1000 --heartbeat-timeout 300
tap_check "... the shortest ones taken" answers @capymig-test-timeouts
agent_stop TERM

# A SYN placed on 10.10.9.9, which is nowhere, and never answered; then
# the agent stopped for longer than a sweep (5 s), which it owes once it
# goes on.  Without, it would go on from where it stopped, and reap the
# placement when it came to it, in 2.5 s on average.
sw_switchd_start $PORT 0 -S 10.10.9.9:$PORT --unanswered-timeout 1000 \
	--sweep 5000 || ksft_fail_all "capymig-switchd did not start"
ip netns exec "${sw_host[0]}" bash -c "exec 3<>/dev/tcp/$SW_VIP/$PORT" \
	2>/dev/null &
connecting=$!
tap_check "a SYN no server answers is placed" \
	wait_for 10 sw_dump_is '.placement_entries == 1'
kill $connecting
kill -STOP $sw_switchd
sleep 6
kill -CONT $sw_switchd
sleep 0.3
tap_check "an agent stopped past a sweep reaps at once what it missed" \
	sw_dump_is '.placement_entries == 0 and .counters.reaped == 1'
sw_switchd_stop

# Round-robin's next target for server 1, which picked none yet, is
# server 2, which a stream loads; least-loaded's is server 3, idle.  The
# stream goes on through a restart with the other policy (--state).
sw_switchd_start $PORT 3 -T rr --state "$state" ||
	ksft_fail_all "capymig-switchd did not start"
ip netns exec "${sw_host[2]}" socat -u \
	TCP-LISTEN:$PORT,bind=10.10.2.2,reuseaddr OPEN:/dev/null &
on_exit "kill $!"
wait_for 10 eval 'ip netns exec "${sw_host[2]}" ss -Hltn "sport = $PORT" |
		  grep -q .'
# Placed by round-robin on server 2, the first after server 1.
ip netns exec "${sw_host[0]}" socat -u /dev/zero TCP:$SW_VIP:$PORT &
on_exit "kill $!"
tap_check "a stream through the service loads server 2" wait_for 10 loading
sleep 0.5
tcpmig_listen 1 "$tmp/loads"
sleep 0.5
kill $listener
wait $listener 2>/dev/null
target_pps=$(last_target_pps "$tmp/loads")
tap_check "-T rr: server 1's LOAD reports server 2's load as its target's ($target_pps)" \
	test "$target_pps" -gt 1000
sw_switchd_stop
sw_switchd_start $PORT 3 --state "$state" ||
	ksft_fail_all "capymig-switchd did not start"
tcpmig_listen 1 "$tmp/loads-least"
sleep 0.5
kill $listener
wait $listener 2>/dev/null
target_pps=$(last_target_pps "$tmp/loads-least")
tap_check "-T least-loaded: server 3's, idle ($target_pps), while server 2 is loaded" \
	eval 'test "$target_pps" -lt 100 && loading'
sw_switchd_stop
ip netns exec "$sw_ns" capymig-switchd --remove --state "$state"

# An agent with --state on sw0 and sw1, then one that replaces sw0's
# program and cannot attach to sw2: another's filter holds its priority
# for another protocol.
sw_switchd_start $PORT 1 --state "$state" sw0 sw1 ||
	ksft_fail_all "capymig-switchd did not start"
sw_switchd_stop
former0=$(prog_on sw0)
former1=$(prog_on sw1)
tc -n "$sw_ns" qdisc add dev sw2 clsact
tc -n "$sw_ns" filter add dev sw2 ingress prio 1 protocol ip u32 match u32 0 0
tap_check "an agent that cannot attach to an interface says so, status 1" \
	says 1 "attaching to sw2" ip netns exec "$sw_ns" capymig-switchd \
	-s $SW_VIP:$PORT -a $SW_ADDR -S 10.10.1.2:$PORT --state "$state" \
	sw0 sw2 sw1
tap_check "... and puts back the program it replaced (id $former0)" \
	eval '[ -n "$former0" ] && [ "$(prog_on sw0)" = "$former0" ] &&
	      [ "$(prog_on sw1)" = "$former1" ]'
tap_check "... and leaves an interface without a program as it was" \
	eval '! ip netns exec "$sw_ns" capymig-switchd -a $SW_ADDR \
	      -S 10.10.1.2:$PORT sw3 sw2 2>/dev/null &&
	      ! attached sw3 && ! hooked sw3'
# libbpf speaks of the interfaces without the filter.
ip netns exec "$sw_ns" capymig-switchd --remove --state "$state" 2>/dev/null
bare

# A connection through the service placed on server 2 (round-robin's
# first), a line each way; then the agent restarted with server 1 alone,
# and another line each way.
echo_server 1
echo_server 2
sw_switchd_start $PORT 2 --state "$state" ||
	ksft_fail_all "capymig-switchd did not start"
ip netns exec "${sw_host[0]}" bash -c "
	exec 3<>/dev/tcp/$SW_VIP/$PORT || exit 1
	echo one >&3
	read -t 5 line <&3 && echo \$line
	while [ ! -e $tmp/go ]; do sleep 0.05; done
	echo two >&3
	read -t 5 line <&3 && echo \$line" >"$tmp/client" 2>&1 &
client=$!
wait_for 10 grep -q s2-one "$tmp/client"
sw_switchd_stop
sw_switchd_start $PORT 1 --state "$state" --closed-timeout 1000 \
	--sweep 1000 || ksft_fail_all "capymig-switchd did not start"
touch "$tmp/go"
wait $client
tap_check "a connection placed on a server goes on after a restart that drops it from -S" \
	grep -q s2-two "$tmp/client"
tap_check "... which the agent keeps, retired, saying why" \
	eval 'sw_dump_is ".servers[\"10.10.2.2:$PORT\"].state == \"retired\"" &&
	      grep -q "10.10.2.2:$PORT is not listed but kept, retired" \
	      "$sw_switchd_log"'
tap_check "... and gives no new connection" \
	eval 'ip netns exec "${sw_host[0]}" bash -c "
		exec 3<>/dev/tcp/$SW_VIP/$PORT && echo three >&3 &&
		read -t 5 line <&3 && echo \$line" | grep -q s1-three'
# The connections closed, their entries reaped (1 s).
tap_check "... until their entries went" \
	wait_for 10 sw_dump_is '.placement_entries == 0'
sw_switchd_stop
sw_switchd_start $PORT 1 --state "$state" ||
	ksft_fail_all "capymig-switchd did not start"
tap_check "... and the next restart forgets it" \
	sw_dump_is ".servers | length == 1"
sw_switchd_stop
# The data plane an agent replaces places on its servers until then.
sw_switchd_start $PORT 2 --state "$state" ||
	ksft_fail_all "capymig-switchd did not start"
sw_switchd_stop
sw_switchd_start $PORT 1 --state "$state" ||
	ksft_fail_all "capymig-switchd did not start"
tap_check "one no entry names is kept, retired, if the former data plane could place on it" \
	eval 'sw_dump_is ".servers[\"10.10.2.2:$PORT\"].state == \"retired\"" &&
	      grep -q "0 entries name it, and the former data plane places" \
	      "$sw_switchd_log"'
sw_switchd_stop
ip netns exec "$sw_ns" capymig-switchd --remove --state "$state"

tap_done
