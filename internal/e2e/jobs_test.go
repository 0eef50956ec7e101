package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// The aggregated layout: one worker step of tp 4 over 2 nodes × 2 tasks, the
// deciding step itself. Every rank passes; ranks 0-1 ran on the job's first
// node, 2-3 on its second.
func TestLabAggregatedTwoNodes(t *testing.T) {
	lt := requireLab(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	j := newJob(t, lt, "agg-tiny.yaml", "--server-name", "tiny_tp4", "--test-prefix", "aggr")
	if code := j.run(ctx); code != 0 {
		t.Errorf("noderun submit --wait exited %d, want 0", code)
	}
	spec := j.spec()
	if len(spec.Steps) != 1 || spec.Nodes != 2 || spec.Steps[0].Tasks != 4 || spec.Steps[0].TasksPerNode != 2 {
		t.Fatalf("plan: %d nodes, steps %+v; want 1 worker step of 4 tasks on 2 nodes", spec.Nodes, spec.Steps)
	}
	if res := j.jobResult(); res.Verdict != "passed" {
		t.Errorf("verdict %s (%s), want passed", res.Verdict, res.Reason)
	}
	recs := j.records(spec)
	nodes := j.checkPlacement(spec, recs)
	r := j.results(spec)
	if r.doc.Tests != 4 || r.doc.Failures != 0 || r.doc.Errors != 0 {
		t.Errorf("results.xml: tests=%d failures=%d errors=%d, want 4 passing", r.doc.Tests, r.doc.Failures, r.doc.Errors)
	}
	st := &spec.Steps[0]
	for _, k := range expectedTasks(spec) {
		j.checkPassedTask(spec, k, recs[k], r)
		j.checkView(spec, st, k, recs[k])
	}
	t.Logf("ranks ran on %v", nodes)
	j.checkNoOrphans(ctx)
}

// The disaggregated layout with every role: GEN_0 (2 tasks) on the job's
// first node, CTX_0 (1 task) on its second, DISAGG_SERVER and BENCHMARK on
// the first. All pass; the env contract of each role holds.
func TestLabDisaggregatedAllRoles(t *testing.T) {
	lt := requireLab(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	j := newJob(t, lt, "disagg-tiny.yaml")
	if code := j.run(ctx); code != 0 {
		t.Errorf("noderun submit --wait exited %d, want 0", code)
	}
	spec := j.spec()
	checkDisaggPlan(t, spec)
	res := j.jobResult()
	if res.Verdict != "passed" {
		t.Errorf("verdict %s (%s), want passed", res.Verdict, res.Reason)
	}
	for role, outcome := range stepOutcomes(res) {
		if outcome != workspace.StepSucceeded {
			t.Errorf("step %s: outcome %s, want %s (every role ends on its own once the benchmark is done)", role, outcome, workspace.StepSucceeded)
		}
	}
	recs := j.records(spec)
	nodes := j.checkPlacement(spec, recs)
	r := j.results(spec)
	if r.doc.Tests != 5 || r.doc.Failures != 0 || r.doc.Errors != 0 {
		t.Errorf("results.xml: tests=%d failures=%d errors=%d, want 5 passing", r.doc.Tests, r.doc.Failures, r.doc.Errors)
	}
	for i := range spec.Steps {
		st := &spec.Steps[i]
		for k := 0; k < st.Tasks; k++ {
			key := taskKey{st.Role, k}
			j.checkPassedTask(spec, key, recs[key], r)
			j.checkView(spec, st, key, recs[key])
		}
	}
	t.Logf("job nodes %v", nodes)
	j.checkReport(ctx, spec, workspace.OutcomePassed, "")
	j.checkNoOrphans(ctx)
}

// checkDisaggPlan pins the plan of disagg-tiny that the other checks build
// on: GEN first, then CTX, then the server and the benchmark on the first
// node; the benchmark decides.
func checkDisaggPlan(t *testing.T, spec *jobspec.Spec) {
	t.Helper()
	type plan struct {
		kind             string
		first, tasks, tp int
		deciding         bool
	}
	want := map[string]plan{
		"GEN_0":         {jobspec.KindWorker, 0, 2, 2, false},
		"CTX_0":         {jobspec.KindWorker, 1, 1, 1, false},
		"DISAGG_SERVER": {jobspec.KindServer, 0, 1, 1, false},
		"BENCHMARK":     {jobspec.KindBenchmark, 0, 1, 1, true},
	}
	if spec.Nodes != 2 || len(spec.Steps) != len(want) {
		t.Fatalf("plan: %d nodes, %d steps, want 2 nodes and the steps %v", spec.Nodes, len(spec.Steps), want)
	}
	for _, st := range spec.Steps {
		got := plan{st.Kind, st.FirstNode, st.Tasks, st.TasksPerNode, st.Deciding}
		if w, ok := want[st.Role]; !ok || got != w || st.Nodes != 1 {
			t.Fatalf("plan of step %s: %+v on %d nodes, want %+v on 1 node", st.Role, got, st.Nodes, w)
		}
	}
}

// A failing benchmark fails the job: a non-zero verdict, and the failure
// (pytest's own) in results.xml under BENCHMARK. The other roles, which
// finished their part, keep their passes.
func TestLabFailingBenchmark(t *testing.T) {
	lt := requireLab(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	j := newJob(t, lt, "disagg-tiny.yaml")
	j.env = append(j.env, "EXAMPLE_FAIL_BENCHMARK=1")
	if code := j.run(ctx); code == 0 {
		t.Errorf("noderun submit --wait exited 0, want the failing benchmark's verdict")
	}
	spec := j.spec()
	res := j.jobResult()
	if res.Verdict != "failed" {
		t.Errorf("verdict %s, want failed", res.Verdict)
	}
	if o := stepOutcomes(res)[jobspec.RoleBenchmark]; o != workspace.StepFailed {
		t.Errorf("BENCHMARK step outcome %s, want %s", o, workspace.StepFailed)
	}
	recs := j.records(spec)
	j.checkPlacement(spec, recs)
	r := j.results(spec)
	bench := taskKey{jobspec.RoleBenchmark, 0}
	if rec := recs[bench]; rec != nil && (rec.State != workspace.StateExited || rec.ExitCode != 1) {
		t.Errorf("BENCHMARK record: state %s exit %d, want pytest's exit 1 for a failed test", rec.State, rec.ExitCode)
	}
	if s := r.byTask[bench]; s != nil {
		c := s.counts()
		if c != (counts{tests: 1, failures: 1}) || !strings.Contains(s.Cases[0].Failure.String(), "EXAMPLE_FAIL_BENCHMARK") {
			t.Errorf("BENCHMARK suite %s: %+v, want the test's one failure naming EXAMPLE_FAIL_BENCHMARK", s.Name, c)
		}
	}
	if r.doc.Tests != 5 || r.doc.Failures != 1 || r.doc.Errors != 0 {
		t.Errorf("results.xml: tests=%d failures=%d errors=%d, want 5 tests, 1 failure", r.doc.Tests, r.doc.Failures, r.doc.Errors)
	}
	for _, k := range expectedTasks(spec) {
		if k != bench {
			j.checkPassedTask(spec, k, recs[k], r)
		}
	}
	j.checkNoOrphans(ctx)
}

// A CTX rank that crashes at start (os._exit(3), no junit) fails the job at
// once: results.xml has an error for CTX_0 with the tail of its log, and
// every other role, stopped by the supervisor (a stop request per step:
// one SIGINT to each child), still has its suite and a record that ends as
// stopped — not one
// left "running" by a runner that was killed before it could record.
func TestLabCrashedContextRank(t *testing.T) {
	lt := requireLab(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	j := newJob(t, lt, "disagg-tiny.yaml")
	j.env = append(j.env, "EXAMPLE_CRASH_ROLE=CTX_0")
	if code := j.run(ctx); code != exitcode.Failure {
		t.Errorf("noderun submit --wait exited %d, want 1 (outcome failed), not the rank's own 3", code)
	}
	spec := j.spec()
	res := j.jobResult()
	if res.Verdict != "failed" || res.Outcome != workspace.OutcomeFailed || !strings.Contains(res.Reason, "CTX_0") {
		t.Errorf("outcome %s verdict %s (%s), want failed because of CTX_0", res.Outcome, res.Verdict, res.Reason)
	}
	if c := res.RootCause; c == nil || c.Role != "CTX_0" || c.Rank == nil || *c.Rank != 0 || c.ExitCode != 3 || c.Log != "logs/CTX_0/rank0.log" || c.Node == "" {
		t.Errorf("root cause %+v, want CTX_0 rank 0 with its own status 3, its node and its log", c)
	}
	for role, outcome := range stepOutcomes(res) {
		want := workspace.StepCancelled
		if role == "CTX_0" {
			want = workspace.StepFailed
		}
		if outcome != want {
			t.Errorf("step %s: outcome %s, want %s", role, outcome, want)
		}
	}
	recs := j.records(spec)
	j.checkPlacement(spec, recs)
	r := j.results(spec)
	ctx0 := taskKey{"CTX_0", 0}
	if rec := recs[ctx0]; rec != nil && (rec.State != workspace.StateExited || rec.ExitCode != 3 || rec.Stopped) {
		t.Errorf("CTX_0 record: state %s exit %d stopped %v, want its own exit 3", rec.State, rec.ExitCode, rec.Stopped)
	}
	found := false
	for _, p := range r.problems(ctx0) {
		// The reason, the log's name, and lines of the log itself: the
		// runner's header and pytest's.
		if missingWords(p.String(), "exited with status 3", "logs/CTX_0/rank0.log", "noderun: role=CTX_0", "test session starts") == nil {
			found = true
		}
	}
	if !found {
		t.Errorf("CTX_0: no error with the exit status and its log tail among %q", r.problems(ctx0))
	}
	for _, k := range expectedTasks(spec) {
		if k != ctx0 {
			j.checkStoppedTask(k, recs[k], r)
		}
	}
	j.checkReport(ctx, spec, workspace.OutcomeFailed, "CTX_0 rank 0 @ ")
	j.checkNoOrphans(ctx)
}

// scancel of a running job: Slurm signals every task and the batch step;
// the job still writes results.xml with the cancellation and
// job-result.json, submit --wait reports the failure, and no process of the
// job is left.
func TestLabScancel(t *testing.T) {
	lt := requireLab(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	j := newJob(t, lt, "disagg-tiny.yaml")
	j.env = append(j.env, "EXAMPLE_SLEEP=60")
	j.start(ctx)
	state := j.followState(ctx)
	bench := taskKey{jobspec.RoleBenchmark, 0}
	j.waitAllRunning(ctx)
	if err := lt.lab.Scancel(ctx, j.jobID); err != nil {
		t.Fatal(err)
	}
	cancelled := time.Now()
	if st := state(); st != "CANCELLED" {
		t.Errorf("job %s ended in state %q, want CANCELLED", j.jobID, st)
	}
	t.Logf("job left the queue %s after scancel", time.Since(cancelled).Round(time.Millisecond))
	if code := j.wait(); code != exitcode.JobCancelled {
		t.Errorf("noderun submit --wait exited %d for a cancelled job, want %d", code, exitcode.JobCancelled)
	}
	j.checkNoOrphans(ctx)
	spec := j.spec()
	res := j.jobResult()
	// A plain scancel: Slurm 22.05 does not tell who ran it, so nobody is named.
	if res.Outcome != workspace.OutcomeCancelled || res.Verdict != "failed" || !strings.Contains(res.Reason, "cancel") || strings.Contains(res.Reason, "cancelled by") || res.RootCause != nil {
		t.Errorf("outcome %s verdict %s (%s) root cause %+v, want cancelled, no root cause", res.Outcome, res.Verdict, res.Reason, res.RootCause)
	}
	r := j.checkCut(spec, res)
	if !anyContains(r.problems(bench), "cancel") {
		t.Errorf("BENCHMARK: no error naming the cancellation among %q", r.problems(bench))
	}
}

// Jobs over their --time (the benchmark would run 5 minutes): each ends,
// writes its results and leaves nothing behind, and is not stopped long
// before its limit.
func TestLabTimeLimit(t *testing.T) {
	lt := requireLab(t)
	tests := []struct {
		name string
		args []string
		// timedOut: Slurm's own limit ended the job (SIGTERM to every task
		// and the batch step, SIGKILL KillWait=2 s later), not the warning.
		timedOut bool
		reason   string // what the job's reason must say
		minRun   time.Duration
	}{
		// The default 60 s warning would reach a one-minute job at its start
		// (Slurm sends --signal on a timer, up to a minute early): submit
		// drops it, and the limit itself ends the job. The batch step asks
		// Slurm whether that SIGTERM was scancel's or the limit's.
		{"one minute, default warning", []string{"--time", "1"}, true, "time limit", 50 * time.Second},
		// Three minutes: the 30 s warning stays in the second half of the job
		// even when early (limit/2 - 60 s = 30 s); the steps are stopped
		// calmly before Slurm's limit.
		{"three minutes, 30 s warning", []string{"--time", "3", "--signal-before", "30"}, false, "time limit", 80 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			j := newJob(t, lt, "disagg-tiny.yaml", tc.args...)
			j.env = append(j.env, "EXAMPLE_SLEEP=300")
			j.start(ctx)
			state := j.followState(ctx)
			if st := state(); (st == "TIMEOUT") != tc.timedOut {
				t.Errorf("job %s ended in state %q; want TIMEOUT: %v", j.jobID, st, tc.timedOut)
			}
			if code := j.wait(); code != exitcode.JobTimeout {
				t.Errorf("noderun submit --wait exited %d for a job over its time limit, want %d", code, exitcode.JobTimeout)
			}
			j.checkNoOrphans(ctx)
			spec := j.spec()
			res := j.jobResult()
			if res.Outcome != workspace.OutcomeTimeout || res.Verdict != "failed" || !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("outcome %s verdict %s (%s), want timeout, reason mentioning %q", res.Outcome, res.Verdict, res.Reason, tc.reason)
			}
			if ran := res.End.Sub(res.Start); ran < tc.minRun {
				t.Errorf("the job was stopped after %s (%s): the warning came too early", ran.Round(time.Second), res.Reason)
			}
			j.checkCut(spec, res)
		})
	}
}

// checkCut checks a job that Slurm or its supervisor cut short while every
// role waited on the benchmark: every step ends as cancelled (none as
// failed: the stop came from outside), one suite per task, each with the
// stop as an error and no pass (no test got to its end), records that end
// as stopped.
func (j *labJob) checkCut(spec *jobspec.Spec, res *workspace.JobResult) *results {
	j.t.Helper()
	for role, outcome := range stepOutcomes(res) {
		if outcome != workspace.StepCancelled {
			j.t.Errorf("step %s: outcome %s, want %s", role, outcome, workspace.StepCancelled)
		}
	}
	recs := j.records(spec)
	j.checkPlacement(spec, recs)
	r := j.results(spec)
	for _, k := range expectedTasks(spec) {
		j.checkStoppedTask(k, recs[k], r)
		if s := r.byTask[k]; s != nil {
			if c := s.counts(); c.tests != c.failures+c.errors+c.skipped {
				j.t.Errorf("task %s: suite %s counts %d passing testcases (%+v), want none: the task was stopped before its test ended",
					k, s.Name, c.tests-c.failures-c.errors-c.skipped, c)
			}
		}
	}
	return r
}

// anyContains reports whether one of the problems' messages contains word.
func anyContains(probs []*junitProblem, word string) bool {
	for _, p := range probs {
		if strings.Contains(p.Message, word) {
			return true
		}
	}
	return false
}
