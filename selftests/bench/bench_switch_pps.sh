#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# switch_pps_ratio: the packets per second the software switch forwards
# with ENTRIES (200000) migration entries installed, divided by the rate
# of plain forwarding on the same path.  Needs root.
#
#   +-----------+              +---------------------+             +------+
#   | client    |              | switch              |             | sink |
#   | switch_pps eth0 ----- sw0 | capymig-switchd     | sw1 --- eth0 |      |
#   | flood     |              | (or none: plain)    |             |      |
#   +-----------+              +---------------------+             +------+
#
# The client sends TCP segments from the 200000 clients in turn, from one
# CPU which also does the forwarding (switch_pps.c).  With the switch,
# they go to ORIGIN and every one hits its migration entry, which sends
# it to TARGET; without, they go to TARGET directly.  ORIGIN and TARGET
# are addresses the switch reaches on sw1, which the sink drops: the same
# path, the program's work the only difference.
# Each round measures both, one right after the other, and takes their
# ratio: a host whose load changes from round to round moves both rates
# of a round alike.  The figure is the median of the rounds' ratios.
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

# flood DST [SECONDS]: the rate at which segments to DST reach the sink.
flood()
{
	"$pps" flood -c "$client" -k "$sink" -m "$(mac_of "$sw_ns" sw0)" \
		-t "$1" -i "$tmp/keys" -d "${2:-$DURATION}" -a "$ACTIVE"
}

switched()
{
	local agent rate

	ip netns exec "$sw_ns" capymig-switchd -a $SW_ADDR -S $ORIGIN \
		-S $TARGET --heartbeat-timeout 0 --pin "$pin" \
		2>"$tmp/agent.log" &
	agent=$!
	wait_for 30 test -e "$pin/migrations" &&
		"$pps" populate -p "$pin" -n "$ENTRIES" -f $ORIGIN -t $TARGET \
			-o "$tmp/keys" &&
		rate=$(flood $ORIGIN)
	kill $agent
	wait $agent
	[ -n "$rate" ] || fail "switched round: $(cat "$tmp/agent.log")"
	echo "$rate"
}

median()
{
	sort -n | sed -n "$(((ROUNDS + 1) / 2))p"
}

for ((r = 0; r < ROUNDS; r++)); do
	s=$(switched) || exit 1
	p=$(flood $TARGET) || fail "plain round"
	echo "$s" >>"$tmp/switched"
	echo "$p" >>"$tmp/plain"
	awk -v s="$s" -v p="$p" 'BEGIN { printf "%.2f\n", s / p }' \
		>>"$tmp/ratios"
done
echo "# plain forwarding: $(echo $(cat "$tmp/plain")) pps$label"
echo "# switch, $ENTRIES entries: $(echo $(cat "$tmp/switched")) pps$label"
echo "# each round's switched over plain: $(echo $(cat "$tmp/ratios"))"
echo "switch_pps_ratio: $(median <"$tmp/ratios")"
