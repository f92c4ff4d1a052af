#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Documentation/*.rst is valid reStructuredText: docutils parses each page
# without a warning (a malformed table or literal renders as garbage).

source "$(dirname "$0")/../lib.sh"

python=
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import docutils' 2>/dev/null; then
		python=$p
		break
	fi
done
[ -n "$python" ] || ksft_skip_all "docutils not installed (python3-docutils)"

# rst_clean FILE: docutils' warnings about FILE, none when it is clean.
rst_clean()
{
	"$python" - "$1" <<'PY'
import io, sys
import docutils.core

out = io.StringIO()
docutils.core.publish_doctree(open(sys.argv[1]).read(), source_path=sys.argv[1],
                              settings_overrides={"warning_stream": out,
                                                  "report_level": 2})
sys.stdout.write(out.getvalue())
sys.exit(1 if out.getvalue() else 0)
PY
}

pages=("$TOP"/Documentation/*.rst)
tap_plan ${#pages[@]}
for page in "${pages[@]}"; do
	tap_check "${page#"$TOP"/} parses cleanly" rst_clean "$page"
done
tap_done
