package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/slurmlab"
	"github.com/noderun/noderun/internal/workspace"
)

// noderunCmd is `noderun ARGS…` with submit's environment.
func (j *labJob) noderunCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, j.bin, args...)
	cmd.Env = j.environ()
	return cmd
}

// noderun runs `noderun ARGS…` to its end and returns its status and output.
func (j *labJob) noderun(ctx context.Context, args ...string) (int, string, string) {
	j.t.Helper()
	cmd := j.noderunCmd(ctx, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		j.t.Fatalf("noderun %v: %v", args, err)
	}
	j.t.Logf("noderun %s: exit %d", strings.Join(args[:1], " "), code)
	return code, stdout.String(), stderr.String()
}

// A second submit into a running job's workspace exits 2 naming the job and
// leaves it alone; `noderun cancel` then stops it: scancel, the merge, the
// summary, exit 81, and the first job's results are its own.
func TestLabSecondSubmitAndCancel(t *testing.T) {
	lt := requireLab(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	j := newJob(t, lt, "disagg-tiny.yaml")
	j.env = append(j.env, "EXAMPLE_SLEEP=60")
	j.start(ctx)
	bench := taskKey{jobspec.RoleBenchmark, 0}
	j.waitRecordState(ctx, bench, workspace.StateRunning)

	code, _, stderr := j.noderun(ctx, append([]string{"submit"}, j.args...)...)
	if code != exitcode.Usage || !strings.Contains(stderr, "belongs to job "+j.jobID) || !strings.Contains(stderr, "noderun cancel --workspace") {
		t.Fatalf("second submit exited %d, want 2 naming job %s and noderun cancel:\n%s", code, j.jobID, stderr)
	}
	if r, err := workspace.LoadTaskRecord(j.ws.TaskRecord(bench.role, bench.rank)); err != nil || r.State != workspace.StateRunning {
		t.Fatalf("the first job's task record was touched: %+v, %v", r, err)
	}

	code, stdout, stderr := j.noderun(ctx, "cancel", "--workspace", j.ws.Dir)
	if code != exitcode.JobCancelled || !strings.Contains(stdout, "cancelled") {
		t.Errorf("noderun cancel exited %d, want %d:\n%s\n%s", code, exitcode.JobCancelled, stdout, stderr)
	}
	if code := j.wait(); code != exitcode.JobCancelled {
		t.Errorf("the first submit --wait exited %d, want %d", code, exitcode.JobCancelled)
	}
	if res := j.jobResult(); res.JobID != j.jobID || res.Outcome != workspace.OutcomeCancelled || !strings.Contains(res.Reason, "cancelled by ") || !strings.Contains(res.Reason, "(noderun cancel)") {
		t.Errorf("job-result.json: job %s outcome %s (%s), want job %s cancelled, by whom through noderun cancel", res.JobID, res.Outcome, res.Reason, j.jobID)
	}
	if _, err := os.Stat(j.ws.Results()); err != nil {
		t.Error(err)
	}
}

// SIGTERM to submit --wait (a Jenkins abort) cancels the job: it is gone
// from squeue and its results are written within KillWait (2 s) + 10 s,
// and submit exits 143 after the summary.
func TestLabAbortCancels(t *testing.T) {
	lt := requireLab(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	j := newJob(t, lt, "disagg-tiny.yaml")
	j.env = append(j.env, "EXAMPLE_SLEEP=60")
	j.start(ctx)
	j.waitRecordState(ctx, taskKey{jobspec.RoleBenchmark, 0}, workspace.StateRunning)
	sent := time.Now()
	if err := j.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := j.wait()
	took := time.Since(sent)
	if code != 143 {
		t.Errorf("submit --wait exited %d after SIGTERM, want 143", code)
	}
	if took > 12*time.Second {
		t.Errorf("submit --wait took %s after SIGTERM, want at most KillWait + 10 s", took.Round(time.Millisecond))
	}
	if st, err := lt.lab.Squeue(ctx, j.jobID); err == nil && slurmlab.Active(st) {
		t.Errorf("job %s is still %s after the abort", j.jobID, st)
	}
	out := j.stdout.String()
	if !strings.Contains(out, "SIGTERM: cancelling job "+j.jobID) {
		t.Errorf("submit did not say what it did:\n%s", out)
	}
	// Not j.jobResult: submit's 143 is the abort's, not the outcome's.
	if res, err := j.ws.LoadJobResult(); err != nil || res.Outcome != workspace.OutcomeCancelled {
		t.Errorf("result %+v, %v; want cancelled", res, err)
	}
}

// A pending job: status shows it with Slurm's reason, wait re-attaches, and
// cancel ends both with the results of a job that never started.
func TestLabPendingWaitAndCancel(t *testing.T) {
	lt := requireLab(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	j := newJob(t, lt, "disagg-tiny.yaml", "--sbatch-arg=--begin=now+1hour")
	code, stdout, stderr := j.noderun(ctx, append([]string{"submit"}, j.args...)...)
	if code != 0 {
		t.Fatalf("submit exited %d:\n%s", code, stderr)
	}
	j.jobID = strings.TrimSpace(stdout)

	code, stdout, _ = j.noderun(ctx, "status", "--workspace", j.ws.Dir, "--json")
	var st struct {
		JobID   string `json:"job_id"`
		State   string `json:"state"`
		Reason  string `json:"reason"`
		Attempt *int   `json:"attempt"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || code != 0 || st.JobID != j.jobID || st.State != "PENDING" || !strings.Contains(st.Reason, "BeginTime") || st.Attempt == nil {
		t.Errorf("status --json (exit %d): %s (%v)", code, stdout, err)
	}

	wait := j.noderunCmd(ctx, "wait", "--workspace", j.ws.Dir)
	var waitOut strings.Builder
	wait.Stdout = &waitOut
	if err := wait.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	code, stdout, stderr = j.noderun(ctx, "cancel", "--workspace", j.ws.Dir)
	if code != exitcode.JobCancelled {
		t.Errorf("cancel of a pending job exited %d, want %d:\n%s\n%s", code, exitcode.JobCancelled, stdout, stderr)
	}
	err := wait.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitcode.JobCancelled {
		t.Errorf("wait exited with %v, want %d:\n%s", err, exitcode.JobCancelled, waitOut.String())
	}
	res, err := j.ws.LoadJobResult()
	if err != nil || res.Outcome != workspace.OutcomeCancelled || !strings.Contains(res.Reason, "without a result of its own") {
		t.Errorf("result %+v, %v; want cancelled, written by the follower", res, err)
	}
	if b, err := os.ReadFile(j.ws.Results()); err != nil || !strings.Contains(string(b), "CANCELLED") {
		t.Errorf("results.xml does not say why the tasks have nothing: %v\n%s", err, b)
	}
}
