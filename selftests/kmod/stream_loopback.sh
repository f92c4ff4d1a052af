#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A stream flowing both ways is migrated 1,000 times between two listeners
# of one namespace (SO_REUSEPORT, the import names its listener), over
# IPv4 and IPv6 loopback.
#
#   [ client ] --lo--> [ listener A | listener B ]   (one namespace)
#
# Retransmissions are counted as tcpmig_stream -p counts them: a tail loss
# probe that turned out spurious is not one.  Under emulation a move takes
# milliseconds (microseconds on hardware), longer than the client's 10 ms
# probe timeout; the probe retransmits nothing that was lost.  Every real
# loss, timeout or probe that repaired a loss still fails the test.

source "$(dirname "$0")/../lib.sh"

require_root
require_module
require_cmd tcpmig_stream

ns_create ns
ip netns exec "$ns" tcpmig_stream -p -n 1000 -i 16384 | sed 's/^/# ipv4: /'
v4=${PIPESTATUS[0]}
ip netns exec "$ns" tcpmig_stream -p -6 -n 1000 -i 16384 | sed 's/^/# ipv6: /'
v6=${PIPESTATUS[0]}

tap_plan 2
tap_check "ipv4: 1000 migrations, nothing lost, no reset, no loss retransmitted" \
	test "$v4" -eq 0
tap_check "ipv6: 1000 migrations, nothing lost, no reset, no loss retransmitted" \
	test "$v6" -eq 0
tap_done
