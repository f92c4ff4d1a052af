#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# TCPMig is accepted only unicast, from the switch's configured address or
# a pool member's.  A server configured with a TCPMig port and no switch
# yet (its switch address is 0) once took a broadcast from an address not
# yet assigned (0.0.0.0, as a DHCP client sends) for one from the switch,
# and skipped the pool check.  Nor does it migrate a connection: with no
# switch to send its PREPARE to, it refuses at once, saying why.  Moved
# to a port another socket holds, TCPMig stays where it was; a switch
# on another TCPMig port than the host's is refused.
#
#   +------------------------+          +---------------------------+
#   | server 10.10.9.1 eth0  | -------- | eth0 stray: no IPv4       |
#   | TCPMig port, no switch |          | address, sends from 0.0.0.0|
#   +------------------------+          +---------------------------+

source "$(dirname "$0")/../lib.sh"

readonly PORT=7390

require_root
require_cmd capyctl jq socat
require_module

ns_create server && ns_create stray &&
	ip link add eth0 netns "$server" type veth peer name eth0 \
		netns "$stray" &&
	ip -n "$server" address add 10.10.9.1/24 dev eth0 &&
	ip -n "$server" link set eth0 up && ip -n "$stray" link set eth0 up ||
	ksft_skip_all "cannot build the topology"
ip netns exec "$server" capyctl config port $PORT >/dev/null ||
	ksft_fail_all "cannot configure TCPMig"
tap_plan 10

# stat NAME: the server's counter NAME.
stat()
{
	ip netns exec "$server" capyctl -j stats | jq -r ".$1"
}

# stat_is NAME VALUE: the server's counter NAME is VALUE.
stat_is()
{
	[ "$(stat "$1")" -eq "$2" ]
}

# send ADDRESS [SOCAT_OPTIONS]: a TCPMig-sized datagram from the stray
# namespace to the server's TCPMig port at ADDRESS.
send()
{
	head -c 80 /dev/zero | ip netns exec "$stray" \
		socat -u - "UDP-DATAGRAM:$1:$PORT$2"
}

not_member=$(stat msg_not_member)
malformed=$(stat msg_malformed)
send 255.255.255.255 ,broadcast,so-bindtodevice=eth0
tap_check "a broadcast from 0.0.0.0 is dropped, counted as not from the pool" \
	wait_for 5 stat_is msg_not_member $((not_member + 1))
tap_check "... and not read as a message" \
	test "$(stat msg_malformed)" -eq "$malformed"

ip -n "$stray" address add 10.10.9.2/24 dev eth0
not_member=$(stat msg_not_member)
send 10.10.9.1
tap_check "a unicast from an address outside the pool is dropped, counted" \
	wait_for 5 stat_is msg_not_member $((not_member + 1))

# A member for a while: what it sends is read (and, zeros, found
# malformed), no longer counted as not from the pool; then not again.
members()
{
	ip netns exec "$server" capyctl pool | tr '\n' ' '
}
ip netns exec "$server" capyctl pool add 10.10.9.2
not_member=$(stat msg_not_member)
malformed=$(stat msg_malformed)
send 10.10.9.1
tap_check "capyctl pool add: listed ($(members)), its datagram read, found malformed" \
	eval '[ "$(members)" = "10.10.9.2 " ] &&
	      wait_for 5 stat_is msg_malformed $((malformed + 1)) &&
	      stat_is msg_not_member $not_member'
ip netns exec "$server" capyctl pool del 10.10.9.2
send 10.10.9.1
tap_check "capyctl pool del: no longer listed, its datagram counted as not from the pool; capyctl stats says so too" \
	eval '[ -z "$(members)" ] &&
	      wait_for 5 stat_is msg_not_member $((not_member + 1)) &&
	      ip netns exec "$server" capyctl stats |
	      grep -Eq "^ *msg_not_member +$((not_member + 1))\$"'

# sockets STATE: the server has a socket of port 7000 in STATE.
sockets()
{
	ss -N "$server" -Htn state "$1" 'sport = 7000' | grep -q .
}

# A connection of the server's, on its loopback.
ip -n "$server" link set lo up
ip netns exec "$server" socat -u TCP-LISTEN:7000,bind=127.0.0.1 /dev/null &
on_exit kill $!
wait_for 5 sockets listening
sleep 30 | ip netns exec "$server" \
	socat -u - TCP:127.0.0.1:7000,sourceport=7001 &
on_exit kill $!
wait_for 5 sockets established
tap_check_fails "MIGRATE with no switch set is refused at once, and why" \
	"set the switch" \
	ip netns exec "$server" capyctl migrate 127.0.0.1:7000 127.0.0.1:7001

# The new port is bound before the old one is let go.
ip netns exec "$server" socat -u UDP-RECV:$((PORT + 1)) /dev/null &
on_exit kill $!
wait_for 5 sh -c "ss -N $server -Hun 'sport = $((PORT + 1))' | grep -q ."
tap_check_fails "TCPMig moved to a port another socket holds: refused" \
	"in use" ip netns exec "$server" capyctl config port $((PORT + 1))
not_member=$(stat msg_not_member)
send 10.10.9.1
tap_check "... and TCPMig still receives on its port" \
	wait_for 5 stat_is msg_not_member $((not_member + 1))
tap_check_fails "a switch on another TCPMig port: refused, and why" \
	"must be this host's" \
	ip netns exec "$server" capyctl config switch 10.10.9.9:$((PORT + 2))
tap_check_fails "... nor a new port, once a switch's port is set" \
	"must be this host's" eval "ip netns exec $server capyctl config \
		switch 10.10.9.9:$PORT && ip netns exec $server capyctl \
		config port $((PORT + 3))"
tap_done
