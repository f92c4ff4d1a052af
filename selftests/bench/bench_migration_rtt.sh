#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# migration_rtt: see tcpmig_bench.sh.
exec "$(dirname "$0")/tcpmig_bench.sh" rtt "$@"
