#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The TCPMig benchmarks (tcpmig_bench.c says what each measures), in the
# deployment's topology: the client reaches the service address through
# the software switch, which places its connection on server A or B; the
# servers' modules move it between them with TCPMig, through the switch.
# Needs root and the module.
#
#   +-----------+        +---------------------+        +-------------+
#   | host0     |        | switch              |        | host1 (A)   |
#   | client    eth0--sw0| capymig-switchd     |sw1--eth0 10.10.1.2    |
#   | 10.10.0.2 |        | VIP 10.10.255.1     |        +-------------+
#   +-----------+        | TCPMig 10.10.254.1  |        +-------------+
#                        |                     |sw2--eth0 10.10.2.2 (B) |
#                        +---------------------+        +-------------+
#
#	tcpmig_bench.sh rtt|p99|drop [-l LABEL]
#
# TCPMIG_BENCH_SAMPLES (rtt: migrations), TCPMIG_BENCH_ROUNDS and
# TCPMIG_BENCH_SECONDS (p99, drop: rounds of each variant at each rate,
# and their length) trade time for precision; TCPMIG_BENCH_RATES (p99,
# drop) lists the client's rates of requests a second.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

readonly PORT=7119

kind=$1
shift
label=()
while getopts l: opt; do
	case $opt in
	l) label=(-l "$OPTARG") ;;
	*) exit 2 ;;
	esac
done

fail()
{
	echo "# tcpmig_bench: $*"
	exit 1
}

[ "$(id -u)" -eq 0 ] || fail "needs root"
[ -d /sys/module/capymig ] || fail "needs the capymig module"
sw_topology_create 2 || fail "cannot build the topology"
sw_switchd_start $PORT 2 || fail "cannot start capymig-switchd"
sw_tcpmig_pool 2 || fail "cannot configure TCPMig"

tcpmig_bench "$kind" -N "${sw_host[1]},${sw_host[2]},${sw_host[0]}" \
	-g 10.10.1.2,10.10.2.2 -a $SW_VIP -p $PORT \
	-n "${TCPMIG_BENCH_SAMPLES:-300}" -r "${TCPMIG_BENCH_ROUNDS:-4}" \
	-d "${TCPMIG_BENCH_SECONDS:-3}" -q "${TCPMIG_BENCH_RATES:-100,250,500}" \
	"${label[@]}"
