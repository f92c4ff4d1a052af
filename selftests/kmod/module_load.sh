#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The module's life cycle: load, unload, reload, autoload on family lookup,
# unload while namespaces and netlink users exist, refused while a
# migration is under way or packets are held.  Any kernel complaint
# (WARN, BUG, refcount) fails the test.
#
#   [ host: one kernel, no topology ]

source "$(dirname "$0")/../lib.sh"

require_root
require_cmd modprobe rmmod capyctl capymigd
require_module

tap_plan 12

module_loaded() { [ -d /sys/module/capymig ]; }
module_gone() { ! module_loaded; }

unload() { modprobe -r capymig && module_gone; }

dmesg_mark

tap_check "unload with no users" unload

tap_check "reload announces the version" \
	eval 'modprobe capymig &&
	      dmesg_since_mark | grep -q "capymig $(cat "$TOP/VERSION") loaded"'

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

# A netlink socket bound to the family, in its events group, must not pin
# the module.
unload_with_open_socket()
{
	local pid ok=0

	capyctl monitor >/dev/null 2>&1 &
	pid=$!
	wait_for 5 eval "ss -Hf netlink -p | grep -q 'genl:capyctl/$pid '" || ok=1
	unload || ok=1
	kill "$pid"
	wait "$pid"
	modprobe capymig
	return $ok
}
tap_check "unload while a tool is running" unload_with_open_socket

# capymigd's event subscriptions go with the family: once the module is
# unloaded the daemon exits 1, saying why, for systemd to start it again
# (Restart=on-failure) on the family the module registers when back.
daemon_exits_on_unload()
{
	local conf log pid status

	conf=$(mktemp) log=$(mktemp)
	on_exit rm -f "$conf" "$log"
	printf '[daemon]\ninterval_ms = 50\nbpf_pin =\ndry_run = yes\n' \
		>"$conf"
	capymigd -c "$conf" 2>"$log" &
	pid=$!
	if wait_for 10 grep -q started "$log" && unload; then
		wait_for 5 eval "! kill -0 $pid 2>/dev/null"
	fi
	kill "$pid" 2>/dev/null
	wait "$pid"
	status=$?
	modprobe capymig
	[ "$status" -eq 1 ] && grep -q "tcpmig family is gone" "$log" ||
		{ echo "# exit $status"; sed 's/^/# /' "$log"; false; }
}
tap_check "capymigd exits 1 once the module is unloaded, saying why" \
	daemon_exits_on_unload

# A migration under way keeps the module, as held packets do: unloaded,
# it would lose the connection (exported, or reset by the listener when
# its packets pass).  Here the switch is nowhere, so the PREPARE is never
# answered: the migration fails after its timeout and is withdrawn, and
# the connection, which never left, serves on.
ns_create busy
established()
{
	ss -N "$busy" -Htn state established 'sport = 7000' | grep -q .
}
module_in_use() { [ "$(cat /sys/module/capymig/refcnt)" -gt 0 ]; }
ip netns exec "$busy" socat -u TCP-LISTEN:7000,bind=127.0.0.1 /dev/null &
on_exit kill $!
sleep 1
sleep 60 | ip netns exec "$busy" socat -u - TCP:127.0.0.1:7000,sourceport=7001 &
on_exit kill $!
wait_for 5 established &&
	ip netns exec "$busy" capyctl config port 7395 switch 10.99.99.99 \
		timeout 500 >/dev/null || tap_diag "cannot set the connection up"
ip netns exec "$busy" capyctl migrate 127.0.0.1:7000 127.0.0.1:7001 \
	>/dev/null 2>&1 &
migrating=$!
wait_for 5 module_in_use
tap_check "unload refused while a migration is under way" \
	eval '! modprobe -r capymig 2>/dev/null && module_loaded'
wait "$migrating"
status=$?
tap_check "... and done once it ended (capyctl migrate: exit 1), the connection still served" \
	eval '[ $status -eq 1 ] && wait_for 10 unload && established'

modprobe capymig
ip netns exec "$busy" capyctl hold 127.0.0.1:7000 127.0.0.1:7001 1000
tap_check "unload refused while packets are held" \
	eval '! modprobe -r capymig 2>/dev/null && module_loaded'
tap_check "... and done once the hold expired" wait_for 10 unload
modprobe capymig

tap_check "no kernel warnings" dmesg_clean

tap_done
