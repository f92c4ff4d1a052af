# SPDX-License-Identifier: GPL-2.0
#
# Helpers for capymig's shell selftests, in the manner of the kernel's
# tools/testing/selftests/net: TAP output, exit 4 to skip, namespaces that
# are always cleaned up, polling instead of sleeping.
#
# A test sources this file, calls tap_plan, runs checks and ends with
# tap_done.

readonly KSFT_PASS=0
readonly KSFT_FAIL=1
readonly KSFT_SKIP=4

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$TOP/build
PATH=$BUILD/userspace:$BUILD/selftests:$PATH

tap_count=0
tap_failed=0
cleanup_hooks=()

tap_plan()
{
	echo "TAP version 13"
	echo "1..$1"
}

tap_ok()
{
	tap_count=$((tap_count + 1))
	echo "ok $tap_count - $*"
}

tap_not_ok()
{
	tap_count=$((tap_count + 1))
	tap_failed=$((tap_failed + 1))
	echo "not ok $tap_count - $*"
}

tap_skip()
{
	local desc=$1 reason=$2

	tap_count=$((tap_count + 1))
	echo "ok $tap_count - $desc # SKIP $reason"
}

# tap_check DESC CMD...: one test point, passing when CMD succeeds.  The
# command's output is shown as TAP diagnostics only when it fails.
tap_check()
{
	local desc=$1 out
	shift

	if out=$("$@" 2>&1); then
		tap_ok "$desc"
	else
		tap_not_ok "$desc"
		[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
	fi
}

# tap_check_fails DESC PATTERN CMD...: CMD must fail and say PATTERN
# (an extended regular expression) on stdout or stderr.
tap_check_fails()
{
	local desc=$1 pattern=$2 out
	shift 2

	if out=$("$@" 2>&1); then
		tap_not_ok "$desc"
		echo "# unexpectedly succeeded: $*"
	elif ! grep -Eq -- "$pattern" <<<"$out"; then
		tap_not_ok "$desc"
		echo "# failed without saying /$pattern/:"
		printf '%s\n' "$out" | sed 's/^/# /'
	else
		tap_ok "$desc"
	fi
}

# tap_adopt FILE POINTS NAME STATUS: the TAP points helper program NAME
# printed, into FILE and this script's output, are this script's first
# POINTS: counted as its own, padded with failures if it printed fewer.
# A helper that exited STATUS, not 0, after passing points (a "Bail
# out!", a crash after its last point) fails the test all the same.
tap_adopt()
{
	local file=$1 points=$2 name=$3 status=$4

	tap_count=$(grep -cE '^(not )?ok [0-9]+' "$file")
	# A TODO point (a known bug) is shown but is not this test's failure.
	tap_failed=$(grep '^not ok' "$file" | grep -vc '# TODO')
	while [ "$tap_count" -lt "$points" ]; do
		tap_not_ok "$name ended early (status $status)"
	done
	if [ "$status" -ne 0 ] && [ "$tap_failed" -eq 0 ]; then
		tap_diag "$name exited $status"
		tap_failed=1
	fi
}

tap_diag()
{
	printf '%s\n' "$*" | sed 's/^/# /'
}

tap_done()
{
	[ "$tap_failed" -eq 0 ] && exit $KSFT_PASS
	exit $KSFT_FAIL
}

# Skip the whole test: the plan says so and the runner counts it skipped.
ksft_skip_all()
{
	echo "TAP version 13"
	echo "1..0 # SKIP $*"
	exit $KSFT_SKIP
}

# Gives up on the whole test because capymig itself failed at setting up:
# a failure (ksft_skip_all is for what the machine lacks).
ksft_fail_all()
{
	echo "Bail out! $*"
	exit $KSFT_FAIL
}

require_cmd()
{
	local cmd

	for cmd in "$@"; do
		command -v "$cmd" >/dev/null || ksft_skip_all "$cmd not found"
	done
}

require_root()
{
	[ "$(id -u)" -eq 0 ] || ksft_skip_all "must run as root"
}

# The module is loaded by the VM harness; tests that need it insist.
require_module()
{
	[ -d /sys/module/capymig ] || modprobe capymig 2>/dev/null ||
		ksft_skip_all "capymig module not available"
}

# Cleanup runs on every exit, in reverse order of registration.
on_exit()
{
	cleanup_hooks+=("$*")
}

run_cleanup()
{
	local i

	for ((i = ${#cleanup_hooks[@]} - 1; i >= 0; i--)); do
		eval "${cleanup_hooks[i]}" >/dev/null 2>&1 || true
	done
}
trap run_cleanup EXIT

# ns_create VAR: a new network namespace with loopback up, its (unique)
# name stored in VAR, deleted on exit.
ns_create()
{
	local name

	name="capymig-$1-$$-$RANDOM"
	ip netns add "$name" || return 1
	on_exit ip netns del "$name"
	ip -n "$name" link set lo up
	printf -v "$1" '%s' "$name"
}

# wait_for TIMEOUT_SECONDS CMD...: polls CMD every 50 ms until it succeeds.
wait_for()
{
	local deadline=$((SECONDS + $1))
	shift

	until "$@"; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# json_is FILTER: stdin holds one JSON value, and FILTER is true of it.
# Not "jq -e FILTER" alone: that succeeds when there is no input at all,
# so a check would pass on a command that printed nothing.
json_is()
{
	jq -se "length == 1 and (.[0] | $1)" >/dev/null
}

# dmesg lines written after the mark set by dmesg_mark.
dmesg_mark()
{
	dmesg_start=$(dmesg | wc -l)
}

dmesg_since_mark()
{
	dmesg | tail -n +$((dmesg_start + 1))
}

# The kernel must not have complained since dmesg_mark.
dmesg_clean()
{
	! dmesg_since_mark | grep -E 'WARNING:|BUG:|Oops|Call Trace|refcount_t'
}
