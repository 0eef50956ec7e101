#!/usr/bin/env bash
# bench-merge.sh — time `noderun merge -o` against junit-report-merger (npm,
# `jrm`) on the same input, in the same run: rank files of 200 testcases each
# (one testcase in 97 fails), as a large disaggregated job leaves them, for
# each size in FILES. Prints both wall times (median of RUNS), the peak RSS
# of each and the ratios. Goal (issue 13) on 1,024 files: noderun at least
# 10x faster than jrm, at most 0.25x its peak RSS; other sizes are printed.
#
# Usage: scripts/bench-merge.sh            (from anywhere in the repository)
# Env:   RUNS=3        timed runs of each tool (after one warm-up run each)
#        FILES="1024 4096"  sizes to measure; the goal is checked on 1024
#        CASES=200
#        JRM_DIR=DIR   an existing `npm install --prefix DIR junit-report-merger`
#                      (default: installed into the temporary directory)
# Exit:  0 goal met (or 1024 not in FILES), 1 goal missed, 2 cannot measure.
# Needs: go and make (noderun is built with `make build`), python3 (to
#        generate the files), node + npm (for jrm), GNU time (/usr/bin/time)
#        for peak memory — installed with apt-get when missing and possible.
set -euo pipefail

RUNS=${RUNS:-3}
FILES=${FILES:-1024 4096}
CASES=${CASES:-200}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-merge.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

die() { echo "bench-merge: $*" >&2; exit 2; }
command -v go >/dev/null || die "go not found"
command -v make >/dev/null || die "make not found (Debian package make; it builds noderun)"
command -v python3 >/dev/null || die "python3 not found (it generates the input files)"
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm not found (needed for junit-report-merger)"

# Peak memory needs GNU time; bash's `time` keyword only gives times.
gnutime=""
if [[ -x /usr/bin/time ]] && /usr/bin/time -f %M true 2>/dev/null; then
  gnutime=/usr/bin/time
elif [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  echo "installing Debian package 'time' for peak memory..." >&2
  if apt-get install -y -qq time >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq time >/dev/null 2>&1; }; then
    gnutime=/usr/bin/time
  fi
fi
[[ -n $gnutime ]] || die "GNU time (/usr/bin/time, Debian package time) is needed for the memory goal"

echo "== building noderun" >&2
make -C "$root" --no-print-directory build BIN="$tmp/noderun" >&2 || die "make build failed"

jrm_dir=${JRM_DIR:-$tmp/jrm}
if [[ ! -x $jrm_dir/node_modules/.bin/jrm ]]; then
  echo "== installing junit-report-merger into $jrm_dir" >&2
  npm install --silent --no-audit --no-fund --prefix "$jrm_dir" junit-report-merger >/dev/null ||
    die "npm install junit-report-merger failed (npm's registry unreachable?)"
fi
jrm_version=$(node -p 'require(process.argv[1] + "/node_modules/junit-report-merger/package.json").version' "$jrm_dir") ||
  die "cannot read jrm's version under $jrm_dir"

# generate FILES DIR: FILES rank files of CASES testcases under DIR.
generate() {
  local files=$1 results=$2
  echo "== generating $files files x $CASES testcases in $results" >&2
  python3 - "$results" "$files" "$CASES" <<'EOF'
import os, sys
out, files, cases = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
roles = ["GEN_0", "GEN_1", "CTX_0", "CTX_1"]
for f in range(files):
    role = roles[f % len(roles)]
    rank = f // len(roles)
    parts, failures = [], 0
    for c in range(cases):
        name = 'classname="perf.test_perf_sanity.TestE2E" name="test_e2e[disagg_upload-cfg_%03d]" time="%d.%03d"' % (c, c % 7, (f * 31 + c) % 1000)
        if (f * cases + c) % 97 == 0:
            failures += 1
            parts.append('<testcase %s><failure message="AssertionError: throughput 123.4 &lt; 150.0">'
                         'def test_e2e(cfg):\n&gt;       assert tput &gt;= 150.0\n'
                         'E       AssertionError: throughput 123.4 &lt; 150.0\n\n'
                         'perf/test_perf_sanity.py:42: AssertionError</failure></testcase>' % name)
        else:
            parts.append('<testcase %s />' % name)
    d = os.path.join(out, role)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "rank%d.xml" % rank), "w") as fh:
        fh.write('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" '
                 'failures="%d" skipped="0" tests="%d" time="%d.5" timestamp="2025-03-04T05:00:00" '
                 'hostname="node%04d">' % (failures, cases, cases, f // 4))
        fh.write("".join(parts))
        fh.write("</testsuite></testsuites>\n")
EOF
  echo "   $(du -sh "$results" | cut -f1) in $(find "$results" -name '*.xml' | wc -l) files" >&2
}

# measure NAME CMD...: runs CMD once to warm the page cache, then RUNS times;
# sets <NAME>_secs (median wall seconds) and <NAME>_kb (largest peak RSS).
# Exit status 1 is accepted: noderun reports the generated failures with it.
measure() {
  local name=$1; shift
  local times=() peak=0 i start end rc kb
  for ((i = 0; i <= RUNS; i++)); do
    start=$(date +%s%N)
    rc=0
    "$gnutime" -f %M -o "$tmp/mem" "$@" >/dev/null 2>"$tmp/err" || rc=$?
    end=$(date +%s%N)
    if ((rc > 1)); then
      cat "$tmp/err" >&2
      die "$name exited with status $rc"
    fi
    ((i == 0)) && continue
    times+=("$(((end - start) / 1000000))")
    kb=$(tail -n1 "$tmp/mem")
    ((kb > peak)) && peak=$kb
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p")
  printf -v "${name}_secs" '%d.%03d' $((median / 1000)) $((median % 1000))
  printf -v "${name}_kb" '%s' "$peak"
}

mem() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }
status=0
for files in $FILES; do
  results=$tmp/results-$files
  generate "$files" "$results" || die "generating the input files failed"
  load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
  echo "== timing $files files: 1 warm-up + $RUNS runs each, one tool after the other" >&2
  measure noderun "$tmp/noderun" --log-level warn merge -o "$tmp/noderun.xml" "$results"
  measure jrm "$jrm_dir/node_modules/.bin/jrm" "$tmp/jrm.xml" "$results/**/*.xml"

  # Both outputs must hold every testcase, or the comparison means nothing.
  want=$((files * CASES))
  for out in noderun jrm; do
    n=$(grep -o '<testcase ' "$tmp/$out.xml" | wc -l)
    ((n == want)) || die "$out wrote $n testcases, want $want"
  done
  rm -rf "$results"

  speed=$(awk -v a="$jrm_secs" -v b="$noderun_secs" 'BEGIN { printf "%.1f", a / b }')
  rss=$(awk -v a="$jrm_kb" -v b="$noderun_kb" 'BEGIN { printf "%.2f", b / a }')
  echo
  echo "input:   $files files x $CASES testcases ($want testcases), median of $RUNS runs"
  echo "machine: $(nproc) CPUs, load average before the runs: $load"
  echo "noderun merge -o          ${noderun_secs} s   peak RSS $(mem "$noderun_kb")"
  echo "jrm $jrm_version (npm)        ${jrm_secs} s   peak RSS $(mem "$jrm_kb")"
  echo "ratios:  noderun is ${speed}x faster, at ${rss}x the peak RSS"
  ((files == 1024)) || continue
  if awk -v s="$speed" -v r="$rss" 'BEGIN { exit !(s >= 10 && r <= 0.25) }'; then
    echo "goal:    met (>= 10x faster, <= 0.25x peak RSS)"
  else
    echo "goal:    MISSED (want >= 10x faster, <= 0.25x peak RSS)"
    status=1
  fi
done
exit $status
