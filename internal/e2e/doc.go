// Package e2e holds noderun's end-to-end tests against a real Slurm: the
// local lab of scripts/slurm-lab.sh (4 nodes n1..n4, 4 CPUs and 4 fake GPUs
// each, KillWait=2).
//
// Every test submits a job the way a user does, through the real
// `noderun submit` binary (built once per test run by internal/testbin, with
// `make build`), in a fresh workspace, with the example
// configs and the example pytest suite (examples/). It then checks what the
// job left: the exit status, WS/results.xml (counts, one suite per role and
// rank, valid against Jenkins' junit schema, which CI lays beside the
// checkout), WS/job-result.json, the task records
// WS/.noderun/tasks/<role>/<rank>.json, what each task saw
// (WS/test_output/<role>.<rank>.json, written by the example test), and that
// no process of the job outlives it.
//
// The tests skip unless NODERUN_SLURM_LAB names a running lab (scripts/test.sh
// starts one and sets it, with SLURM_CONF). By hand:
//
//	scripts/slurm-lab.sh start --dir /tmp/e2e-lab --port-base 19000
//	NODERUN_SLURM_LAB=/tmp/e2e-lab SLURM_CONF=/tmp/e2e-lab/etc/slurm.conf \
//	    go test -count=1 -v ./internal/e2e/
//
// The package has no code of its own; this file only documents it.
package e2e
