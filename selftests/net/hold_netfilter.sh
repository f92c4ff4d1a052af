#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The packets a target holds until the import go through the host's
# firewall like any other: every netfilter hook at LOCAL_IN but
# conntrack's confirmation runs before the module's, which replays them
# past the hooks after it.  Each server counts the client's packets to the
# service in two nftables chains at LOCAL_IN, one before the filter
# priority and one after it, where firewalld filters (filter + 10), while
# TCPMig moves a stream between them through the switch, both ends
# writing all along (tcpmig_stream -S -k) and the switch delaying TCPMig
# by 20 ms, so that the targets hold what the client sends between the
# redirect and the import.  On each server the later chain must count
# every packet the earlier one did, but those the module took for good:
# held and dropped when no import came, beyond a hold's bound, or sent on
# to the target (the origin's, after the export).  The module counts the
# last in the SEGMENTs it sent, several for a segment too long for one:
# the later chain's count lies between the earlier one's less all the
# module counted and the earlier one's.  Replayed past it, it would miss
# the packets held, thousands.
#
#   host0 (client) -- switch -- host1 (A, 10.10.1.2)
#                            -- host2 (B, 10.10.2.2)

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

readonly PORT=7117	# tcpmig_stream's
readonly MOVES=50

require_root
require_module
require_cmd capymig-switchd tcpmig_stream capyctl nft jq

sw_deploy 2 $PORT

# chains NS: counters of the client's packets to PORT before the filter
# priority and after it.
chains()
{
	ip netns exec "$1" nft -f - <<-EOF
		table inet capymig_test {
			chain before {
				type filter hook input priority filter - 10;
				tcp dport $PORT counter
			}
			chain after {
				type filter hook input priority filter + 10;
				tcp dport $PORT counter
			}
		}
	EOF
}

# counted NS CHAIN: the packets CHAIN's counter saw.
counted()
{
	ip netns exec "$1" nft -j list chain inet capymig_test "$2" |
		jq '[.nftables[] | .rule? | select(.) | .expr[] |
		     .counter? | select(.) | .packets] | add'
}

# taken I: the packets the module of host I took for good.
taken()
{
	ip netns exec "${sw_host[$1]}" capyctl -j info |
		jq '.stats | .hold_expired + .hold_overflows +
			     .segments_forwarded + .no_hold_drops'
}

for i in 1 2; do
	chains "${sw_host[i]}" ||
		ksft_skip_all "nftables cannot count in ${sw_host[i]}"
done

log=$(mktemp)
on_exit rm -f "$log"

tap_plan 3
# A move then outlasts the client's retransmission timeout: the client
# sends again what the target holds, and tcpmig_stream's last point (no
# retransmission) cannot hold; its first five must.
sw_delay 2 17 || tap_diag "cannot delay TCPMig"
timeout 300 tcpmig_stream -S -k -p -n $MOVES -i 16384 -a $SW_VIP \
	-N "${sw_host[1]},${sw_host[2]},${sw_host[0]}" -g 10.10.1.2,10.10.2.2 \
	>"$log"
sw_undelay 2
sed 's/^/# /' "$log"
tap_check "$MOVES migrations through the switch under load: the stream intact, no reset" \
	eval '[ "$(grep -cE "^ok [1-5] " "$log")" -eq 5 ]'

# What is still held expires with its hold (2 s).
sleep 3
held=$(sw_stats 2 held_packets)
tap_check "the targets held packets ($held)" test "$held" -gt 0

same=true
for i in 1 2; do
	ns=${sw_host[i]}
	before=$(counted "$ns" before)
	after=$(counted "$ns" after)
	gone=$(taken "$i")
	tap_diag "host $i: $before packets before the filter priority," \
		 "$after after it, $gone taken by the module"
	[ "$after" -ge $((before - gone)) -a "$after" -le "$before" ] ||
		same=false
done
tap_check "the chain after the filter priority saw every packet the one before it did, held or not" \
	$same
tap_done
