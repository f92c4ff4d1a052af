#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Every refusal of an export or an import, through netlink: the errno and
# the kernel's reason, nothing sent (Tcp OutSegs/OutRsts of the otherwise
# idle namespace), an exported connection untouched; malformed and
# randomly mutated blobs; no socket leaked (sockstat).  The VM harness
# then checks that the module unloads.
#
#   [ client ] --lo--> [ listener(s): plain, TCP-MD5, MPTCP ]
#                      (one namespace, IPv4)

source "$(dirname "$0")/../lib.sh"

require_root
require_module
require_cmd tcpmig_refuse

# kTLS and MPTCP are tested when this kernel has them; the test skips
# their points otherwise.
modprobe tls 2>/dev/null
ns_create ns
ip netns exec "$ns" sysctl -qw net.mptcp.enabled=1 2>/dev/null

dmesg_mark
ip netns exec "$ns" tcpmig_refuse
rc=$?
if ! dmesg_clean; then
	echo "# the kernel complained:"
	dmesg_since_mark | sed 's/^/# /'
	rc=1
fi
exit "$rc"
