#!/usr/bin/env bash
# The README's demo: a local, simulated disaggregated job in TensorRT-LLM
# mode, on the stand-in of TensorRT-LLM's checkout in examples/trtllm
# (1 GEN server × 2 GPUs, 1 CTX server × 1 GPU, the disagg server and the
# benchmark), set up the way CI sets up the real one: TRTLLM_DIR, stageName,
# LLM_MODELS_ROOT, NVIDIA_IMEX_CHANNELS and the test id settings. It ends in
# the merged summary table. No Slurm, no GPU needed.
#
#   bash scripts/demo.sh [extra `noderun submit` flags]
#
# Needs Go, make, gcc and python3-pytest; installs make, gcc and python3-pytest
# with apt-get when they are missing and this runs as root, otherwise says what
# to run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations"

command -v go >/dev/null || { echo "demo: Go is not on PATH; install Go $(sed -n 's/^go //p' go.mod) first" >&2; exit 1; }
# command -> Debian package
missing=()
command -v make >/dev/null || missing+=(make)
# The binary is built with cgo (go-nvml).
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
command -v pytest >/dev/null || missing+=(python3-pytest)
if ((${#missing[@]})); then
	if [[ $(id -u) -eq 0 ]]; then
		echo "demo: installing ${missing[*]} (Debian packages)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
	else
		echo "demo: ${missing[*]} missing; run: sudo apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
fi

echo "demo: building bin/noderun"
make --no-print-directory build

ws=$(mktemp -d "${TMPDIR:-/tmp}/noderun-demo.XXXXXX")
mkdir -p "$ws/models"
echo "demo: workspace $ws; TensorRT-LLM mode (TRTLLM_DIR=examples/trtllm)"
set +e
TRTLLM_DIR=$PWD/examples/trtllm CONFIG_NAME=disagg-tiny PERF_TEST_PREFIX=disagg_upload-e2e \
	stageName=demo-PerfSanity LLM_MODELS_ROOT="$ws/models" NVIDIA_IMEX_CHANNELS=0 \
	./bin/noderun --log-format console submit --local --wait --workspace "$ws" "$@"
rc=$?
set -e
echo
echo "demo: exit status $rc; look around in $ws:"
echo "  results.xml  summary.md  report.html  job-result.json  logs/<role>/  .noderun/tasks/<role>/<rank>.json"
echo "  disagg_upload-e2e-disagg-tiny/ (the test's own files: role logs, hostnames, Done)"
echo "  test_output/<role>.<rank>.json (what each role of the stand-in saw)"
exit "$rc"
