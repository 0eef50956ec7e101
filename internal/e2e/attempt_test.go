package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// A job requeued mid-run (scontrol requeue, as after a preemption or a node
// failure) runs again as attempt 1 under the same id: nothing of attempt 0
// (its stop requests, fence, records) stops or fails it. It passes, and
// job-result.json says attempt 1 and lists attempt 0, whose records stay.
func TestLabRequeue(t *testing.T) {
	lt := requireLab(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	j := newJob(t, lt, "agg-tiny.yaml", "--server-name", "tiny_tp4", "--test-prefix", "aggr", "--sbatch-arg=--requeue")
	j.env = append(j.env, "EXAMPLE_SLEEP=8")
	// No --wait: the follower's view of a requeue is not what is tested here.
	cmd := exec.CommandContext(ctx, j.bin, append([]string{"submit"}, j.args...)...)
	cmd.Env = j.environ()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("noderun submit: %v\n%s", err, out)
	}
	j.jobID, _, _ = strings.Cut(string(out), "\n")
	t.Logf("job %s submitted: workspace %s", j.jobID, j.ws.Dir)
	state := j.followState(ctx)
	worker := taskKey{jobspec.RoleWorker, 0}
	j.waitRecordState(ctx, worker, workspace.StateRunning)
	if _, err := j.lab.Run(ctx, "scontrol", "requeue", j.jobID); err != nil {
		t.Fatal(err)
	}
	t.Logf("job %s requeued", j.jobID)
	if st := state(); st != "COMPLETED" {
		t.Errorf("job %s ended in state %q, want COMPLETED", j.jobID, st)
	}
	j.checkNoOrphans(ctx)
	res := j.jobResult()
	if res.Outcome != workspace.OutcomePassed || res.Attempt != 1 {
		t.Errorf("outcome %s (%s) on attempt %d, want passed on attempt 1", res.Outcome, res.Reason, res.Attempt)
	}
	if len(res.Attempts) != 1 || res.Attempts[0].Attempt != 0 || res.Attempts[0].JobID != j.jobID {
		t.Fatalf("earlier attempts %+v, want attempt 0 of job %s", res.Attempts, j.jobID)
	}
	kept := workspace.New(j.ws.Resolve(res.Attempts[0].Dir))
	if _, err := os.Stat(kept.TaskRecord(worker.role, worker.rank)); err != nil {
		t.Errorf("attempt 0's record of %s is gone: %v", worker, err)
	}
	spec := j.spec()
	for k, rec := range j.records(spec) {
		if rec.Attempt != 1 || rec.Submission != spec.Submission {
			t.Errorf("%s: record of attempt %d (submission %q), want attempt 1 of %q", k, rec.Attempt, rec.Submission, spec.Submission)
		}
	}
	r := j.results(spec)
	if r.doc.Tests != 4 || r.doc.Failures != 0 || r.doc.Errors != 0 {
		t.Errorf("results.xml: tests=%d failures=%d errors=%d, want 4 passing", r.doc.Tests, r.doc.Failures, r.doc.Errors)
	}
}
