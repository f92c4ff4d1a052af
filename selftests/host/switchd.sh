#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# capymig-switchd on this machine's own kernel, without the module: the
# agent in the switch namespace of selftests/lib/switch_topology.sh, a
# client and two servers on plain sockets (socat), and what the agent
# must do by itself.
#
#   host0 (client) -- switch (capymig-switchd) -- host1 (10.10.1.2)
#                                              -- host2 (10.10.2.2)
#
# - a data plane that does not load ends the agent with a message, --pin
#   or not.

source "$(dirname "$0")/../lib.sh"
source "$TOP/selftests/lib/switch_topology.sh"

PORT=7000

require_root
require_cmd capymig-switchd jq socat setpriv tc

tmp=$(mktemp -d)
on_exit rm -rf "$tmp"
sw_topology_create 2 || ksft_skip_all "cannot build the topology"

# says STATUS PATTERN CMD...: CMD exits with STATUS and says PATTERN (an
# extended regular expression) on stdout or stderr.
says()
{
	local status=$1 pattern=$2 out got
	shift 2

	out=$("$@" 2>&1)
	got=$?
	[ "$got" -eq "$status" ] && grep -Eq -- "$pattern" <<<"$out" && return
	echo "exit status $got, not $status, or not /$pattern/:"
	printf '%s\n' "$out"
	return 1
}

# unprivileged CMD...: CMD in the switch namespace as nobody, without a
# capability: no BPF program loads.
unprivileged()
{
	ip netns exec "$sw_ns" setpriv --reuid=65534 --regid=65534 \
		--clear-groups --inh-caps=-all --bounding-set=-all "$@"
}

tap_plan 1

tap_check "--pin: a data plane that does not load ends the agent, status 1, with the reason" \
	says 1 "loading the data plane" unprivileged capymig-switchd \
	-a $SW_ADDR -S 10.10.1.2:$PORT --pin /sys/fs/bpf/capymig-test-$$ \
	-u @capymig-test-pin sw0

tap_done
