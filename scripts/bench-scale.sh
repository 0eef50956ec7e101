#!/usr/bin/env bash
# bench-scale.sh — how noderun grows with the task count on a real Slurm.
#
# Starts (or reuses) a lab of 32 nodes x 32 CPUs in its own folder and ports,
# with a cluster's KillWait (30 s, Slurm's default; the test lab's is 2 s),
# and runs one aggregated job per size: a WORKER step of N tasks, 32 a node
# (8 tasks: one node of 8), whose child is a stand-in pytest (examples/scale/pytest:
# a one-testcase junit file). Per size it prints:
#   wall      submission -> `noderun wait` returned (it polls 1, 2, 4 s:
#             coarse) and in-job, job-result.json's start -> end
#   cpu/task  the mean on-CPU time of `noderun run` up to its child's start:
#             the stand-in sums its parent's /proc/<pid>/task/*/schedstat,
#             less the same of a bare srun task of the layout (slurmstepd's
#             work between fork and exec, 15-20 ms a task on the lab)
#   start     for scale: the mean CPU of a bare `noderun --version` that
#             each task of the same layout runs (exec, dynamic loader, Go
#             runtime and package init: what any runner pays before its
#             own work), as bash's `time` reads it
#   rss       the peak RSS (VmHWM) of `noderun job`, the supervisor, read
#             from /proc every 50 ms while it runs
#   cancel    a second job of N tasks whose stand-ins wait to be stopped,
#             followed by `noderun wait` as submit --wait would: once every
#             task's child runs, scancel -> job-result.json (the supervisor's
#             merge, or the follower's), with the tasks results.xml shows
#             as still stopping or dead then, and after `noderun wait` (the
#             follower merges what landed late; a runner Slurm killed at the
#             end of KillWait before it recorded its end is "killed" then)
#   ws ops    8 tasks of the same job in --local mode (the same runner) under
#             strace: per task, the runner's calls on the workspace that
#             cost a shared filesystem a round trip (open, stat, mkdir,
#             rename, unlink, fsync, close, readdir), its data reads and
#             writes (log lines, records; cached by an NFS client), and its
#             polling (stop request, fence)
#   local     the same job in --local mode (no Slurm: every task a local
#             process), 32 and 256 tasks (and 1,024 with --with-1024):
#             submit -> summary
# Then the ratios, and the goals of issue 13 (exit 1 when one is missed):
#   T(1024)/T(256) <= 5 (in-job wall; only with --with-1024), cpu/task <= 10 ms
#   at the largest size, scancel -> results <= 10 s, and after the follower
#   every task shows how it ended (no task still stopping or dead), and at
#   most 30 workspace round trips per task besides polling; locally,
#   T(256)/T(32) <= 12, and 1,024 tasks complete (with --with-1024).
#
# Usage:
#   scripts/bench-scale.sh               8, 64 and 256 tasks
#   scripts/bench-scale.sh --with-1024   also 1,024 (minutes on a small machine)
#   SIZES="8 64" scripts/bench-scale.sh
# Env:   NODERUN_SCALE_LAB_DIR=DIR   the lab's folder (default /tmp/noderun-scale-lab);
#                                    a lab of the right size already there is reused
#        NODERUN_SCALE_LAB_PORT=P    its port base (default 18700: P..P+32)
#        NODERUN_SCALE_KILL_WAIT=S   the lab's KillWait (default 30)
#        NODERUN_SCALE_PROCTRACK=T   the lab's process tracking, linuxproc
#                                    (default) or pgid (slurm-lab.sh --help)
#        NODERUN_SCALE_KEEP_LAB=1    leave the lab running at the end
#        NODERUN_BIN=PATH            the noderun to bench (default: `make build`)
# Needs: root (the lab), go and make (unless NODERUN_BIN), python3, strace
# (installed with apt-get when missing).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench-scale: $*" >&2; exit 2; }
sizes=${SIZES:-8 64 256}
local_sizes="32 256"
while [[ $# -gt 0 ]]; do
	case $1 in
	--with-1024) sizes="$sizes 1024" local_sizes="$local_sizes 1024"; shift ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done
for n in $sizes; do
	[[ $n =~ ^[1-9][0-9]*$ ]] && ((n <= 1024 && (n <= 32 || n % 32 == 0))) ||
		die "size '$n': give up to 32, or a multiple of 32 up to 1024"
done
command -v python3 >/dev/null || die "python3 not found (it reads the results)"

lab=${NODERUN_SCALE_LAB_DIR:-/tmp/noderun-scale-lab}
port=${NODERUN_SCALE_LAB_PORT:-18700}
kill_wait=${NODERUN_SCALE_KILL_WAIT:-30}
proctrack=${NODERUN_SCALE_PROCTRACK:-linuxproc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-scale.XXXXXX")
cleanup() {
	[[ -n ${NODERUN_SCALE_KEEP_LAB:-} ]] || bash "$root/scripts/slurm-lab.sh" stop --dir "$lab" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the lab: start is a no-op on a running lab of this size
NODERUN_LAB_TIMEOUT=120 bash "$root/scripts/slurm-lab.sh" start --dir "$lab" --port-base "$port" --nodes 32 --cpus 32 --kill-wait "$kill_wait" --proctrack "$proctrack" >&2
eval "$(bash "$root/scripts/slurm-lab.sh" env --dir "$lab")"
for v in $(compgen -e); do
	if [[ $v == SLURM_* && $v != SLURM_CONF ]]; then unset "$v"; fi
done

# ---- the binary
bin=${NODERUN_BIN:-}
if [[ -z $bin ]]; then
	command -v go >/dev/null || die "go not found: install Go or set NODERUN_BIN"
	bin=$tmp/noderun
	make -C "$root" --no-print-directory build BIN="$bin" >&2
fi
[[ -x $bin ]] || die "$bin is not executable"

# ---- the stand-in pytest (examples/scale/pytest): a junit file of one
# passing testcase, and its runner's CPU up to its start.
standin=$root/examples/scale/pytest
export NODERUN_SCALE_CPU=1

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

wait_idle() {
	local i
	for ((i = 0; i < 1200; i++)); do
		if [[ -z $(squeue -h -o %i) && -z $(sinfo -h -o %t | grep -v '^idle$') ]]; then return 0; fi
		sleep 0.1
	done
	die "the lab did not become idle within 120 s"
}

# config N: examples/scale/config.yaml.in for N GPUs, 32 (or N) a node.
config() {
	local n=$1 gpn=$(($1 < 32 ? $1 : 32))
	sed -e "s/@TASKS@/$n/" -e "s/@GPUS_PER_NODE@/$gpn/" "$root/examples/scale/config.yaml.in" >"$tmp/scale$n.yaml"
	echo "$tmp/scale$n.yaml"
}

submit_args() {
	echo --config "$(config "$1")" --server-name scale --pytest "$standin" --test-root "$tmp" \
		--no-gres-gpus --gpu-precheck off --max-gpus-per-node 32 --kill-grace 1s --fence-timeout 5m
}

# watch_rss WS OUT: the last VmHWM (kB) of WS's `noderun job`, until it ends.
watch_rss() {
	local ws=$1 out=$2 pid="" hwm i
	for ((i = 0; i < 6000; i++)); do
		pid=$(pgrep -o -f "^$ws/bin/noderun job " || true)
		[[ -z $pid && ! -e $ws/job-result.json ]] || break
		sleep 0.02
	done
	[[ -n $pid ]] || return 0
	while hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null) && [[ -n $hwm ]]; do
		echo "$hwm" >"$out"
		sleep 0.02
	done
}

# run N: "CLIENT INJOB CPU_MS RSS_MB"
run() {
	local n=$1 ws=$tmp/run$1 t0 client
	wait_idle
	rm -f "$tmp/rss$n"
	t0=$(now)
	# shellcheck disable=SC2046
	"$bin" submit --workspace "$ws" $(submit_args "$n") >"$ws.out" 2>&1 ||
		{ cat "$ws.out" >&2; die "submit of the $n-task job failed"; }
	watch_rss "$ws" "$tmp/rss$n" &
	local watch_pid=$!
	"$bin" wait --workspace "$ws" >>"$ws.out" 2>&1 || { cat "$ws.out" >&2; die "the $n-task job did not pass"; }
	client=$(since "$t0")
	wait "$watch_pid" || true
	python3 - "$ws" "$n" "$client" "$tmp/rss$n" <<-'EOF'
		import glob, json, sys, datetime
		ws, n, client, rssf = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
		res = json.load(open(ws + "/job-result.json"))
		recs = [json.load(open(p)) for p in glob.glob(ws + "/.noderun/tasks/*/*.json")]
		bad = [r for r in recs if r["state"] != "exited" or r["exit_code"] != 0]
		if res["outcome"] != "passed" or len(recs) != n or bad:
		    sys.exit(f"{n} tasks: outcome {res['outcome']}, {len(recs)} records, {len(bad)} not exit 0")
		t = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
		injob = (t(res["end"]) - t(res["start"])).total_seconds()
		cpus = [int(open(p).read() or 0) for p in glob.glob(ws + "/results/*/*.xml.cpu")]
		cpu = sum(cpus) / max(len(cpus), 1) / 1e6
		try:
		    rss = int(open(rssf).read()) / 1024
		except (OSError, ValueError):
		    rss = float("nan")
		print(f"{client:.3f} {injob:.3f} {cpu:.2f} {rss:.1f}")
	EOF
}

# srun_layout N CMD...: CMD as N tasks in the layout of a job of N tasks
# (32 a node, or N on one node).
srun_layout() {
	local n=$1 gpn=$(($1 < 32 ? $1 : 32))
	shift
	srun --nodes=$((n / gpn)) --ntasks-per-node="$gpn" "$@"
}

# bare_cpu N: the mean CPU (ms) a bare task of the same layout has used when
# its child starts: slurmstepd's work between fork and exec counts in the
# runner's total, and is Slurm's, not noderun's.
bare_cpu() {
	local n=$1
	wait_idle
	srun_layout "$n" sh -c 'sh -c "cat /proc/\$PPID/task/*/schedstat"' 2>/dev/null |
		awk '{ s += $1; k++ } END { if (k == 0) exit 1; printf "%.2f\n", s / k / 1e6 }' ||
		die "the bare srun of $n tasks failed"
}

# start_cpu N: the mean CPU (ms) of a bare `noderun --version` run by each
# task of the same layout, as bash's `time` reads it (user and system).
start_cpu() {
	local n=$1
	wait_idle
	# shellcheck disable=SC2016
	srun_layout "$n" /bin/bash -c 'LC_ALL=C TIMEFORMAT="%3U %3S"; { time "$0" --version >/dev/null; } 2>&1' "$bin" 2>/dev/null |
		awk -v n="$n" 'NF == 2 { s += $1 + $2; k++ } END { if (k != n) exit 1; printf "%.2f\n", s / k * 1000 }' ||
		die "the bare noderun --version of $n tasks failed"
}

# cancel N: "SCANCEL_TO_RESULT STOPPING DEAD STOPPING_AFTER DEAD_AFTER KILLED_AFTER"
cancel() {
	local n=$1 ws=$tmp/cancel$1 id i t0 to_result
	wait_idle
	# shellcheck disable=SC2046
	NODERUN_SCALE_HOLD=600 "$bin" submit --workspace "$ws" $(submit_args "$n") >"$ws.out" 2>&1 ||
		{ cat "$ws.out" >&2; die "submit of the $n-task cancel job failed"; }
	# The follower, as `submit --wait` runs one: it writes the results when
	# Slurm kills the batch step before it could.
	"$bin" wait --workspace "$ws" >>"$ws.out" 2>&1 &
	local follower=$!
	id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["job_id"])' "$ws/.noderun/owner.json")
	for ((i = 0; ; i++)); do
		(($(ls "$ws"/results/WORKER/*.cpu 2>/dev/null | wc -l) >= n)) && break
		((i < 3000)) || { scancel "$id"; die "the $n tasks' children did not all start within 300 s"; }
		sleep 0.1
	done
	t0=$(now)
	scancel "$id"
	# 60 s, and 0.2 s more a task: at 1,024 tasks on 2 cores, slurmctld
	# alone took 14 s to pass the cancel on.
	local limit=$((60 + n / 5))
	for ((i = 0; i < limit * 20; i++)); do
		[[ -s $ws/job-result.json ]] && break
		sleep 0.05
	done
	to_result=$(since "$t0")
	[[ -s $ws/job-result.json ]] || die "no job-result.json $limit s after scancel of the $n-task job"
	local before after
	before=$(grep -c 'type="noderun.task.StillStopping"' "$ws/results.xml" || true)
	before="$before $(grep -c 'type="noderun.task.RunnerDied"' "$ws/results.xml" || true)"
	wait "$follower" || true
	after=$(grep -c 'type="noderun.task.StillStopping"' "$ws/results.xml" || true)
	after="$after $(grep -c 'type="noderun.task.RunnerDied"' "$ws/results.xml" || true)"
	after="$after $(grep -c 'type="noderun.task.KilledWhileStopping"' "$ws/results.xml" || true)"
	echo "$to_result $before $after"
}

echo "noderun: $bin"
echo "lab: $lab (32 nodes x 32 CPUs); sizes: $sizes; stand-in pytest; KillWait $kill_wait s; proctrack/$proctrack; kill grace 1 s"
run 8 >/dev/null # warm-up: page cache, the lab's first job
printf '%6s %9s %9s %9s %7s %9s %10s %9s %9s %7s\n' tasks client in-job cpu/task start rss 'scancel ->' stopping dead killed
printf '%6s %9s %9s %9s %7s %9s %10s %9s %9s %7s\n' "" "s" "s" "ms" "ms" "MiB" "results s" "job/wait" "job/wait" "wait"
: >"$tmp/table"
for n in $sizes; do
	# Assignments, not `<<<"$(...)"`: a failing run must stop the bench.
	out=$(run "$n")
	read -r client injob cpu rss <<<"$out"
	out=$(bare_cpu "$n")
	cpu=$(awk -v a="$cpu" -v b="$out" 'BEGIN { printf "%.2f", a - b }')
	start=$(start_cpu "$n")
	out=$(cancel "$n")
	read -r to_result st_b dead_b st_a dead_a killed <<<"$out"
	printf '%6d %9s %9s %9s %7s %9s %10s %9s %9s %7s\n' "$n" "$client" "$injob" "$cpu" "$start" "$rss" "$to_result" "$st_b/$st_a" "$dead_b/$dead_a" "$killed"
	echo "$n $client $injob $cpu $rss $to_result $st_b $dead_b $st_a $dead_a $start" >>"$tmp/table"
done

# ws_ops: "ROUND_TRIPS DATA POLLS TASKS" per task of 8 local tasks.
ws_ops() {
	local ws=$tmp/wsops
	# shellcheck disable=SC2046
	strace -f -y -qq -e trace=%file,%desc,clone,clone3,fork,vfork -o "$tmp/strace.txt" \
		"$bin" --log-level warn submit --local --wait --workspace "$ws" $(submit_args 8) >"$ws.out" 2>&1 ||
		{ cat "$ws.out" >&2; die "the local 8-task job under strace failed"; }
	python3 - "$tmp/strace.txt" "$ws" <<-'EOF'
		import re, sys, collections
		trace, ws = sys.argv[1], sys.argv[2]
		group = {}      # tid -> tgid
		runner = set()  # tgids running `noderun run`
		pending = {}    # tid -> flags of an unfinished clone
		ops = collections.Counter(); polls = collections.Counter(); kinds = collections.Counter()
		line_re = re.compile(r'^(\d+)\s+(.*)$')
		for line in open(trace):
		    m = line_re.match(line)
		    if not m:
		        continue
		    tid, rest = int(m.group(1)), m.group(2)
		    g = group.setdefault(tid, tid)
		    c = re.match(r'(?:<\.\.\. )?(\w+)', rest)
		    if not c:
		        continue
		    call = c.group(1)
		    if call in ('clone', 'clone3', 'fork', 'vfork'):
		        if 'unfinished' in rest:
		            pending[tid] = rest
		            continue
		        full = pending.pop(tid, '') + rest
		        r = re.search(r'= (\d+)\s*$', rest)
		        if r:
		            child = int(r.group(1))
		            group[child] = g if 'CLONE_THREAD' in full else child
		        continue
		    if rest.startswith('<...'):
		        continue  # the end of a call counted at its start
		    if call == 'execve' and '"run"' in rest and 'noderun' in rest:
		        runner.add(g)
		        continue
		    # fd-local calls never reach a shared filesystem's server.
		    if g not in runner or ws + '/' not in rest or call in ('fcntl', 'epoll_ctl', 'ioctl', 'dup', 'dup2', 'dup3', 'lseek'):
		        continue
		    path = rest
		    # Polling: the stop request's stat, the fence's go file, rank 0's
		    # listings of the fence (the directory itself, not a file in it).
		    if ('/.noderun/stop/' in path or re.search(r'/fence/[^"]*/go"', path) or
		            (call in ('openat', 'getdents64', 'close', 'newfstatat') and re.search(r'/\.noderun/fence/[^/"<>]+/[A-Z_0-9]+[>"]', path))):
		        polls[g] += 1
		    else:
		        ops[g] += 1
		        kinds[call] += 1
		n = len(set(ops) | set(polls))
		data = kinds['read'] + kinds['write'] + kinds['pread64'] + kinds['pwrite64']
		meta = sum(kinds.values()) - data
		print(f"{meta / max(n, 1):.1f} {data / max(n, 1):.1f} {sum(polls.values()) / max(n, 1):.1f} {n}")
	EOF
}
if ! command -v strace >/dev/null && [[ $(id -u) == 0 ]]; then
	apt-get install -y -qq strace >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq strace >/dev/null 2>&1; } || true
fi
ops=""
if command -v strace >/dev/null; then
	ops=$(ws_ops)
	read -r trips data polls tasks <<<"$ops"
	[[ $tasks == 8 ]] || die "the strace parser found $tasks runners of 8: it no longer recognises \`noderun run\`"
	echo "workspace per task ($tasks local tasks under strace): $trips round trips, $data data reads/writes, $polls polls"
else
	echo "strace unavailable (Debian package strace): workspace operations not measured" >&2
fi

# local_run N: seconds from submit --local to its summary, N tasks passing.
local_run() {
	local n=$1 ws=$tmp/local$1 t0
	t0=$(now)
	# shellcheck disable=SC2046
	"$bin" --log-level warn submit --local --wait --workspace "$ws" $(submit_args "$n") >"$ws.out" 2>&1 ||
		{ tail -20 "$ws.out" >&2; die "the local $n-task job did not pass"; }
	since "$t0"
}
declare -A local_t=()
for n in $local_sizes; do
	local_t[$n]=$(local_run "$n")
	echo "local simulation, $n tasks: ${local_t[$n]} s"
done

rc=0
awk '
	{ n[NR] = $1; injob[$1] = $3; cpu[$1] = $4; scancel[$1] = $6; after[$1] = $9 + $10; start[$1] = $11; last = $1 }
	END {
		fail = 0
		print ""
		for (i = 2; i <= NR; i++)
			printf "T(%d)/T(%d) = %.2f for %.0fx the tasks (in-job wall)\n", n[i], n[i-1], injob[n[i]] / injob[n[i-1]], n[i] / n[i-1]
		if ((1024 in injob) && (256 in injob)) {
			r = injob[1024] / injob[256]
			printf "goal T(1024)/T(256) <= 5: %.2f %s\n", r, r <= 5 ? "ok" : "MISSED"; fail += r > 5
		}
		printf "goal cpu/task <= 10 ms at %d tasks: %.2f ms %s (a bare noderun --version beside it: %.2f ms)\n", last, cpu[last], cpu[last] <= 10 ? "ok" : "MISSED", start[last]; fail += cpu[last] > 10
		printf "goal scancel -> results <= 10 s at %d tasks: %.2f s %s\n", last, scancel[last], scancel[last] <= 10 ? "ok" : "MISSED"; fail += scancel[last] > 10
		bad = 0
		for (k in after) bad += after[k]
		printf "goal every task in its true state after the follower: %d still stopping or dead %s\n", bad, bad == 0 ? "ok" : "MISSED"; fail += bad > 0
		exit fail > 0
	}' "$tmp/table" || rc=1
if [[ -n $ops ]]; then
	ok=$(awk -v t="$trips" 'BEGIN { print (t <= 30) ? "ok" : "MISSED" }')
	echo "goal workspace round trips <= 30 per task, besides polling: $trips $ok"
	[[ $ok == ok ]] || rc=1
else
	echo "goal workspace round trips <= 30 per task, besides polling: not measured MISSED"
	rc=1
fi
if [[ -n ${local_t[32]:-} && -n ${local_t[256]:-} ]]; then
	ok=$(awk -v a="${local_t[256]}" -v b="${local_t[32]}" 'BEGIN { r = a / b; printf "%.2f %s", r, (r <= 12) ? "ok" : "MISSED" }')
	echo "goal local T(256)/T(32) <= 12: $ok"
	[[ $ok == *ok ]] || rc=1
fi
[[ -z ${local_t[1024]:-} ]] || echo "goal local 1,024 tasks complete: ${local_t[1024]} s ok"
exit "$rc"
