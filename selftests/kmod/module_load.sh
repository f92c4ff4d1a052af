#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The module's life cycle: load, unload, reload, autoload on family lookup,
# unload while namespaces and netlink users exist.  Any kernel complaint
# (WARN, BUG, refcount) fails the test.
#
#   [ host: one kernel, no topology ]

source "$(dirname "$0")/../lib.sh"

require_root
require_cmd modprobe rmmod capyctl
require_module

tap_plan 7

module_loaded() { [ -d /sys/module/capymig ]; }
module_gone() { ! module_loaded; }

unload() { modprobe -r capymig && module_gone; }

dmesg_mark

tap_check "unload with no users" unload

tap_check "reload announces the version" \
	sh -c "modprobe capymig && dmesg | grep -q 'capymig $(cat "$TOP/VERSION") loaded'"

load_unload_cycles()
{
	local i

	for ((i = 0; i < 20; i++)); do
		modprobe capymig && modprobe -r capymig || return 1
	done
	module_gone
}
tap_check "20 load/unload cycles" load_unload_cycles

# Looking the family up by name must load the module through its alias.
autoload()
{
	module_gone && capyctl info >/dev/null && module_loaded
}
tap_check "family lookup autoloads the module" autoload

# Namespaces created while loaded keep per-namespace state that unload
# must tear down; a namespace's exit after unload must not touch freed code.
unload_with_namespaces()
{
	local ns1 ns2

	ns_create ns1 && ns_create ns2 &&
	ip netns exec "$ns1" capyctl info >/dev/null &&
	unload && ip netns del "$ns1" && modprobe capymig &&
	ip netns exec "$ns2" capyctl info >/dev/null
}
tap_check "unload and reload with live namespaces" unload_with_namespaces

# A netlink socket bound to the family must not pin the module.
unload_with_open_socket()
{
	local fifo pid ok=0

	fifo=$(mktemp -u) && mkfifo "$fifo" || return 1
	# capyctl's socket stays open while it blocks writing to the fifo.
	capyctl info >"$fifo" &
	pid=$!
	unload || ok=1
	cat "$fifo" >/dev/null
	wait "$pid"
	rm -f "$fifo"
	modprobe capymig
	return $ok
}
tap_check "unload while a tool is running" unload_with_open_socket

tap_check "no kernel warnings" dmesg_clean

tap_done
