#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs the software switch's data-plane test built by "make -C bpf", in
# TAP, with its exit status (0 pass, 1 fail, 4 skip).

top=$(cd "$(dirname "$0")/../.." && pwd)
test=$top/build/bpf/test_switch

if [ ! -x "$test" ]; then
	echo "TAP version 13"
	echo "1..0 # SKIP $test not built (make -C bpf)"
	exit 4
fi
exec "$test" "$@"
