#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A hold keeps no more than the largest receive buffer's worth of memory,
# however empty the segments that reach it: a flood of empty segments to
# a held connection is dropped and counted past it, and the connection
# goes on once the hold expired.  See tcpmig_hold_flood.c.
#
#   [ client ] --lo--> [ listener ]   (one namespace; a raw socket floods)

source "$(dirname "$0")/../lib.sh"

require_root
require_module
require_cmd tcpmig_hold_flood

ns_create ns
exec ip netns exec "$ns" tcpmig_hold_flood
