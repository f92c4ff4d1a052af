#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# migration_p99: see tcpmig_bench.sh.
exec "$(dirname "$0")/tcpmig_bench.sh" p99 "$@"
