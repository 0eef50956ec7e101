package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/slurmlab"
	"github.com/noderun/noderun/internal/workspace"
)

// kill -9 of `noderun job` while the tasks run: Slurm ends the job
// (FAILED), nothing of the job writes a result, so the follower does, at
// once: every task is an error saying the batch step was killed, and
// submit --wait exits 1 (outcome failed, Slurm's state).
func TestLabBatchStepKilled(t *testing.T) {
	lt := requireLab(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	j := newJob(t, lt, "disagg-tiny.yaml")
	j.env = append(j.env, "EXAMPLE_SLEEP=60")
	j.start(ctx)
	j.waitAllRunning(ctx)
	procs, err := slurmlab.Processes(j.ws.Dir)
	var batch []slurmlab.Process
	for _, p := range procs {
		if strings.HasPrefix(p.Cmdline, filepath.Join(j.ws.Dir, "bin", "noderun")+" job ") {
			batch = append(batch, p)
		}
	}
	if err != nil || len(batch) != 1 {
		t.Fatalf("find the batch step's noderun job: %v, %v", batch, err)
	}
	killed := time.Now()
	if err := syscall.Kill(batch[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	code := j.wait()
	t.Logf("submit --wait ended %s after kill -9 of noderun job", time.Since(killed).Round(time.Millisecond))
	if code != exitcode.Failure {
		t.Errorf("submit --wait exited %d, want %d", code, exitcode.Failure)
	}
	if took := time.Since(killed); took > 30*time.Second {
		t.Errorf("the follower took %s to write the results of a killed batch step, want at most 30 s", took.Round(time.Second))
	}
	res := j.jobResult()
	if res.Outcome != workspace.OutcomeFailed || !strings.Contains(res.Reason, "killed by SIGKILL") || res.Start.IsZero() {
		t.Errorf("outcome %s (%s), start %s; want failed, saying the batch step was killed by SIGKILL", res.Outcome, res.Reason, res.Start)
	}
	spec := j.spec()
	r := j.results(spec)
	for _, k := range expectedTasks(spec) {
		if !anyContains(r.problems(k), "killed by SIGKILL") {
			t.Errorf("task %s: no error saying the batch step was killed among %q", k, r.problems(k))
		}
	}
	j.checkNoOrphans(ctx)
}

// envNodeFailure asks for TestLabNodeFailure.
const envNodeFailure = "NODERUN_LAB_NODE_FAILURE"

// kill -9 of one node (its slurmd, slurmstepds and tasks) while a
// two-node job runs: Slurm marks it DOWN and ends the job in NODE_FAIL;
// the outcome is node_failure naming the node, the rank that ran there is
// lost on it, and submit --wait exits 82 within 2 minutes. The node is
// revived afterwards for the tests that follow.
//
// Killing a node kills every job step on it, and the lab packs the jobs of
// parallel tests (of every package) onto shared nodes: the test runs only
// when asked, with nothing else on the lab. scripts/test.sh runs it alone
// after the suite.
func TestLabNodeFailure(t *testing.T) {
	if os.Getenv(envNodeFailure) == "" {
		t.Skipf("kills a lab node under every job on it: runs alone, with %s=1 (scripts/test.sh does, after the suite)", envNodeFailure)
	}
	lt := requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// --no-requeue: Slurm requeues a batch job after a node failure by
	// default (JobRequeue=1), and a second attempt is not what is tested.
	j := newJob(t, lt, "disagg-tiny.yaml", "--sbatch-arg=--no-requeue")
	j.env = append(j.env, "EXAMPLE_SLEEP=120")
	j.start(ctx)
	ctx0 := taskKey{"CTX_0", 0}
	j.waitRecordState(ctx, ctx0, workspace.StateRunning)
	rec, err := workspace.LoadTaskRecord(j.ws.TaskRecord(ctx0.role, ctx0.rank))
	if err != nil {
		t.Fatal(err)
	}
	// CTX_0 runs on the job's second node, away from the batch step.
	node := rec.Node
	failed := time.Now()
	j.labNode(ctx, "fail-node", node)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		j.labNode(ctx, "revive-node", node)
	})
	code := j.wait()
	took := time.Since(failed)
	t.Logf("verdict %s after node %s failed", took.Round(time.Second), node)
	if code != exitcode.JobNodeFailure {
		t.Errorf("submit --wait exited %d, want %d", code, exitcode.JobNodeFailure)
	}
	if took > 2*time.Minute {
		t.Errorf("the verdict came %s after the node failed, want within 2 minutes", took.Round(time.Second))
	}
	res := j.jobResult()
	if res.Outcome != workspace.OutcomeNodeFailure || res.FailedNode != node || !strings.Contains(res.Reason, node) {
		t.Errorf("outcome %s, failed node %q (%s); want node_failure naming %s", res.Outcome, res.FailedNode, res.Reason, node)
	}
	if c := res.RootCause; c == nil || c.Role != ctx0.role || c.Rank == nil || *c.Rank != 0 || c.Node != node {
		t.Errorf("root cause %+v, want CTX_0 rank 0 on %s", c, node)
	}
	if out := stepOutcomes(res)[ctx0.role]; out == workspace.StepSucceeded || out == workspace.StepStoppedAfterDeciding {
		t.Errorf("step CTX_0: outcome %s, want it failed with its node", out)
	}
	r := j.results(j.spec())
	if !anyContains(r.problems(ctx0), "lost on node "+node) || anyContains(r.problems(ctx0), "stopped after") {
		t.Errorf("CTX_0 rank 0: errors %q, want it lost on node %s", r.problems(ctx0), node)
	}
}

// labNode runs scripts/slurm-lab.sh fail-node or revive-node for node.
func (j *labJob) labNode(ctx context.Context, cmd, node string) {
	j.t.Helper()
	c := exec.CommandContext(ctx, "bash", filepath.Join(j.root, "scripts", "slurm-lab.sh"), cmd, "--node", node, "--dir", j.lab.Dir)
	c.Env = j.lab.Env()
	if out, err := c.CombinedOutput(); err != nil {
		j.t.Fatalf("slurm-lab.sh %s --node %s: %v\n%s", cmd, node, err, out)
	}
}

// A job asking more nodes than its partition allows (the lab's small
// partition, MaxNodes=1) pends for PartitionNodeLimit: submit --wait
// cancels it at once, saying why, and exits 85.
func TestLabPartitionNodeLimit(t *testing.T) {
	lt := requireLab(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	j := newJob(t, lt, "disagg-tiny.yaml", "--partition", "small")
	code := j.run(ctx)
	if code != exitcode.JobStartFailed {
		t.Errorf("submit --wait exited %d, want %d", code, exitcode.JobStartFailed)
	}
	if j.took > 20*time.Second {
		t.Errorf("submit --wait took %s, want the job cancelled at once", j.took.Round(time.Second))
	}
	if st, err := lt.lab.Squeue(ctx, j.jobID); err != nil || slurmlab.Active(st) {
		t.Errorf("job %s is %q (%v), want it cancelled", j.jobID, st, err)
	}
	res := j.jobResult()
	if res.Outcome != workspace.OutcomeStartFailed || !strings.Contains(res.Reason, "PartitionNodeLimit") || !strings.Contains(res.Reason, "--partition") {
		t.Errorf("outcome %s (%s), want start_failed explaining PartitionNodeLimit", res.Outcome, res.Reason)
	}
	if out := j.stdout.String(); !strings.Contains(out, "PartitionNodeLimit, which cannot clear") {
		t.Errorf("submit did not say why it cancelled the job:\n%s", out)
	}
	if _, err := os.Stat(j.ws.Results()); err != nil {
		t.Error(err)
	}
}
