#!/usr/bin/env bash
# gpu-check.sh: check noderun's GPU handling on a machine with NVIDIA GPUs.
#
# Run once from the repository root on a GPU machine (an H100 box, a Slurm
# compute node, or a container with the driver mounted):
#
#     bash scripts/gpu-check.sh            # results in $OUT, else a temp dir
#
# It uses bin/noderun when present (build it elsewhere with `make build` and
# copy it along: GPU machines often cannot download Go modules), else tries
# `make build` offline. Then it prints the driver's view
# (nvidia-smi) next to noderun's (`noderun gpus`, plain and under a faked Slurm
# environment), cross-checks the two, and, if `noderun run` is built, runs a
# tiny two-task job spec. Every step is bounded; the whole takes well under
# two minutes. The exit status is the number of failed checks (0: all good).
set -u
cd "$(dirname "$0")/.." || exit 1

out=${OUT:-$(mktemp -d -t gpu-check.XXXXXX)}
mkdir -p "$out"
exec > >(tee "$out/gpu-check.log") 2>&1

failures=0
section() { printf '\n===== %s =====\n' "$*"; }
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# show runs a command bounded by 60 s and prints its exit status.
show() {
	echo "+ $*"
	timeout 60 "$@"
	local rc=$?
	echo "(exit status $rc)"
	return $rc
}
# capture FILE CMD... is show with stdout into FILE (kept pure, e.g. JSON).
capture() {
	local file=$1
	shift
	echo "+ $* > $file"
	timeout 60 "$@" >"$file"
	local rc=$?
	echo "(exit status $rc)"
	return $rc
}

section "binary"
nr=""
if [ -x bin/noderun ]; then
	nr=bin/noderun
	echo "using the prebuilt bin/noderun"
elif command -v go >/dev/null 2>&1 && command -v make >/dev/null 2>&1; then
	echo "no bin/noderun; make build with $(go version) (offline: GOPROXY=off)"
	if GOFLAGS=-mod=readonly GOPROXY=off timeout 300 make --no-print-directory build BIN="$out/noderun"; then
		nr=$out/noderun
	else
		echo "cannot build here (Go modules are probably not downloadable on this machine)."
		echo "Build on a machine with network access (make build) and copy bin/noderun here."
	fi
else
	echo "no bin/noderun, and no go or no make on this machine to build it with."
	echo "Build on another machine with 'make build' and copy bin/noderun here."
fi
if [ -z "$nr" ]; then
	fail "no noderun binary"
	exit "$failures"
fi
show file "$nr"
show ldd "$nr"
ldd --version 2>&1 | head -1

section "driver view"
uname -a
ldconfig -p 2>/dev/null | grep -F libnvidia-ml.so.1 || echo "libnvidia-ml.so.1 is not in the ldconfig cache"
smi_uuids=""
if command -v nvidia-smi >/dev/null 2>&1; then
	show nvidia-smi -L
	show nvidia-smi --query-gpu=index,uuid,pci.bus_id,name,memory.total,mig.mode.current --format=csv
	smi_uuids=$(timeout 60 nvidia-smi --query-gpu=uuid --format=csv,noheader | tr -d ' ')
else
	echo "nvidia-smi not found"
fi
ngpus=$(printf '%s\n' "$smi_uuids" | grep -c . || true)
echo "nvidia-smi lists $ngpus GPU(s)"

# The checks below run noderun in a clean GPU environment: whatever this
# shell inherited (a Slurm allocation, a container) must not blur them.
clean=(env -u CUDA_VISIBLE_DEVICES -u NVIDIA_VISIBLE_DEVICES -u GPU_DEVICE_ORDINAL
	-u SLURM_STEP_GPUS -u SLURM_JOB_GPUS -u SLURM_LOCALID -u LD_BIND_NOW)
echo "inherited: CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-<unset>} NVIDIA_VISIBLE_DEVICES=${NVIDIA_VISIBLE_DEVICES-<unset>} SLURM_STEP_GPUS=${SLURM_STEP_GPUS-<unset>}"

section "noderun gpus --json"
capture "$out/gpus.json" "${clean[@]}" "$nr" gpus --json
cat "$out/gpus.json"
if grep -q '"available": true' "$out/gpus.json"; then
	pass "NVML available to noderun"
else
	fail "noderun says NVML is unavailable (see inventory.unavailable above)"
fi
for u in $smi_uuids; do
	if grep -qF "\"$u\"" "$out/gpus.json"; then
		pass "nvidia-smi's $u is in noderun's inventory"
	else
		fail "nvidia-smi's $u is missing from noderun's inventory"
	fi
done

section "noderun gpus (text)"
show "${clean[@]}" "$nr" gpus

section "faked Slurm: SLURM_LOCALID=1, --mode task --gpus-per-task 1"
capture "$out/gpus-rank1.json" "${clean[@]}" SLURM_LOCALID=1 "$nr" gpus --mode task --gpus-per-task 1 --json
rc=$?
cat "$out/gpus-rank1.json"
second=$(printf '%s\n' "$smi_uuids" | sed -n 2p)
if [ "$ngpus" -ge 2 ]; then
	if [ $rc -eq 0 ] && grep -qF "\"CUDA_VISIBLE_DEVICES\": \"$second\"" "$out/gpus-rank1.json"; then
		pass "local rank 1 gets the second GPU by UUID ($second)"
	else
		fail "local rank 1 should get $second"
	fi
elif [ "$ngpus" -eq 1 ]; then
	if [ $rc -eq 74 ] && grep -q "not enough GPUs" "$out/gpus-rank1.json"; then
		pass "one GPU: local rank 1 is refused with exit status 74"
	else
		fail "one GPU: local rank 1 should be refused with exit status 74"
	fi
fi

section "faked Slurm binding: SLURM_STEP_GPUS=0 CUDA_VISIBLE_DEVICES=0, --mode node"
show "${clean[@]}" SLURM_STEP_GPUS=0 CUDA_VISIBLE_DEVICES=0 "$nr" gpus --mode node
first=$(printf '%s\n' "$smi_uuids" | sed -n 1p)
if [ -n "$first" ]; then
	got=$("${clean[@]}" SLURM_STEP_GPUS=0 CUDA_VISIBLE_DEVICES=0 timeout 60 "$nr" gpus --mode node --json | grep -F '"CUDA_VISIBLE_DEVICES"')
	case "$got" in
	*"\"$first\""*) pass "Slurm's binding to GPU 0 is kept, not widened" ;;
	*) fail "expected only $first, got: $got" ;;
	esac
fi

section "precheck: expect one GPU more than there is"
show "${clean[@]}" "$nr" gpus --expect $((ngpus + 1))
rc=$?
if [ $rc -eq 74 ]; then pass "precheck fails with exit status 74"; else fail "precheck exit status $rc, want 74"; fi

section "mode none (server and benchmark roles)"
show "${clean[@]}" "$nr" gpus --mode none

# ---------------------------------------------------------------------------
# noderun run: the lead's part. Runs only when `noderun run --help` works. A
# one-node, two-task worker step in GPU mode task; each task prints the GPU
# environment noderun gave it and what CUDA-facing tools see.
# ---------------------------------------------------------------------------
section "noderun run (two tasks, faked Slurm)"
if ! timeout 10 "$nr" run --help >/dev/null 2>&1; then
	echo "skipped: '$nr run --help' does not work in this build"
elif [ "$ngpus" -lt 2 ]; then
	echo "skipped: needs at least 2 GPUs"
else
	ws=$out/ws
	mkdir -p "$ws" "$out/local"
	node=$(hostname -s)
	pids=()
	cat >"$out/job.json" <<EOF
{
  "version": 1,
  "job": {"name": "gpu-check", "test_id": "gpu-check", "config_name": "gpu-check", "config_file": "", "layout": "aggregated"},
  "workspace": "$ws",
  "node_local_dir": "$out/local",
  "timeouts": {"setup": "60s", "fence": "60s", "step": "60s", "kill_grace": "5s", "after_deciding": "5s", "stagger": "0s"},
  "gpu": {"per_node": $ngpus, "precheck": "fail"},
  "srun": {},
  "nodes": 1,
  "steps": [{
    "role": "WORKER", "kind": "worker", "first_node": 0, "nodes": 1, "tasks": 2, "tasks_per_node": 2,
    "overlap": false, "deciding": false, "fence": false, "gpu_mode": "task", "gpus_per_task": 1, "pytest": false,
    "command": {"argv": ["sh", "-c", "echo rank=\$SLURM_PROCID CUDA_VISIBLE_DEVICES=\$CUDA_VISIBLE_DEVICES NVIDIA_VISIBLE_DEVICES=\$NVIDIA_VISIBLE_DEVICES CUDA_DEVICE_ORDER=\$CUDA_DEVICE_ORDER; nvidia-smi -L"]}
  }]
}
EOF
	for rank in 0 1; do
		"${clean[@]}" SLURM_JOB_ID=4242 SLURM_STEP_ID=0 SLURM_PROCID=$rank SLURM_LOCALID=$rank SLURM_NODEID=0 \
			SLURMD_NODENAME="$node" SLURM_JOB_NODELIST="$node" SLURM_STEP_NODELIST="$node" \
			SLURM_STEP_NUM_TASKS=2 SLURM_NTASKS=2 SLURM_JOB_NUM_NODES=1 \
			timeout 90 "$nr" run --spec "$out/job.json" --role WORKER >"$out/run-rank$rank.log" 2>&1 &
		pids+=($!)
	done
	# Wait for the two tasks only: a bare `wait` would also wait for the tee
	# that logs this script.
	wait "${pids[@]}"
	for rank in 0 1; do
		echo "--- rank $rank: noderun run's log"
		cat "$out/run-rank$rank.log"
		echo "--- rank $rank: the child's output ($ws/logs/WORKER/rank$rank.log)"
		cat "$ws/logs/WORKER/rank$rank.log" 2>/dev/null
	done
	if grep -qF "CUDA_VISIBLE_DEVICES=$first " "$ws/logs/WORKER/rank0.log" 2>/dev/null &&
		grep -qF "CUDA_VISIBLE_DEVICES=$second " "$ws/logs/WORKER/rank1.log" 2>/dev/null; then
		pass "noderun run gave rank 0 and rank 1 their own GPU by UUID"
	else
		fail "noderun run: ranks did not get GPUs $first / $second (see the logs above)"
	fi
fi

section "summary"
echo "outputs in $out"
echo "$failures check(s) failed"
exit "$failures"
