#!/usr/bin/env bash
# bench-slurm.sh — what noderun adds to a job on a real Slurm (the local lab).
#
# Runs the same trivial disaggregated job, RUNS times each, alternating:
#   (a) noderun   `noderun submit --wait` of examples/trtllm/tests/scripts/perf-sanity/disaggregated/disagg-tiny.yaml
#                 with `--pytest true`: GEN_0 (2 tasks, first node), CTX_0
#                 (1 task, second node), DISAGG_SERVER and BENCHMARK (1 task
#                 each, --overlap on the first node); every task's child is
#                 `true`, started by `noderun run` in each srun task.
#   (b) bare      a hand-written sbatch script with the same four srun steps
#                 (same nodes, tasks, --overlap, --kill-on-bad-exit, --export),
#                 each running `true` directly, waited on with `wait`.
# Before each job the bench waits until the lab is idle (no job queued, every
# node idle), so both kinds start from the same state. Per run it prints:
#   prep     noderun only: `noderun submit --dry-run` of the same job beside
#            the real run (validation, plan, workspace, binary copy): the
#            work submit does before it calls sbatch
#   queued   submission -> the batch step starts (Slurm's scheduling)
#   in-job   the batch step's start -> its work done: WS/job-result.json's
#            start and end (written by `noderun job`), or the timestamps the
#            bare script writes first and after its `wait`
#   client   submission -> `noderun submit --wait` / `sbatch --wait` returned
#            (both poll: 1, 2, 4 s and 2 s, so this is coarse)
# then the means, and noderun's added wall time per job (prep + the
# difference of in-job) and per task (5 tasks). One warm-up job of each
# comes first and is not counted. Scheduling ("queued") is left out of the
# added time: it is Slurm's, varies by up to 2 s between identical jobs on
# the lab, and is printed for reference.
#
# With `true` as pytest no junit file is written, so noderun's verdict is
# "failed (no junit)"; the bench checks instead that every task record
# shows exit 0. The merge runs and is timed either way.
#
# Usage:
#   scripts/bench-slurm.sh                 uses the lab named by NODERUN_SLURM_LAB
#                                          when it runs, else starts a private
#                                          one (and stops it at the end)
#   RUNS=10 scripts/bench-slurm.sh
# Env:   RUNS=5                     timed jobs of each kind
#        NODERUN_SLURM_LAB=DIR      a running lab (scripts/slurm-lab.sh start)
#        NODERUN_BENCH_LAB_DIR=DIR  where a private lab goes
#                                   (default /tmp/noderun-bench-lab, ports 18600+)
#        NODERUN_BIN=PATH           the noderun to bench (default: built here
#                                   with `make build`)
# Needs: root (the lab), go and make (unless NODERUN_BIN), python3.
set -euo pipefail

RUNS=${RUNS:-5}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench-slurm: $*" >&2; exit 2; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS='$RUNS': give a positive number"
command -v python3 >/dev/null || die "python3 not found (it reads job-result.json)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-slurm.XXXXXX")
lab_started=""
cleanup() {
	if [[ -n $lab_started ]]; then
		bash "$root/scripts/slurm-lab.sh" stop --dir "$lab_started" >/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the lab
lab=${NODERUN_SLURM_LAB:-}
if [[ -n $lab ]] && bash "$root/scripts/slurm-lab.sh" status --dir "$lab" >/dev/null 2>&1; then
	echo "using the running lab in $lab"
else
	lab=${NODERUN_BENCH_LAB_DIR:-/tmp/noderun-bench-lab}
	echo "starting a private lab in $lab"
	bash "$root/scripts/slurm-lab.sh" start --dir "$lab" --port-base 18600 >/dev/null
	lab_started=$lab
fi
eval "$(bash "$root/scripts/slurm-lab.sh" env --dir "$lab")"
# The bench's jobs must not inherit a Slurm job of whoever runs this.
for v in $(compgen -e); do
	if [[ $v == SLURM_* && $v != SLURM_CONF ]]; then unset "$v"; fi
done

# ---- the binary
bin=${NODERUN_BIN:-}
if [[ -z $bin ]]; then
	command -v go >/dev/null || die "go not found: install Go or set NODERUN_BIN"
	command -v make >/dev/null || die "make not found: install make (Debian package make) or set NODERUN_BIN"
	bin=$tmp/noderun
	make -C "$root" --no-print-directory build BIN="$bin" >&2
fi
[[ -x $bin ]] || die "$bin is not executable"

now() { date +%s.%N; }

# wait_idle: no job in the queue and every node idle. A job submitted while
# the previous one's nodes are still completing waits for them, which would
# add Slurm's cleanup, not noderun's work, to whichever kind runs next.
wait_idle() {
	local i
	for ((i = 0; i < 600; i++)); do
		if [[ -z $(squeue -h -o %i) && -z $(sinfo -h -o %t | grep -v '^idle$') ]]; then
			return 0
		fi
		sleep 0.1
	done
	die "the lab did not become idle within 60 s (squeue: $(squeue -h -o '%i %T' | tr '\n' ' '))"
}


# ---- (a) through noderun
# run_noderun WS: prints "PREP SUBMIT BATCH_START BATCH_END CLIENT_END"
run_noderun() {
	local ws=$1 prep_start prep submit client_end times
	local args=(--config "$root/examples/trtllm/tests/scripts/perf-sanity/disaggregated/disagg-tiny.yaml" --pytest true --test-root "$tmp"
		--kill-grace 1s --after-deciding 5s)
	prep_start=$(now)
	"$bin" submit --dry-run --workspace "$ws-dry" "${args[@]}" >/dev/null 2>&1
	prep=$(awk -v a="$prep_start" -v b="$(now)" 'BEGIN { printf "%.6f", b - a }')
	wait_idle
	submit=$(now)
	"$bin" submit --wait --workspace "$ws" "${args[@]}" >"$ws.out" 2>&1 ||
		true # the verdict is "failed": `true` writes no junit file
	client_end=$(now)
	python3 - "$ws" <<-'EOF' || { cat "$ws.out" >&2; die "noderun job in $ws did not run every task to exit 0"; }
		import glob, json, sys
		ws = sys.argv[1]
		recs = [json.load(open(p)) for p in glob.glob(ws + "/.noderun/tasks/*/*.json")]
		bad = [r for r in recs if r["state"] != "exited" or r["exit_code"] != 0]
		sys.exit(1 if len(recs) != 5 or bad else 0)
	EOF
	times=$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(r["start"], r["end"])' "$ws/job-result.json")
	read -r start end <<<"$times"
	echo "$prep $submit $(date -d "$start" +%s.%N) $(date -d "$end" +%s.%N) $client_end"
}

# ---- (b) bare sbatch + srun
cat >"$tmp/bare.sbatch" <<'EOF'
#!/bin/bash
#SBATCH --job-name=bench-bare
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=2
#SBATCH --gpus-per-node=2
date +%s.%N >"$BENCH_DIR/start"
# The layout noderun plans for disagg-tiny: GEN first, then CTX; the server
# and the benchmark share the first node.
read -r -a nodes <<<"$(scontrol show hostnames "$SLURM_JOB_NODELIST" | tr '\n' ' ')"
common=(--kill-on-bad-exit=1 --nodes=1)
srun "${common[@]}" --job-name=GEN_0 --nodelist="${nodes[0]}" --ntasks=2 --ntasks-per-node=2 --export=ALL,DISAGG_SERVING_TYPE=GEN_0 true &
srun "${common[@]}" --job-name=CTX_0 --nodelist="${nodes[1]}" --ntasks=1 --ntasks-per-node=1 --export=ALL,DISAGG_SERVING_TYPE=CTX_0 true &
srun "${common[@]}" --job-name=DISAGG_SERVER --nodelist="${nodes[0]}" --ntasks=1 --ntasks-per-node=1 --overlap --export=ALL,DISAGG_SERVING_TYPE=DISAGG_SERVER true &
srun "${common[@]}" --job-name=BENCHMARK --nodelist="${nodes[0]}" --ntasks=1 --ntasks-per-node=1 --overlap --export=ALL,DISAGG_SERVING_TYPE=BENCHMARK true &
rc=0
for job in $(jobs -p); do wait "$job" || rc=$?; done
date +%s.%N >"$BENCH_DIR/end"
exit "$rc"
EOF

# run_bare DIR: prints "0 SUBMIT BATCH_START BATCH_END CLIENT_END"
run_bare() {
	local dir=$1 submit client_end
	mkdir -p "$dir"
	wait_idle
	submit=$(now)
	sbatch --wait --export=ALL,BENCH_DIR="$dir" --output="$dir/slurm-%j.out" "$tmp/bare.sbatch" >/dev/null ||
		{ cat "$dir"/slurm-*.out >&2; die "bare job in $dir failed"; }
	client_end=$(now)
	[[ -s $dir/start && -s $dir/end ]] || die "bare job in $dir wrote no start or end time"
	echo "0 $submit $(cat "$dir/start") $(cat "$dir/end") $client_end"
}

echo "noderun: $bin"
echo "job: disagg-tiny, 4 steps, 5 tasks on 2 nodes, every child \`true\`; $RUNS runs each after 1 warm-up"
run_noderun "$tmp/warm-a" >/dev/null
run_bare "$tmp/warm-b" >/dev/null

: >"$tmp/times"
printf '%-4s %-8s %9s %9s %9s %9s\n' run kind prep queued in-job client
for ((i = 1; i <= RUNS; i++)); do
	# Alternate which kind goes first, so that neither always follows the other.
	order=(noderun bare)
	((i % 2)) || order=(bare noderun)
	for kind in "${order[@]}"; do
		# An assignment, not `< <(...)`: a failing run must stop the bench.
		if [[ $kind == noderun ]]; then
			out=$(run_noderun "$tmp/a$i")
		else
			out=$(run_bare "$tmp/b$i")
		fi
		read -r p s b e c <<<"$out"
		awk -v i="$i" -v k="$kind" -v p="$p" -v s="$s" -v b="$b" -v e="$e" -v c="$c" \
			'BEGIN { printf "%-4s %-8s %8.3fs %8.3fs %8.3fs %8.3fs\n", i, k, p, b - s, e - b, c - s }'
		echo "$kind $p $s $b $e $c" >>"$tmp/times"
	done
done

awk -v runs="$RUNS" '
	{ prep[$1] += $2; queued[$1] += $4 - $3; injob[$1] += $5 - $4; toend[$1] += $5 - $3; client[$1] += $6 - $3 }
	END {
		for (k in prep) { prep[k] /= runs; queued[k] /= runs; injob[k] /= runs; toend[k] /= runs; client[k] /= runs }
		printf "\nmeans of %d runs, seconds                noderun     bare\n", runs
		printf "  prep (submit before sbatch)          %7.3f  %7.3f\n", prep["noderun"], prep["bare"]
		printf "  queued (Slurm scheduling)            %7.3f  %7.3f\n", queued["noderun"], queued["bare"]
		printf "  in-job (batch step start -> done)    %7.3f  %7.3f\n", injob["noderun"], injob["bare"]
		printf "  submitted -> done                    %7.3f  %7.3f\n", toend["noderun"], toend["bare"]
		printf "  client (--wait returned)             %7.3f  %7.3f\n", client["noderun"], client["bare"]
		added = prep["noderun"] + injob["noderun"] - injob["bare"]
		printf "noderun adds %.3f s per job (prep + in-job difference), %.3f s per task (5 tasks)\n", added, added / 5
	}' "$tmp/times"
