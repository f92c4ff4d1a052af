#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The software switch on a testbed of namespaces: a client, the switch
# (capymig-switchd, its data plane on every interface), and four servers
# that play their part of TCPMig by hand: REGISTER heartbeats, a PREPARE
# and PREPARE-ACK exchange.  switch_peers holds the client's and the
# servers' sockets, in one process.
#
#                        +--------------------------+
#  +-----------+         | switch                   |          +-----------+
#  | client    |         |  service 10.10.255.1:80  | sw1 ---- | s1 .1.2   |
#  | 10.10.0.2 | -- sw0 -|  TCPMig 10.10.254.1 (lo) | sw2 ---- | s2 .2.2   |
#  +-----------+         |  capymig-switchd         | sw3 ---- | s3 .3.2   |
#                        +--------------------------+ sw4 ---- | s4 .4.2   |
#                                                              +-----------+
#
# Servers are 10.10.N.2:8080.  switch_peers checks that connections to
# the service are placed round-robin and pass data both ways through the
# rewrites; that LOAD notifications come every millisecond with the load;
# that a PREPARE gets a target and the PREPARE-ACK installs a redirect
# that moves the client's segments there; that the client's connection
# to a server's own address from the port of one to the service is left
# alone; that draining and dead servers get nothing new.  This script
# then checks the agent's account of it.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

readonly PORT=7390	# TCPMig, not the default: nothing else listens there
readonly PEER_CHECKS=19

require_root
require_cmd jq capymig-switchd switch_peers
tap_plan $((PEER_CHECKS + 13))

tmp=$(mktemp -d)
on_exit rm -rf "$tmp"
sw_topology_create 4 || ksft_skip_all "cannot build the topology"

ip netns exec "$sw_ns" capymig-switchd -s $SW_VIP:80 -a $SW_ADDR \
	-S 10.10.1.2:8080 -S 10.10.2.2:8080 -S 10.10.3.2:8080 \
	-S 10.10.4.2:8080 --tcpmig-port $PORT --heartbeat-timeout 1000 \
	--closed-timeout 1000 --sweep 5000 -P rr 2>"$tmp/agent.log" &
agent=$!
on_exit kill $agent

switch_peers -c "${sw_host[0]}" -v $SW_VIP:80 -a $SW_ADDR -p $PORT \
	"${sw_host[1]}=10.10.1.2:8080" "${sw_host[2]}=10.10.2.2:8080" \
	"${sw_host[3]}=10.10.3.2:8080" "${sw_host[4]}=10.10.4.2:8080" |
	tee "$tmp/peers"
tap_adopt "$tmp/peers" $PEER_CHECKS switch_peers "${PIPESTATUS[0]}"
# What the agent saw, for a point that failed: servers' states, counters.
if [ "$tap_failed" -gt 0 ]; then
	tap_diag "the agent's state after switch_peers:"
	ip netns exec "$sw_ns" capymig-switchd --dump 2>&1 | sed 's/^/# /'
	sed 's/^/# agent: /' "$tmp/agent.log"
fi

# The packets the switch's stack forwarded.
stack_forwarded()
{
	ns_snmp "$sw_ns" Ip ForwDatagrams
}

forwarded=$(stack_forwarded)
from_client=$(ip -n "$sw_ns" -s -j link show sw0 | jq '.[0].stats64.rx.packets')
# Until a neighbour is known, its packets go through the stack, which
# resolves it; the servers' heartbeats have done so by the time a client
# connects.
tap_check "the data plane forwards the connections' packets itself" \
	test $((forwarded * 10)) -le "$from_client"
tap_diag "the stack forwarded $forwarded packets; $from_client came" \
	 "in from the client"

# The agent's data plane is on the switch's interfaces.
attached()
{
	tc -n "$sw_ns" filter show dev sw1 ingress | grep -q capymig
}

tap_check "the agent's dump counts the migrations and the PREPAREs" \
	sw_dump_is '.forwarding == "data plane" and
		 .counters.mig_installed == 2 and .counters.prepares == 3 and
		 .counters.reset >= 1 and .counters.registers > 0 and
		 .counters.malformed + .counters.spoofed == 0'
# Within a sweep (5 s) of the closed timeout (1 s, the shortest taken),
# not at once: the reaper takes a closed connection's entries.  A faster
# sweep would take CPU the LOADs are timed with.  A FIN sent again keeps
# its connection's entries from the reaper for a few seconds more (12 s
# after switch_peers ended, on the host).
tap_check "... every connection's entries went once it ended (closed timeout 1 s)" \
	wait_for 30 sw_dump_is '.migration_entries == 0 and
			    .placement_entries == 0 and .counters.closed >= 16'
tap_check "... and shows the server whose heartbeats stopped dead" \
	sw_dump_is '.servers["10.10.4.2:8080"].state == "dead"'
tap_check "--dump prints it as text too" \
	eval 'ip netns exec "$sw_ns" capymig-switchd --dump |
	      grep -Eq "10\.10\.4\.2:8080 +dead"'
tap_check "the agent is attached to the switch's interfaces" attached

kill $agent
wait $agent
tap_check "... and detaches on exit" eval '! attached'

# With --stack-forwarding, the stack forwards what the data plane passes
# on: 20 datagrams from the client to s1 (no answer but ICMP).  The one
# server, 10.10.9.9, is nowhere: a SYN placed on it is never answered.
# A tunnel, not an Ethernet device, is left alone.
ip -n "$sw_ns" link add t0 type ipip local $SW_ADDR remote 10.10.0.2 &&
	ip -n "$sw_ns" link set t0 up
ip netns exec "$sw_ns" capymig-switchd -s $SW_VIP:80 -a $SW_ADDR \
	-S 10.10.9.9:8080 --heartbeat-timeout 0 --unanswered-timeout 1500 \
	--sweep 100 --stack-forwarding 2>>"$tmp/agent.log" &
agent=$!
on_exit kill $agent
wait_for 10 attached
before=$(stack_forwarded)
ip netns exec "${sw_host[0]}" bash -c \
	'for i in {1..20}; do echo x >/dev/udp/10.10.1.2/9; done'
tap_check "--stack-forwarding: the stack forwards what the data plane passes on" \
	test $(($(stack_forwarded) - before)) -ge 20
tap_check "... and the dump says so" \
	sw_dump_is '.forwarding == "stack"'
tap_check "by default the agent attaches to the Ethernet devices only, not a tunnel" \
	eval '! tc -n "$sw_ns" filter show dev t0 ingress 2>&1 | grep -q capymig'
tap_check_fails "... and refuses one named" "t0 is not an Ethernet device" \
	ip netns exec "$sw_ns" timeout 10 capymig-switchd -a $SW_ADDR \
	-S 10.10.9.9:8080 -u @capymig-test-refused t0

# A connection that never gets an answer: killed once placed, before
# its SYN is sent many times.
ip netns exec "${sw_host[0]}" bash -c "exec 3<>/dev/tcp/$SW_VIP/80" \
	2>/dev/null &
connecting=$!
tap_check "a SYN no server answers gets a placement" \
	wait_for 10 sw_dump_is '.counters.placed == 1 and .placement_entries == 1'
kill $connecting
tap_check "... which goes to --unanswered-timeout (1.5 s), idle 300 s" \
	wait_for 5 sw_dump_is '.placement_entries == 0 and .counters.reaped == 1'

[ "$tap_failed" -eq 0 ] || tap_diag "agent log:" "$(cat "$tmp/agent.log")"
tap_done
