#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make install DESTDIR=STAGE`, as a package build runs it: everything
# lands under STAGE, where the running system would look for it.

source "$(dirname "$0")/../lib.sh"

require_cmd make
stage=$(mktemp -d)
on_exit rm -rf "$stage"

tap_plan 6
tap_check "make install DESTDIR=$stage PREFIX=/usr" \
	make -s -C "$TOP" install DESTDIR="$stage" PREFIX=/usr
# Kbuild's place for external modules: extra/, updates/ on newer kernels;
# compressed as the kernel's own may be (Debian 6.12: .ko.xz).
shopt -s nullglob
modules=("$stage"/lib/modules/*/{extra,updates}/capymig.ko*)
tap_check "the module in the stage's /lib/modules/*/extra or updates (${modules[*]#"$stage"})" \
	test -f "${modules[0]:-}"
tap_check "capyctl, capymigd and capymig-switchd in /usr/sbin" \
	test -x "$stage/usr/sbin/capyctl" -a -x "$stage/usr/sbin/capymigd" \
	-a -x "$stage/usr/sbin/capymig-switchd"
tap_check "the unit runs /usr/sbin/capymigd" \
	grep -q '^ExecStart=/usr/sbin/capymigd' \
	"$stage/usr/lib/systemd/system/capymigd.service"
tap_check "the example configuration in /etc/capymig" \
	test -f "$stage/etc/capymig/capymigd.conf"
# systemd checks the unit as it would load it, its programs in the stage.
if command -v systemd-analyze >/dev/null; then
	sed "s|/usr/sbin/|$stage/usr/sbin/|g" \
		"$stage/usr/lib/systemd/system/capymigd.service" \
		>"$stage/capymigd.service"
	# Unknown keys are only warned about: any word from it fails.
	tap_check "systemd-analyze verify accepts the unit, silently" \
		sh -c 'out=$(systemd-analyze verify "$1" 2>&1); echo "$out"
		       [ -z "$out" ]' sh "$stage/capymigd.service"
else
	tap_skip "systemd-analyze verify accepts the unit, silently" \
		"no systemd-analyze"
fi
tap_done
