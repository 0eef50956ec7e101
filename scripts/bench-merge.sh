#!/usr/bin/env bash
# bench-merge.sh — time `noderun merge -o` against junit-report-merger (npm,
# `jrm`) on the same input, in the same run: 1,024 rank files of 200
# testcases each (one testcase in 97 fails), as a large disaggregated job
# leaves them. Prints both wall times (median of RUNS), the ratio and the
# peak memory of each. Goal (issue 3): at least 10x faster, under 2 s.
#
# Usage: scripts/bench-merge.sh            (from anywhere in the repository)
# Env:   RUNS=3        timed runs of each tool (after one warm-up run each)
#        FILES=1024 CASES=200
#        JRM_DIR=DIR   an existing `npm install --prefix DIR junit-report-merger`
#                      (default: installed into the temporary directory)
#        BENCH_STRICT=1  exit 1 when the goal is missed
# Needs: go and make (noderun is built with `make build`), python3 (to
#        generate the files), node + npm (for jrm);
#        GNU time (/usr/bin/time) for peak memory — installed with apt-get
#        when missing and possible, otherwise memory is not reported.
set -euo pipefail

RUNS=${RUNS:-3}
FILES=${FILES:-1024}
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
[[ -n $gnutime ]] || echo "note: GNU time unavailable; peak memory will not be reported" >&2

echo "== generating $FILES files x $CASES testcases in $tmp/results" >&2
python3 - "$tmp/results" "$FILES" "$CASES" <<'EOF'
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
echo "   $(du -sh "$tmp/results" | cut -f1) in $(find "$tmp/results" -name '*.xml' | wc -l) files" >&2

echo "== building noderun" >&2
make -C "$root" --no-print-directory build BIN="$tmp/noderun" >&2

jrm_dir=${JRM_DIR:-$tmp/jrm}
if [[ ! -x $jrm_dir/node_modules/.bin/jrm ]]; then
  echo "== installing junit-report-merger into $jrm_dir" >&2
  npm install --silent --no-audit --no-fund --prefix "$jrm_dir" junit-report-merger >/dev/null
fi
jrm_version=$(node -p "require('$jrm_dir/node_modules/junit-report-merger/package.json').version")

# measure NAME CMD...: runs CMD once to warm the page cache, then RUNS times;
# sets <NAME>_secs (median wall seconds) and <NAME>_kb (largest peak RSS).
# Exit status 1 is accepted: noderun reports the generated failures with it.
measure() {
  local name=$1; shift
  local times=() peak=0 i start end rc kb
  for ((i = 0; i <= RUNS; i++)); do
    start=$(date +%s%N)
    rc=0
    if [[ -n $gnutime ]]; then
      "$gnutime" -f %M -o "$tmp/mem" "$@" >/dev/null 2>"$tmp/err" || rc=$?
    else
      "$@" >/dev/null 2>"$tmp/err" || rc=$?
    fi
    end=$(date +%s%N)
    if ((rc > 1)); then
      cat "$tmp/err" >&2
      die "$name exited with status $rc"
    fi
    ((i == 0)) && continue
    times+=("$(((end - start) / 1000000))")
    if [[ -n $gnutime ]]; then
      kb=$(tail -n1 "$tmp/mem")
      ((kb > peak)) && peak=$kb
    fi
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p")
  printf -v "${name}_secs" '%d.%03d' $((median / 1000)) $((median % 1000))
  printf -v "${name}_kb" '%s' "$peak"
}

load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
echo "== timing: 1 warm-up + $RUNS runs each, one tool after the other" >&2
measure noderun "$tmp/noderun" --log-level warn merge -o "$tmp/noderun.xml" "$tmp/results"
measure jrm "$jrm_dir/node_modules/.bin/jrm" "$tmp/jrm.xml" "$tmp/results/**/*.xml"

# Both outputs must hold every testcase, or the comparison means nothing.
want=$((FILES * CASES))
for out in noderun jrm; do
  n=$(grep -o '<testcase ' "$tmp/$out.xml" | wc -l)
  ((n == want)) || die "$out wrote $n testcases, want $want"
done

ratio=$(awk -v a="$jrm_secs" -v b="$noderun_secs" 'BEGIN { printf "%.1f", a / b }')
mem() { [[ $1 != 0 ]] && awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }' || echo "n/a"; }
cat <<EOF

input:   $FILES files x $CASES testcases ($want testcases), median of $RUNS runs
machine: $(nproc) CPUs, load average before the runs: $load
noderun merge -o          ${noderun_secs} s   peak RSS $(mem "$noderun_kb")
jrm $jrm_version (npm)        ${jrm_secs} s   peak RSS $(mem "$jrm_kb")
ratio:   noderun is ${ratio}x faster
EOF
if awk -v r="$ratio" -v t="$noderun_secs" 'BEGIN { exit !(r >= 10 && t < 2) }'; then
  echo "goal:    met (>= 10x and < 2 s)"
else
  echo "goal:    MISSED (want >= 10x and < 2 s)"
  [[ ${BENCH_STRICT:-0} == 1 ]] && exit 1
fi
exit 0
