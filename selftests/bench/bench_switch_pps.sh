#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# switch_pps_ratio: the packets per second the software switch forwards
# with ENTRIES (200000) migration entries installed, divided by the rate
# of plain forwarding on the same path.  Needs root.
#
#   +--------------+             +-------------------------+             +------+
#   | client       eth0 ----- sw0 | capymig-switchd's data  |             | sink |
#   | switch_pps   |              |   plane on sw0's ingress | sw1 --- eth0 |      |
#   | flood        eth1 ----- swp | nothing on swp's         |             |      |
#   |              eth2 ----- swh | an empty classifier      |             |      |
#   +--------------+             +-------------------------+             +------+
#
# The client sends TCP segments from the 200000 clients in turn, from one
# CPU which also does the forwarding (switch_pps.c), in three streams: to
# ORIGIN through sw0, where every segment hits its migration entry, which
# sends it to TARGET; to TARGET through swp, plain forwarding; and to
# TARGET through swh, whose ingress has a tc classifier that does nothing,
# which tells what of the switch's cost is the tc hook's own.  ORIGIN and
# TARGET are addresses the switch reaches on sw1, which the sink drops:
# the same path, the program's work the only difference.
# Each round measures all three in turns of 200 ms with the agent running
# throughout, and takes the ratios: a host busy elsewhere for a moment
# slows a turn of each, not one stream's whole measure (which, measured
# one after the other, made rounds range from 0.6 to 1.24).  The agent
# is the same for all: in a deployment it has a CPU of its own.  The
# figure is the median of the rounds' ratios.
#
# It does not turn the kernel's BPF statistics on for the program's own
# time per packet: toggling kernel.bpf_stats_enabled patches a static key
# in the BPF run loop, and once, with the agent running the reaper with
# BPF_PROG_TEST_RUN on the guest's other CPU, that CPU stayed stuck at the
# patched site (a soft lockup) and the guest hung.
#
#	bench_switch_pps.sh [-l LABEL]
#
# LABEL (tcg) marks the raw rates as the emulator's.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

readonly ENTRIES=${SWITCH_PPS_ENTRIES:-200000}
readonly DURATION=${SWITCH_PPS_SECONDS:-2}
readonly ACTIVE=${SWITCH_PPS_ACTIVE:-0}
readonly ROUNDS=${SWITCH_PPS_ROUNDS:-5}
readonly STACK_ROUNDS=${SWITCH_PPS_STACK_ROUNDS:-3}
readonly ORIGIN=10.10.1.20:8080 TARGET=10.10.1.30:8080

label=
while getopts l: opt; do
	case $opt in
	l) label=" ($OPTARG)" ;;
	*) exit 2 ;;
	esac
done

fail()
{
	echo "# switch_pps: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || fail "needs root"
command -v capymig-switchd >/dev/null || fail "capymig-switchd not built"
pps=$BUILD/selftests/switch_pps
[ -x "$pps" ] || fail "$pps not built"

tmp=$(mktemp -d)
on_exit rm -rf "$tmp"
# A bpffs of our own: "ip netns exec" hides /sys/fs/bpf under a new /sys,
# and libbpf turns dots into underscores in pin paths.
pin=$(mktemp -d /tmp/capymig-bpffs-XXXXXX) || fail "no temporary directory"
on_exit rmdir "$pin"
mount -t bpf bpf "$pin" || fail "cannot mount a bpffs"
on_exit umount "$pin"
sw_topology_create 1 || fail "cannot build the topology"
client=${sw_host[0]} sink=${sw_host[1]}

mac_of()
{
	ip -n "$1" -j link show "$2" | jq -r '.[0].address'
}
# The switch sends both addresses to the sink, which drops them on a
# blackhole route, the cheapest way through its stack: nothing answers.
sink_mac=$(mac_of "$sink" eth0)
ip -n "$sw_ns" -b - <<EOF || fail "cannot set the sink's neighbours"
neigh replace ${ORIGIN%:*} lladdr $sink_mac dev sw1 nud permanent
neigh replace ${TARGET%:*} lladdr $sink_mac dev sw1 nud permanent
EOF
ip netns exec "$sink" sysctl -qw net.ipv4.ip_forward=1 &&
	ip -n "$sink" route add blackhole 10.10.1.16/28 ||
	fail "cannot set the sink's blackhole"

# client_link IFACE SWITCH_IFACE: another link from the client to the
# switch.
client_link()
{
	ip link add name "$2" netns "$sw_ns" type veth peer name "$1" \
		netns "$client" &&
		ip -n "$sw_ns" link set "$2" up &&
		ip -n "$client" link set "$1" up
}
# swh's classifier is classic BPF, "ret #0": no match, the packet goes on.
client_link eth1 swp && client_link eth2 swh &&
	ip -n "$sw_ns" address add 10.10.99.1/24 dev swp &&
	ip -n "$sw_ns" address add 10.10.98.1/24 dev swh &&
	ip netns exec "$sw_ns" tc qdisc add dev swh clsact &&
	ip netns exec "$sw_ns" tc filter add dev swh ingress bpf \
		bytecode "1,6 0 0 0," ||
	fail "cannot link the client to the switch again"

# The streams: switched, plain, through the empty classifier.
streams=(-s "eth0,$(mac_of "$sw_ns" sw0),$ORIGIN"
	 -s "eth1,$(mac_of "$sw_ns" swp),$TARGET"
	 -s "eth2,$(mac_of "$sw_ns" swh),$TARGET")

# A round: "SWITCHED PLAIN HOOKED", the rates at which each stream reached
# the sink.
flood()
{
	"$pps" flood -c "$client" -k "$sink" -i "$tmp/keys" -d "$DURATION" \
		-a "$ACTIVE" "${streams[@]}"
}

# median N: the median of N numbers, one a line.
median()
{
	sort -n | sed -n "$((($1 + 1) / 2))p"
}

# ratio A B: A / B, to two places.
ratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'
}

# all_hit: every switched segment so far hit its migration entry: the
# switch counted them all to TARGET, none to ORIGIN (a miss forwards to
# ORIGIN, which the sink drops alike, and would be measured unnoticed).
all_hit()
{
	local counts

	counts=$(ip netns exec "$sw_ns" capymig-switchd --dump -j |
		 jq -r --arg o $ORIGIN --arg t $TARGET \
		 '"\(.servers[$o].packets) \(.servers[$t].packets)"') ||
		return 1
	echo "# switched segments counted to ORIGIN and TARGET: $counts"
	read -r to_origin to_target <<<"$counts"
	[ "$to_origin" -eq 0 ] && [ "$to_target" -gt 0 ]
}

# measure NAME ROUNDS [AGENT_ARGS...]: ROUNDS rounds with the agent run
# with AGENT_ARGS, into $tmp/NAME.{switched,plain,hooked,ratios,hook_ratios}.
measure()
{
	local name=$1 rounds=$2 r rates s p h
	shift 2

	ip netns exec "$sw_ns" capymig-switchd -a $SW_ADDR -S $ORIGIN \
		-S $TARGET --heartbeat-timeout 0 --pin "$pin" "$@" sw0 sw1 \
		2>"$tmp/agent.log" &
	agent=$!
	wait_for 30 test -e "$pin/migrations" &&
		"$pps" populate -p "$pin" -n "$ENTRIES" -f $ORIGIN -t $TARGET \
			-o "$tmp/keys" ||
		fail "cannot install the entries: $(cat "$tmp/agent.log")"
	for ((r = 0; r < rounds; r++)); do
		rates=$(flood) && read -r s p h <<<"$rates" && [ -n "$h" ] ||
			fail "round $r"
		echo "$s" >>"$tmp/$name.switched"
		echo "$p" >>"$tmp/$name.plain"
		echo "$h" >>"$tmp/$name.hooked"
		ratio "$s" "$p" >>"$tmp/$name.ratios"
		ratio "$h" "$p" >>"$tmp/$name.hook_ratios"
	done
	all_hit || fail "segments missed their entries"
	kill $agent && wait $agent
	agent=
	wait_for 10 eval '! test -e "$pin/migrations"' ||
		fail "the agent left its maps pinned"
}

agent=
on_exit '[ -z "$agent" ] || { kill $agent && wait $agent; }'
measure switch "$ROUNDS"
# The program's own cost, like for like: the same, the stack forwarding.
measure stack "$STACK_ROUNDS" --stack-forwarding

echo "# plain forwarding: $(echo $(cat "$tmp/switch.plain")) pps$label"
echo "# switch, $ENTRIES entries: $(echo $(cat "$tmp/switch.switched")) pps$label"
echo "# tc hook, an empty classifier: $(echo $(cat "$tmp/switch.hooked")) pps$label"
echo "# each round's switched over plain: $(echo $(cat "$tmp/switch.ratios"))"
echo "# each round's empty classifier over plain: $(echo $(cat "$tmp/switch.hook_ratios"))," \
     "median $(median "$ROUNDS" <"$tmp/switch.hook_ratios")"
echo "# with --stack-forwarding, each round's switched over plain:" \
     "$(echo $(cat "$tmp/stack.ratios")), median" \
     "$(median "$STACK_ROUNDS" <"$tmp/stack.ratios")"
echo "switch_pps_ratio: $(median "$ROUNDS" <"$tmp/switch.ratios")"
