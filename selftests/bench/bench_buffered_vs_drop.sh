#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# buffered_vs_drop: see tcpmig_bench.sh.
exec "$(dirname "$0")/tcpmig_bench.sh" drop "$@"
