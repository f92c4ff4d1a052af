#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Applications that move their own connections, as often as the
# benchmarks do: between two requests, once it has had the connection for
# a millisecond, a server's application asks its module to MIGRATE it to
# the other server and reads it no more until the outcome event, while
# the client sends 250 requests a second, whatever comes back.  The
# program and the topology are the benchmarks'
# (selftests/bench/tcpmig_bench.c, its p99 mode, shortened):
# it checks every answer against its request, that the origin's socket
# reports ECONNABORTED after each export, and that a server never finds
# a second connection on its listener, which it would if the outcome of
# the connection's last migration out reached it only after the
# connection had come back.

source "$(dirname "$0")/../lib.sh"

require_root
require_module
require_cmd tcpmig_bench capymig-switchd

echo "TAP version 13"
echo "1..4"

out=$(TCPMIG_BENCH_ROUNDS=3 TCPMIG_BENCH_SECONDS=3 TCPMIG_BENCH_RATES=250 \
      "$TOP/selftests/bench/tcpmig_bench.sh" p99 2>&1)
status=$?
grep -E '^# (migrations|FAIL|tcpmig_bench)' <<<"$out" | sed 's/^/# /'

# "# migrations: N, rejected N (the last: WHY), failed N, origin without
# ECONNABORTED N; held packets dropped, expired or beyond bounds: N"
read -r migrated rejected failed not_aborted dropped <<<"$(
	sed -nE 's/^# migrations: ([0-9]+), rejected ([0-9]+) \([^)]*\), failed ([0-9]+), origin without ECONNABORTED ([0-9]+);.*: ([0-9]+)$/\1 \2 \3 \4 \5/p' \
		<<<"$out")"

tap_check "every request answered right, the connection never lost or found twice (exit $status)" \
	test "$status" -eq 0
tap_check "hundreds of migrations, none rejected or failed (${migrated:-none}, ${rejected:-?}, ${failed:-?})" \
	test "${migrated:-0}" -ge 500 -a "${rejected:-1}" -eq 0 -a "${failed:-1}" -eq 0
tap_check "the origin's socket reported ECONNABORTED after each export (${not_aborted:-?} without)" \
	test "${not_aborted:-1}" -eq 0
tap_check "no held packet dropped, expired or beyond bounds (${dropped:-?})" \
	test "${dropped:-1}" -eq 0
tap_done
