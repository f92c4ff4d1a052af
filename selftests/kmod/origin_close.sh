#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The origin's application after an export: its blocked recv() wakes with
# ECONNABORTED, send() fails with EPIPE, recv() with ENOTCONN, and none of
# it, close() included, puts anything on the wire: a capture on lo sees no
# segment from the server's port between the export and the import back,
# half a second later, longer than any timer the exported socket could
# have left armed would take (while it does see the client's segment of
# that time, held and then delivered to the imported connection).
#
#   [ client ] --lo--> [ listener ]   (one namespace; tcpdump on lo)

source "$(dirname "$0")/../lib.sh"

require_root
require_module
require_cmd tcpmig_origin tcpdump timeout

port=7501
ns_create ns
tmp=$(mktemp -d)
on_exit rm -rf "$tmp"

# Text, a line per segment as it is captured: "SECONDS.USECS IP SRC.PORT >
# DST.PORT: Flags [...]...".
ip netns exec "$ns" timeout 60 tcpdump -i lo -nn -tt -l "tcp port $port" \
	>"$tmp/cap" 2>"$tmp/tcpdump.log" &
tcpdump_pid=$!
on_exit kill "$tcpdump_pid"
wait_for 20 grep -q "listening on" "$tmp/tcpdump.log" ||
	ksft_skip_all "tcpdump did not start: $(cat "$tmp/tcpdump.log")"

ip netns exec "$ns" tcpmig_origin "$port" >"$tmp/out" 2>&1
rc=$?
tap_diag "$(cat "$tmp/out")"
val() { sed -n "s/^$1=//p" "$tmp/out"; }
client=$(val client_port)

# Segments from port $1 to port $2 as "TIMESTAMP FLAGS" lines.
segments()
{
	local re="^\([0-9.]*\) IP [0-9.]*\.$1 > [0-9.]*\.$2: Flags \[\([^]]*\)\].*"

	sed -n "s/$re/\1 \2/p" "$tmp/cap"
}

# The server's FIN, the helper's last segment, is captured last: all
# before it is in the file when tcpdump is stopped.
server_fin() { segments "$port" "$client" | grep -q ' F'; }
[ -n "$client" ] && wait_for 10 server_fin
kill "$tcpdump_pid" 2>/dev/null
wait "$tcpdump_pid" 2>/dev/null

never=0000000000.000000
forever=9999999999.999999
# A helper that stopped short leaves the window open at that end: the
# checks on it then fail rather than pass on an empty window.
export_time=$(val export_time)
import_time=$(val import_time)
: "${export_time:=$never}" "${import_time:=$forever}"

# Segments from port $1 to port $2 after $3, before $4.  The timestamps
# all have the same width: they compare as strings.
count()
{
	segments "$1" "$2" | awk -v a="$3" -v b="$4" \
		'($1 "") > (a "") && ($1 "") < (b "") { n++ } END { print n + 0 }'
}

tap_plan 8
tap_check "the helper ran: $(val error)" test "$rc" -eq 0
tap_check "a recv() blocked during the export wakes with ECONNABORTED" \
	test "$(val blocked_recv)" = ECONNABORTED
tap_check "send() after the export fails with EPIPE" \
	test "$(val send)" = EPIPE
tap_check "recv() after that fails with ENOTCONN" \
	test "$(val recv)" = ENOTCONN
tap_check "the capture saw the connection: the server's segments before, \
the client's held one in between" \
	test "$(count "$port" "$client" "$never" "$export_time")" -gt 0 -a \
	     "$(count "$client" "$port" "$export_time" "$import_time")" -gt 0
tap_check "nothing from the server's port between the export and the \
import: send(), recv(), close() stay off the wire" \
	test "$(count "$port" "$client" "$export_time" "$import_time")" -eq 0
tap_check "the client's segment sent meanwhile is delivered after the import" \
	test "$(val held_byte)" = replayed
tap_check "the imported connection carries a verified stream both ways" \
	test "$(val imported_flow)" = ok -a \
	     "$(count "$port" "$client" "$import_time" "$forever")" -gt 0
tap_diag "origin after the export: recv() woke $(val blocked_recv_woke_ms) ms \
after it; poll() said: $(val poll)"
tap_done
