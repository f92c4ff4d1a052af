#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The tcpmig generic netlink family seen from userspace: it resolves in the
# initial and in fresh network namespaces, each namespace answers with its
# own state, permission is CAP_NET_ADMIN over the requester's network
# namespace, and malformed requests are refused with the kernel's reason.
#
#   [ init netns ]      [ netns A ]      [ userns+netns B (unprivileged) ]

source "$(dirname "$0")/../lib.sh"

require_root
require_cmd capyctl tcpmig_probe setpriv unshare
require_module

tap_plan 18

version=$(cat "$TOP/VERSION")

json_field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p"; }

init_info=$(capyctl -j info 2>&1)
tap_check "info answers in the initial namespace" \
	test "$(json_field version <<<"$init_info")" = "$version"

ns_create nsa
ns_info=$(ip netns exec "$nsa" capyctl -j info 2>&1)
tap_check "info answers in a fresh namespace" \
	test "$(json_field version <<<"$ns_info")" = "$version"

tap_check "each namespace answers with its own state" \
	test "$(json_field netns_cookie <<<"$init_info")" != \
	     "$(json_field netns_cookie <<<"$ns_info")"

tap_check "text output names the version" \
	sh -c "capyctl info | grep -q 'capymig $version'"

# Permission: CAP_NET_ADMIN over the socket's network namespace.
tap_check_fails "root without CAP_NET_ADMIN is refused" \
	"CAP_NET_ADMIN is required" \
	setpriv --inh-caps=-net_admin --bounding-set=-net_admin capyctl info

tap_check_fails "an unprivileged user is refused" \
	"CAP_NET_ADMIN is required" \
	setpriv --reuid=65534 --regid=65534 --clear-groups capyctl info

tap_check_fails "a user namespace does not grant the initial netns" \
	"CAP_NET_ADMIN is required" \
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		unshare --user --map-root-user capyctl info

# Events name connections and their timing: not for everyone either.
tap_check_fails "an unprivileged user cannot subscribe to the events" \
	"not permitted" \
	timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups \
		capyctl monitor

tap_check "a user namespace manages its own netns" \
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		unshare --user --map-root-user --net capyctl info

# Malformed requests.  GET_INFO is command 1; attribute 1 is the reply-only
# TCPMIG_A_VERSION; HOLD is command 5 and takes a 40-byte tuple (5).
tap_check "a well-formed raw request is accepted" tcpmig_probe 1

tap_check_fails "an unknown attribute is refused with a reason" \
	"Invalid argument extack: .*[Uu]nknown attribute" \
	tcpmig_probe 1 200:01000000

tap_check_fails "an attribute the command does not take is refused" \
	"Invalid argument extack: Unsupported attribute" \
	tcpmig_probe 1 1:7800

tap_check_fails "a short tuple is refused with a reason" \
	"extack: binary attribute size out of range" \
	tcpmig_probe 5 5:0200

tap_check_fails "a malformed tuple is refused with a reason" \
	"Invalid argument extack: invalid tuple" \
	tcpmig_probe 5 5:$(printf '07%078d' 0)

tap_check_fails "an unknown command is refused" \
	"not supported" \
	tcpmig_probe 250

# IMPORT (4) with an empty STATE_CHUNK (10); EXPORT (3) with a STATE_BUF
# (31) but no STATE_LEN.
tap_check_fails "an empty state chunk is refused with a reason" \
	"Invalid argument extack: empty TCPMIG_A_STATE_CHUNK" \
	tcpmig_probe 4 10:
tap_check_fails "a state buffer without its length is refused with a reason" \
	"Invalid argument extack: TCPMIG_A_STATE_BUF and TCPMIG_A_STATE_LEN go together" \
	tcpmig_probe 3 31:0010000000000000

# The pool holds 1024 members; one more is refused, saying why.
ip netns exec "$nsa" bash -c '
	for ((i = 0; i < 1024; i++)); do
		capyctl pool add 10.77.$((i / 256)).$((i % 256)) || exit 1
	done'
tap_check_fails "a pool member past the 1024th is refused with a reason" \
	"the pool is full" \
	ip netns exec "$nsa" capyctl pool add 10.78.0.1

tap_done
