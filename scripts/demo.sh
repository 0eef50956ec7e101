#!/usr/bin/env bash
# The README's demo: a local, simulated disaggregated job on the shipped
# example (1 GEN server × 2 GPUs, 1 CTX server × 1 GPU, the disagg server and
# the benchmark), ending in the merged summary table. No Slurm, no GPU needed.
#
#   bash scripts/demo.sh [extra `noderun submit` flags]
#
# Needs Go, make and python3-pytest; installs make and python3-pytest with
# apt-get when they are missing and this runs as root, otherwise says what
# to run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations"

command -v go >/dev/null || { echo "demo: Go is not on PATH; install Go $(sed -n 's/^go //p' go.mod) first" >&2; exit 1; }
# command -> Debian package
missing=()
command -v make >/dev/null || missing+=(make)
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
echo "demo: workspace $ws"
set +e
./bin/noderun --log-format console submit --local --wait \
	--config examples/trtllm/tests/scripts/perf-sanity/disaggregated/disagg-tiny.yaml \
	--test-root examples/tests \
	--workspace "$ws" "$@"
rc=$?
set -e
echo
echo "demo: exit status $rc; look around in $ws:"
echo "  results.xml  summary.md  job-result.json  logs/<role>/  .noderun/tasks/<role>/<rank>.json"
exit "$rc"
