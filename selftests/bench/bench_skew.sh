#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The skew benchmarks (Documentation/benchmarks.rst, demo.rst): runs of
# the skew experiment (selftests/demo/skew.sh), compared within this run.
#
#   skew_p99_lwrr_over_capymig  p99 latency under the demo's skew (4
#                               servers, Zipf 1.2, 60 % load), LWRR alone
#                               over LWRR + capymig
#   skew_p99_over_uniform       capymig's p99 under that skew over LWRR's
#                               p99 under uniform load
#   throughput_vs_ideal         12 servers, 720 long-lived Zipf-1.2
#                               connections offered 125 % of the pool's
#                               capacity: the throughput with capymig over
#                               that of uniform load (the ideal)
#
#	bench_skew.sh [-l LABEL]
#
# Needs root, the module and capymigd: without capymigd it says so and
# fails, having measured nothing (LWRR alone has nothing to compare).

source "$(dirname "$0")/../lib.sh"

readonly SKEW=$TOP/selftests/demo/skew.sh
# As scripts/demo runs it.
readonly DEMO=(-n 4 -s 50000 -u 0.6)
readonly DEMO_LOAD=(-w 5 -d 40 -D 5)
# Slower servers for the twelve: the guest carries them all.
readonly PEAK=(-n 12 -s 250000 -u 1.25)
readonly PEAK_LOAD=(-L 720 -S 0 -w 10 -d 30 -D 0)

while getopts l: opt; do
	case $opt in
	l) ;;	# every figure is a ratio: nothing to label
	*) exit 2 ;;
	esac
done

fail()
{
	echo "# skew: $*"
	exit 1
}

[ "$(id -u)" -eq 0 ] || fail "needs root"
command -v capymigd >/dev/null ||
	fail "capymigd is not built: skew_p99_lwrr_over_capymig," \
	     "skew_p99_over_uniform and throughput_vs_ideal need it"

tmp=$(mktemp -d)
on_exit rm -rf "$tmp"

# run NAME SKEW_ARGS... -- LOAD_ARGS...: one run, its summary in $tmp/NAME.
run()
{
	local name=$1
	shift

	if ! "$SKEW" -o "$tmp/$name" "$@" >/dev/null; then
		# What the client saw go wrong, and its summary.
		sed 's/^/# /' "$tmp/$name/load.err" 2>/dev/null | head -n 10
		grep -E '^(requests|unfinished|lost|errors|p99_us):' \
			"$tmp/$name/load.log" 2>/dev/null | sed 's/^/# /'
		fail "the $name run failed"
	fi
	echo "# $name: p99 $(field "$name" p99_us) us," \
	     "$(field "$name" throughput_rps) requests/s," \
	     "$(cat "$tmp/$name/migrations") migrations," \
	     "CPUs $(cat "$tmp/$name/cpu_busy_pct") % busy"
}

field()
{
	sed -n "s/^$2: //p" "$tmp/$1/load.log"
}

ratio()
{
	awk -v n="$1" -v a="$2" -v b="$3" \
		'BEGIN { printf "%s: %.2f\n", n, a / b }'
}

run lwrr "${DEMO[@]}" -- -z 1.2 "${DEMO_LOAD[@]}"
run capymig -c "${DEMO[@]}" -- -z 1.2 "${DEMO_LOAD[@]}"
run uniform "${DEMO[@]}" -- -z 0 "${DEMO_LOAD[@]}"
run peak -c "${PEAK[@]}" -- -z 1.2 "${PEAK_LOAD[@]}"
run ideal "${PEAK[@]}" -- -z 0 "${PEAK_LOAD[@]}"

ratio skew_p99_lwrr_over_capymig "$(field lwrr p99_us)" \
	"$(field capymig p99_us)"
ratio skew_p99_over_uniform "$(field capymig p99_us)" \
	"$(field uniform p99_us)"
ratio throughput_vs_ideal "$(field peak throughput_rps)" \
	"$(field ideal throughput_rps)"
