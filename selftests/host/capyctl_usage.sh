#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# capyctl's command line, before any request: help on stdout with status
# 0, a command line it does not understand refused with status 2 and why,
# whether or not the module is there (nothing here asks it anything).

source "$(dirname "$0")/../lib.sh"

require_cmd capyctl

# status WANT PATTERN ARGS...: capyctl ARGS exits WANT, saying PATTERN.
status()
{
	local want=$1 pattern=$2 out rc
	shift 2

	out=$(capyctl "$@" 2>&1)
	rc=$?
	[ "$rc" -eq "$want" ] && grep -Eq -- "$pattern" <<<"$out" && return 0
	echo "exit $rc:"
	printf '%s\n' "$out"
	return 1
}

tap_plan 10
tap_check "--help: the usage, exit 0" \
	status 0 "^usage: capyctl \[-j\] COMMAND" --help
tap_check "COMMAND --help: that command's usage, exit 0" \
	status 0 "^usage: capyctl migrate \[--read-seq N\]" migrate --help
tap_check "COMMAND -h: the same" \
	status 0 "^usage: capyctl hold LOCAL REMOTE" hold -h
tap_check "no command: the usage, exit 2" status 2 "^usage: capyctl"
tap_check "an unknown command: named, exit 2" \
	status 2 "unknown command 'frob'" frob
tap_check "bad endpoints: named, exit 2, before any request" \
	status 2 "bad endpoints '1.2.3.4' '5'" hold 1.2.3.4 5
tap_check "a value out of range: the command's usage, exit 2" \
	status 2 "^usage: capyctl hold .*1-60000" \
	hold 10.0.0.1:80 10.0.0.2:4000 0
tap_check "a value out of range: named, with its range" \
	status 2 "^capyctl: hold: bad timeout '0': want an integer from 1 to 60000$" \
	hold 10.0.0.1:80 10.0.0.2:4000 0
tap_check "an option's value not a number: named, with its range" \
	status 2 "^capyctl: drain: bad parallelism 'x4': want an integer from 1 to 4096$" \
	drain -p x4
tap_check "a 64-bit value: its range" \
	status 2 "^capyctl: import: bad listener cookie '0': want an integer from 1 to 18446744073709551615$" \
	import -c 0
tap_done
