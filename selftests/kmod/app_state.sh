#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# An application's own state of a connection (part of a request it has
# read) moved with the connection in its blob: refused into a listener,
# whose application would go on without it; imported as a descriptor,
# the request made whole and answered.
#
#   [ client ] --lo--> [ listener ]   (one namespace, IPv4)

source "$(dirname "$0")/../lib.sh"

require_root
require_module
require_cmd tcpmig_app_state

ns_create ns
ip netns exec "$ns" tcpmig_app_state
