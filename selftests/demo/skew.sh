#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# One run of the skew experiment (Documentation/demo.rst): N servers of
# fixed capacity behind the software switch, placing connections with
# load-aware weighted round-robin (LWRR), and a client loading them
# through the service address.  With -c, capymigd runs on every server
# and migrates connections to even the load out.
#
#   +------------+         +---------------------+         +-------------+
#   | host0      |         | switch              |   sw1---| host1       |
#   | skew_load  eth0---sw0| capymig-switchd     |         | skew_server |
#   | 10.10.0.2  |         | -P lwrr             |   ...   | [capymigd]  |
#   +------------+         | VIP 10.10.255.1     |   swN---| host N      |
#                          +---------------------+         +-------------+
#
#	skew.sh [-c] [-n SERVERS] [-s SERVICE_US] [-u UTILIZATION]
#		[-p PERIOD_US] -o DIR [-- SKEW_LOAD_ARGS...]
#
# The client's rate is UTILIZATION (0.6) of the pool's capacity, SERVERS
# (4) times 1e6 / SERVICE_US (50000) requests a second; the other options
# of skew_load (connections, skew, durations) follow "--".  The switch
# measures the load and sends LOAD-NOTIFICATIONs every PERIOD_US (100000).
# Writes to DIR: load.log and load.err (skew_load's output and what went
# wrong), server<i>.log
# (skew_server's), migrations (the servers' completed migrations, summed)
# and cpu_busy_pct (how busy the machine's CPUs were during the load),
# and capymigd<i>.log and .conf in a capymig run.  Exits as
# skew_load does; 4 when capymigd is wanted but not built.  Needs root
# and the module (the test guest).

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

readonly PORT=8080
servers=4 service_us=50000 util=0.6 period_us=100000 capymig=0 out=

while getopts cn:s:u:p:o: opt; do
	case $opt in
	c) capymig=1 ;;
	n) servers=$OPTARG ;;
	s) service_us=$OPTARG ;;
	u) util=$OPTARG ;;
	p) period_us=$OPTARG ;;
	o) out=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$out" ] || { echo "skew.sh: -o DIR is needed" >&2; exit 2; }

fail()
{
	echo "skew.sh: $*" >&2
	exit 1
}

for cmd in capymig-switchd skew_server skew_load capyctl; do
	command -v $cmd >/dev/null || fail "$cmd not built"
done
if ((capymig)) && ! command -v capymigd >/dev/null; then
	echo "skew.sh: capymigd is not built" >&2
	exit $KSFT_SKIP
fi

mkdir -p "$out" || exit 1
rm -f "$out"/*.log
sw_topology_create "$servers" || fail "cannot build the topology"

pool=()
for ((i = 1; i <= servers; i++)); do
	pool+=(10.10.$i.2)
done
sw_args=()
for a in "${pool[@]}"; do
	sw_args+=(-S "$a:$PORT")
done
ip netns exec "$sw_ns" capymig-switchd -s $SW_VIP:$PORT -a $SW_ADDR \
	-P lwrr -p "$period_us" --heartbeat-timeout 0 "${sw_args[@]}" \
	2>"$out/switchd.log" &
on_exit kill $!
wait_for 10 ip netns exec "$sw_ns" capymig-switchd --dump >/dev/null 2>&1 ||
	fail "capymig-switchd did not start: $(cat "$out/switchd.log")"

# capymigd's configuration, on the servers' time scale: a server of 20
# requests a second sees 40 in 2 s, whose Poisson noise alone is 16 %:
# loads are averaged over 2 s (decide_ms, the connections' rates too), a
# move counted as gone for 2.5 s (settle_ms, until the switch's counts
# show it), 20 % above the average to act (Capybara's 10 % is below the
# noise).  The reactive threshold, about 3 s of a server's work (4 KiB,
# 64 requests, for the demo's servers of 20 a second; 1 KiB, 16
# requests, for the slower ones of throughput_vs_ideal), is for a real
# pile-up, not a burst of the client.  A decision's
# migrations all go to the switch's least-loaded target, and together
# take no more than its room below the average: up to four at once, two a
# second on average.  Moves at request boundaries only, the server
# monitor attached to the server's cgroup.
capymigd_conf()
{
	cat <<-EOF
		[daemon]
		service_port = $PORT
		cgroup = $1
		bpf_pin =
		interval_ms = 500
		[proactive]
		threshold_pct = 20
		decide_ms = 2000
		settle_ms = 2500
		[reactive]
		threshold_kib = $reactive_kib
		[migration]
		any_point = no
		rate = 2
		burst = 4
	EOF
}

# The reactive threshold: 3 s of a server's work, in whole KiB of
# requests (SKEW_REQ_LEN, 64 bytes), 1 at least.
reactive_kib=$(awk -v s="$service_us" \
	'BEGIN { k = int(3e6 / s * 64 / 1024 + 0.5); print k < 1 ? 1 : k }')
for ((i = 1; i <= servers; i++)); do
	ns=${sw_host[i]}
	# A cgroup per server, for its monitor; rmdir'ed once it is gone.
	cg=/sys/fs/cgroup/capymig-skew-$$-$i
	mkdir "$cg" || fail "cannot create the cgroup $cg"
	on_exit rmdir "$cg"
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
		ip netns exec "$ns" skew_server -l "${pool[i - 1]}:$PORT" \
		-s "$service_us" >"$out/server$i.log" &
	on_exit kill $!
	((capymig)) || continue
	# A migration given up after its export loses the connection: give
	# an emulated guest on a busy host 5 s, not 1.
	config="capyctl config switch $SW_ADDR timeout 5000"
	for a in "${pool[@]}"; do
		[ "$a" = "${pool[i - 1]}" ] || config+=" && capyctl pool add $a"
	done
	ip netns exec "$ns" sh -c "$config" >/dev/null ||
		fail "cannot configure TCPMig"
	capymigd_conf "$cg" >"$out/capymigd$i.conf"
	# Not "ip netns exec": its own /sys would hide the cgroup.
	nsenter --net="/var/run/netns/$ns" capymigd -c "$out/capymigd$i.conf" \
		>"$out/capymigd$i.log" 2>&1 &
	on_exit kill $!
done
if ((capymig)); then
	for ((i = 1; i <= servers; i++)); do
		wait_for 20 grep -q "started:" "$out/capymigd$i.log" ||
			fail "capymigd $i did not start:" \
			     "$(cat "$out/capymigd$i.log")"
	done
fi

listening()
{
	[ -n "$(ip netns exec "$1" ss -Htln "sport = :$PORT")" ]
}
for ((i = 1; i <= servers; i++)); do
	wait_for 10 listening "${sw_host[i]}" || fail "server $i did not start"
done

rate=$(awk -v n="$servers" -v s="$service_us" -v u="$util" \
	'BEGIN { printf "%.1f", u * n * 1e6 / s }')
echo "# $servers servers of $((1000000 / service_us)) requests/s, client" \
	"at $util of the pool's capacity: $rate requests/s" >"$out/load.log"
# The machine's share of time busy, from the kernel's counters: the
# servers' capacity must be the bottleneck, not the (emulated) CPUs.
cpu_ticks()
{
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat
}
read -r busy0 idle0 <<<"$(cpu_ticks)"
ip netns exec "${sw_host[0]}" skew_load -a $SW_VIP:$PORT -r "$rate" "$@" \
	>>"$out/load.log" 2>"$out/load.err"
status=$?
read -r busy1 idle1 <<<"$(cpu_ticks)"
echo $((100 * (busy1 - busy0) / (busy1 - busy0 + idle1 - idle0 + 1))) \
	>"$out/cpu_busy_pct"

migrations=0
for ((i = 1; i <= servers; i++)); do
	n=$(ip netns exec "${sw_host[i]}" capyctl -j info |
		sed -n 's/.*"migrations_out":\([0-9]*\).*/\1/p')
	migrations=$((migrations + ${n:-0}))
done
echo "$migrations" >"$out/migrations"
ip netns exec "$sw_ns" capymig-switchd --dump >"$out/switch.txt"
exit $status
