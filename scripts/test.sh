#!/usr/bin/env bash
# The whole test suite, as CI runs it (README "Quick start"; .ci/run execs it):
#
#   1. packages   Debian packages the tests need, installed when missing
#   2. modules    go mod download
#   3. vet        make vet: gofmt -l, go vet and staticcheck (pinned in go.mod)
#   4. lab        a local Slurm lab (scripts/slurm-lab.sh start: 4 nodes)
#   5. examples   the example pytest suite collects and its unit case passes;
#                 the TensorRT-LLM stand-in passes its self-tests
#   6. go test    go test ./... with NODERUN_SLURM_LAB and SLURM_CONF set, so
#                 the integration tests run against real Slurm
#   7. node failure  TestLabNodeFailure alone (it kills a lab node under every
#                 job on it), when the lab runs and the whole tree is tested
#   8. scale      TestLabScale alone: 256 stand-in tasks pass, then are
#                 cancelled, on a lab of its own of 8 nodes x 32 CPUs (when
#                 the lab runs and the whole tree is tested); scripts/bench-scale.sh
#                 measures sizes up to 1,024
#
# The lab is stopped on exit if this script started it; a lab that already
# ran (NODERUN_SLURM_LAB set and healthy) is used and left running.
# Exits non-zero on the first failing phase, printing how long each took.
#
# Needs root (or password-less sudo) for apt-get and the lab. Otherwise it
# prints the commands to run first. NODERUN_NO_SLURM_LAB=1 runs without the
# lab: the integration tests then skip, and the script says so.
# Knobs: NODERUN_LAB_DIR / NODERUN_LAB_PORT_BASE (where the lab lives),
# NODERUN_SCALE_CI_LAB_DIR / NODERUN_SCALE_CI_LAB_PORT (the scale phase's lab,
# default /tmp/noderun-scale-ci-lab, ports 18600..18608),
# NODERUN_GO_TEST_TIMEOUT (default 30m), NODERUN_GO_PACKAGES (default ./...).
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations"

# tool -> Debian package; slurm-lab.sh would install the Slurm ones itself,
# one apt-get run for all is faster. make runs the Makefile's vet.
readonly PACKAGES=(make gcc libc6-dev python3-pytest python3-yaml python3-junitparser libxml2-utils time slurmctld slurmd slurm-client munge chromium)
readonly GO_TEST_TIMEOUT=${NODERUN_GO_TEST_TIMEOUT:-30m}
# NODERUN_GO_PACKAGES narrows vet and test while working on one package.
read -r -a GO_PACKAGES <<<"${NODERUN_GO_PACKAGES:-./...}"

declare -a phase_names=() phase_secs=()
phase_start=0
phase_name=""
begin() {
	phase_name=$1
	phase_start=$(date +%s.%N)
	echo "==> $phase_name"
}
end() {
	local s
	s=$(awk -v a="$phase_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	phase_names+=("$phase_name")
	phase_secs+=("$s")
	echo "<== $phase_name: ${s}s"
	phase_name=""
}
report() {
	local rc=$? i
	[[ -n $phase_name ]] && echo "!!! phase '$phase_name' failed (exit $rc)" >&2
	echo "---- timings"
	for i in "${!phase_names[@]}"; do printf '  %-12s %6ss\n' "${phase_names[$i]}" "${phase_secs[$i]}"; done
	if [[ ${lab_started:-0} == 1 ]]; then
		bash scripts/slurm-lab.sh stop --dir "$lab_dir" || rc=1
	fi
	if [[ ${scale_lab_started:-0} == 1 ]]; then
		bash scripts/slurm-lab.sh stop --dir "$scale_lab_dir" || rc=1
	fi
	if ((rc == 0)); then echo "---- all tests passed"; else echo "---- FAILED (exit $rc)" >&2; fi
	exit "$rc"
}
trap report EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		return 127
	fi
}

# ---- 1. packages
begin packages
command -v go >/dev/null || { echo "go is not on PATH: install Go (see go.mod for the version)" >&2; exit 1; }
missing=()
for p in "${PACKAGES[@]}"; do
	[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
	if ! command -v apt-get >/dev/null; then
		echo "missing packages: ${missing[*]} (no apt-get here: install their equivalents)" >&2
		exit 1
	fi
	if [[ $(id -u) -ne 0 ]] && ! { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; then
		cat >&2 <<EOF
These Debian packages are missing and installing them needs root:
  sudo apt-get update
  sudo apt-get install -y --no-install-recommends ${missing[*]}
The Slurm lab needs root too; then run:
  sudo bash scripts/test.sh
EOF
		exit 1
	fi
	echo "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	aptlog=$(mktemp)
	# A fresh image has empty package lists: update only when they lack a package.
	if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update >"$aptlog" 2>&1 || { tail -n 20 "$aptlog" >&2; exit 1; }
	fi
	# Stale package lists give 404s: update once and try again.
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1 ||
		{ as_root env DEBIAN_FRONTEND=noninteractive apt-get update >>"$aptlog" 2>&1 &&
			as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1; } ||
		{ tail -n 30 "$aptlog" >&2; exit 1; }
	rm -f "$aptlog"
fi
end

# ---- 2. modules
begin modules
go mod download
end

# ---- 3. vet
begin vet
make --no-print-directory vet PKGS="${GO_PACKAGES[*]}"
end

# ---- 4. lab
begin lab
lab_started=0
lab_dir=${NODERUN_SLURM_LAB:-${NODERUN_LAB_DIR:-/tmp/noderun-slurm-lab}}
if [[ ${NODERUN_NO_SLURM_LAB:-0} == 1 ]]; then
	echo "NODERUN_NO_SLURM_LAB=1: no Slurm lab; the integration tests will SKIP" >&2
	unset NODERUN_SLURM_LAB
elif [[ -n ${NODERUN_SLURM_LAB:-} ]] && bash scripts/slurm-lab.sh status --dir "$lab_dir" >/dev/null 2>&1; then
	echo "using the running lab in $lab_dir (left running)"
else
	if [[ $(id -u) -ne 0 ]] && ! { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; then
		cat >&2 <<EOF
The Slurm lab needs root. Either run the suite as root:
  sudo bash scripts/test.sh
or start the lab once as root and point the suite at it:
  sudo bash scripts/slurm-lab.sh start --dir $lab_dir
  NODERUN_SLURM_LAB=$lab_dir bash scripts/test.sh
(NODERUN_NO_SLURM_LAB=1 runs without it; the real-Slurm tests then skip.)
EOF
		exit 1
	fi
	lab_started=1
	bash scripts/slurm-lab.sh start --dir "$lab_dir"
fi
if [[ ${NODERUN_NO_SLURM_LAB:-0} != 1 ]]; then
	eval "$(bash scripts/slurm-lab.sh env --dir "$lab_dir")"
	echo "NODERUN_SLURM_LAB=$NODERUN_SLURM_LAB SLURM_CONF=$SLURM_CONF"
fi
end

# ---- 5. examples
begin examples
(cd examples/tests && pytest -q)
# The TensorRT-LLM stand-in checks itself: its launcher, conftest options and
# role files, given exactly the contract and given one clause broken.
(cd examples/trtllm/selftest && pytest -q)
end

# ---- 6. go test
begin "go test"
# -count=1: a cached result says nothing about the lab running now.
go test -count=1 -timeout "$GO_TEST_TIMEOUT" "${GO_PACKAGES[@]}"
end

# ---- 7. node failure
# Killing a lab node kills every job on it: this test runs alone, after the rest.
if [[ -n ${NODERUN_SLURM_LAB:-} && ${NODERUN_GO_PACKAGES:-./...} == ./... ]]; then
	begin "node failure"
	NODERUN_LAB_NODE_FAILURE=1 go test -count=1 -timeout 5m -run '^TestLabNodeFailure$' ./internal/e2e
	end
else
	echo "node failure: skipped (no lab, or NODERUN_GO_PACKAGES narrows the packages)"
fi

# ---- 8. scale
# Its own lab: the one above runs 4 tasks a node, and its tests' timing
# assumes that. That one is done with by now: stopped first if started here.
can_root() { [[ $(id -u) -eq 0 ]] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; }
if [[ -n ${NODERUN_SLURM_LAB:-} && ${NODERUN_GO_PACKAGES:-./...} == ./... ]] && can_root; then
	begin scale
	if [[ $lab_started == 1 ]]; then
		bash scripts/slurm-lab.sh stop --dir "$lab_dir"
		lab_started=0
	fi
	scale_lab_dir=${NODERUN_SCALE_CI_LAB_DIR:-/tmp/noderun-scale-ci-lab}
	if bash scripts/slurm-lab.sh status --dir "$scale_lab_dir" >/dev/null 2>&1; then
		echo "using the running lab in $scale_lab_dir (left running)"
	else
		scale_lab_started=1
		bash scripts/slurm-lab.sh start --dir "$scale_lab_dir" --port-base "${NODERUN_SCALE_CI_LAB_PORT:-18600}" --nodes 8 --cpus 32
	fi
	(
		eval "$(bash scripts/slurm-lab.sh env --dir "$scale_lab_dir")"
		NODERUN_LAB_SCALE=1 go test -count=1 -timeout 10m -run '^TestLabScale$' ./internal/e2e
	)
	end
else
	echo "scale: skipped (no lab, NODERUN_GO_PACKAGES narrows the packages, or no root for its lab)"
fi
