#!/usr/bin/env bash
# Makes docs/report.png, the README's picture of report.html: the demo's
# local job (scripts/demo.sh) with GEN_0 rank 1 crashing at start, so that
# the page shows a root cause, stopped tasks and the timeline, rendered by
# headless chromium (Debian: chromium).
#
#   bash scripts/report-screenshot.sh [OUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/report.png}
browser=$(command -v chromium || command -v chromium-browser || true)
[[ -n $browser ]] || { echo "report-screenshot: no chromium; run: sudo apt-get install -y chromium" >&2; exit 1; }

log=$(mktemp)
profile=$(mktemp -d)
ws=
trap 'rm -rf "$log" "$profile" ${ws:+"$ws"}' EXIT
# The demo exits 1 (the crash fails the job); its first lines name the workspace.
EXAMPLE_CRASH_ROLE=GEN_0 EXAMPLE_CRASH_RANK=1 bash scripts/demo.sh >"$log" 2>&1 || true
ws=$(sed -n 's/^demo: workspace \([^;]*\);.*/\1/p' "$log")
[[ -f $ws/report.html ]] || { echo "report-screenshot: the demo wrote no report.html:" >&2; tail -n 20 "$log" >&2; exit 1; }
rm -f "$out"
# --no-sandbox: chromium's sandbox refuses to run as root.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
	--window-size=1280,760 --screenshot="$out" "file://$ws/report.html" >"$log" 2>&1 || true
[[ -s $out ]] || { echo "report-screenshot: chromium wrote no $out:" >&2; tail -n 20 "$log" >&2; exit 1; }
echo "report-screenshot: $out"
