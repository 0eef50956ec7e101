package noderun

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// fakeStep is a step whose end the test controls; it ends with 130 when
// asked to stop (SIGINT) unless it ignores that.
type fakeStep struct {
	role       string
	ignoreStop bool
	done       chan struct{}
	once       sync.Once
	code       int
	stops      int
	mu         sync.Mutex
}

func (f *fakeStep) end(code int) {
	f.once.Do(func() { f.code = code; close(f.done) })
}
func (f *fakeStep) Done() <-chan struct{} { return f.done }
func (f *fakeStep) ExitCode() int         { <-f.done; return f.code }
func (f *fakeStep) RequestStop() {
	f.mu.Lock()
	f.stops++
	f.mu.Unlock()
	if !f.ignoreStop {
		f.end(130)
	}
}
func (f *fakeStep) Kill() { f.end(137) }

type fakeStarter struct {
	mu      sync.Mutex
	steps   map[string]*fakeStep
	started chan string
	failOn  string
	// failErr is the start failure's message, if not the default.
	failErr string
	ignore  map[string]bool
	// end and node are what JobEnd reports; "" leaves JobEnd unable to tell.
	end, node string
}

func (s *fakeStarter) JobEnd(context.Context, []string) (string, string) { return s.end, s.node }

func (s *fakeStarter) Start(_ context.Context, st *jobspec.Step, _ []string) (RunningStep, error) {
	if st.Role == s.failOn {
		if s.failErr != "" {
			return nil, errors.New(s.failErr)
		}
		return nil, errors.New("srun: error: Unable to create step")
	}
	f := &fakeStep{role: st.Role, done: make(chan struct{}), ignoreStop: s.ignore[st.Role]}
	s.mu.Lock()
	s.steps[st.Role] = f
	s.mu.Unlock()
	s.started <- st.Role
	return f, nil
}

func (s *fakeStarter) step(role string) *fakeStep {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.steps[role]
}

func disaggSpec(t *testing.T) *jobspec.Spec {
	ws := t.TempDir()
	step := func(role, kind string, deciding bool) jobspec.Step {
		return jobspec.Step{Role: role, Kind: kind, Nodes: 1, Tasks: 1, TasksPerNode: 1, GPUMode: jobspec.GPUModeNone,
			Deciding: deciding, Command: jobspec.Command{Argv: []string{"true"}}}
	}
	return &jobspec.Spec{
		Version: jobspec.Version, Workspace: ws, Nodes: 1,
		Timeouts: jobspec.Timeouts{KillGrace: jobspec.Duration(100 * time.Millisecond), AfterDeciding: jobspec.Duration(100 * time.Millisecond)},
		Steps: []jobspec.Step{
			step("GEN_0", jobspec.KindWorker, false), step("CTX_0", jobspec.KindWorker, false),
			step(jobspec.RoleDisaggServer, jobspec.KindServer, false), step(jobspec.RoleBenchmark, jobspec.KindBenchmark, true),
		},
	}
}

type jobRun struct {
	starter *fakeStarter
	sigs    chan os.Signal
	done    chan int
	spec    *jobspec.Spec
}

func startJob(t *testing.T, spec *jobspec.Spec, starter *fakeStarter) *jobRun {
	starter.steps = map[string]*fakeStep{}
	starter.started = make(chan string, 16)
	j := &jobRun{starter: starter, sigs: make(chan os.Signal, 1), done: make(chan int, 1), spec: spec}
	go func() {
		code, err := Job(context.Background(), JobOptions{Spec: spec, JobID: "5", Nodes: []string{"n1", "n2"},
			Starter: starter, Log: zerolog.Nop(), Signals: j.sigs, Stdout: io.Discard})
		if err != nil {
			t.Errorf("Job: %v", err)
		}
		j.done <- code
	}()
	for _, st := range spec.Steps {
		if st.Role == starter.failOn {
			break // the supervisor stops starting steps there
		}
		select {
		case <-starter.started:
		case <-time.After(5 * time.Second):
			t.Fatal("steps were not started")
		}
	}
	return j
}

func (j *jobRun) wait(t *testing.T) (int, *workspace.JobResult) {
	t.Helper()
	select {
	case code := <-j.done:
		res, err := workspace.New(j.spec.Workspace).LoadJobResult()
		if err != nil {
			t.Fatalf("job-result.json: %v", err)
		}
		return code, res
	case <-time.After(cancelLate + 10*time.Second):
		t.Fatal("job did not end")
	}
	return 0, nil
}

func outcomes(res *workspace.JobResult) map[string]string {
	m := map[string]string{}
	for _, s := range res.Steps {
		m[s.Role] = s.Outcome
	}
	return m
}

// The benchmark decides: when it passes, servers still running after the
// grace are stopped, and that is an expected end, not a failure.
func TestJobStopsServersAfterBenchmark(t *testing.T) {
	spec := disaggSpec(t)
	ws := workspace.New(spec.Workspace)
	j := startJob(t, spec, &fakeStarter{})
	now := time.Now().UTC()
	for _, st := range spec.Steps {
		rec := &workspace.TaskRecord{Role: st.Role, Node: "n1", State: workspace.StateExited, Start: now, End: now}
		if st.Role == "GEN_0" || st.Role == jobspec.RoleDisaggServer {
			// What the runner records for a child stopped by SIGINT.
			rec.State, rec.Stopped, rec.Signal, rec.ExitCode = workspace.StateSignaled, true, "SIGINT", 130
		}
		if err := ws.SaveTaskRecord(rec); err != nil {
			t.Fatal(err)
		}
	}
	j.starter.step("CTX_0").end(0) // a worker may end on its own
	j.starter.step(jobspec.RoleBenchmark).end(0)
	code, res := j.wait(t)
	want := map[string]string{"GEN_0": workspace.StepStoppedAfterDeciding, "CTX_0": workspace.StepSucceeded,
		jobspec.RoleDisaggServer: workspace.StepStoppedAfterDeciding, jobspec.RoleBenchmark: workspace.StepSucceeded}
	if got := outcomes(res); !equalMaps(got, want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	if code != 0 || res.Verdict != "passed" {
		t.Errorf("verdict %s code %d reason %q: an expected stop must not fail the job", res.Verdict, code, res.Reason)
	}
}

// A failing benchmark fails the job with status 1, whatever its own status
// (that stays in the step's result): CI branches on the outcome.
func TestJobBenchmarkFailureIsTheVerdict(t *testing.T) {
	j := startJob(t, disaggSpec(t), &fakeStarter{})
	j.starter.step(jobspec.RoleBenchmark).end(3)
	code, res := j.wait(t)
	if code != 1 || res.ExitCode != 1 || res.Verdict != "failed" || res.Outcome != workspace.OutcomeFailed {
		t.Errorf("code %d result %+v", code, res)
	}
	if s := res.Steps[3]; s.ExitCode != 3 || s.SrunExitCode != 3 {
		t.Errorf("BENCHMARK step: %+v, want its status 3", s)
	}
}

// A worker that fails before the benchmark ends stops the job at once
// instead of leaving the benchmark to wait for a dead server.
func TestJobWorkerFailureStopsEverything(t *testing.T) {
	j := startJob(t, disaggSpec(t), &fakeStarter{})
	j.starter.step("CTX_0").end(3)
	code, res := j.wait(t)
	got := outcomes(res)
	if got["CTX_0"] != workspace.StepFailed || got[jobspec.RoleBenchmark] != workspace.StepCancelled || got["GEN_0"] != workspace.StepCancelled {
		t.Errorf("outcomes %v", got)
	}
	if code == 0 || res.Reason == "" {
		t.Errorf("code %d reason %q", code, res.Reason)
	}
}

// scancel: every step is stopped, a step that ignores SIGTERM is killed
// within the cancel budget, and the result is written.
func TestJobCancelled(t *testing.T) {
	j := startJob(t, disaggSpec(t), &fakeStarter{ignore: map[string]bool{"GEN_0": true}})
	start := time.Now()
	j.sigs <- syscall.SIGTERM
	code, res := j.wait(t)
	if took := time.Since(start); took > cancelBudget+time.Second {
		t.Errorf("cancel took %s; Slurm's KillWait would have killed us", took)
	}
	for role, o := range outcomes(res) {
		if o != workspace.StepCancelled {
			t.Errorf("%s: %s, want cancelled", role, o)
		}
	}
	if code != exitcode.JobCancelled || res.Outcome != workspace.OutcomeCancelled || res.RootCause != nil {
		t.Errorf("code %d outcome %s root cause %+v, want %d cancelled and no root cause", code, res.Outcome, res.RootCause, exitcode.JobCancelled)
	}
	if _, err := os.Stat(workspace.New(j.spec.Workspace).Results()); err != nil {
		t.Errorf("no results.xml after cancel: %v", err)
	}
}

// scancel: a step's srun reports its signal before the batch step gets its
// own SIGTERM, later than cancelRace, while squeue cannot tell (the fake
// says nothing). noderun's cancel note, or the signal within cancelLate,
// still makes it a cancel, not the step's failure.
func TestJobStepKilledBeforeTheCancelReachesUs(t *testing.T) {
	for _, tc := range []struct {
		name string
		act  func(j *jobRun)
	}{
		{"noderun cancel's note", func(j *jobRun) {
			if err := workspace.New(j.spec.Workspace).WriteCancelNote("5", "noderun cancel"); err != nil {
				t.Fatal(err)
			}
			j.starter.step("CTX_0").end(exitcode.SignalBase + int(syscall.SIGTERM))
		}},
		{"the batch step's signal comes late", func(j *jobRun) {
			j.starter.step("CTX_0").end(exitcode.SignalBase + int(syscall.SIGTERM))
			time.Sleep(2 * cancelRace)
			j.sigs <- syscall.SIGTERM
		}},
		// As at 1,024 tasks on a loaded controller.
		{"the batch step's signal comes seconds late", func(j *jobRun) {
			j.starter.step("CTX_0").end(exitcode.SignalBase + int(syscall.SIGTERM))
			time.Sleep(3 * time.Second)
			j.sigs <- syscall.SIGTERM
		}},
		// srun of a 1,024-task step exited 0 on scancel, its runners still
		// stopping, 7 s before the batch step's SIGTERM.
		{"srun exits 0 while its tasks still stop", func(j *jobRun) {
			saveRecords(t, j.spec, &workspace.TaskRecord{Role: "CTX_0", JobID: "5", Node: "n1",
				State: workspace.StateRunning, Start: time.Now().UTC()})
			j.starter.step("CTX_0").end(0)
			time.Sleep(3 * time.Second)
			j.sigs <- syscall.SIGTERM
		}},
		// Slurm's SIGTERM reached the children, which exited 2 (pytest's
		// status when interrupted); srun reports 2.
		{"srun exits 2, its tasks stopped", func(j *jobRun) {
			now := time.Now().UTC()
			saveRecords(t, j.spec, &workspace.TaskRecord{Role: "CTX_0", JobID: "5", Node: "n1",
				State: workspace.StateExited, ExitCode: 2, Stopped: true, Start: now, End: now})
			j.starter.step("CTX_0").end(2)
			time.Sleep(3 * time.Second)
			j.sigs <- syscall.SIGTERM
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := startJob(t, disaggSpec(t), &fakeStarter{})
			tc.act(j)
			code, res := j.wait(t)
			if code != exitcode.JobCancelled || res.Outcome != workspace.OutcomeCancelled || res.RootCause != nil {
				t.Errorf("code %d outcome %s root cause %+v, want %d cancelled and no root cause", code, res.Outcome, res.RootCause, exitcode.JobCancelled)
			}
			if got := outcomes(res)["CTX_0"]; got != workspace.StepCancelled {
				t.Errorf("CTX_0 %s, want %s", got, workspace.StepCancelled)
			}
		})
	}
}

// A step whose srun exits 2 after a task failed on its own is that
// failure at once, even when another task was stopped.
func TestJobStepFailedWithStoppedTasks(t *testing.T) {
	spec := disaggSpec(t)
	for i := range spec.Steps {
		if spec.Steps[i].Role == "CTX_0" {
			spec.Steps[i].Tasks, spec.Steps[i].TasksPerNode = 2, 2
		}
	}
	j := startJob(t, spec, &fakeStarter{})
	now := time.Now().UTC()
	saveRecords(t, spec,
		&workspace.TaskRecord{Role: "CTX_0", JobID: "5", Node: "n1", State: workspace.StateExited, ExitCode: 2, Stopped: true, Start: now, End: now},
		&workspace.TaskRecord{Role: "CTX_0", Rank: 1, JobID: "5", Node: "n1", State: workspace.StateExited, ExitCode: 1, Start: now, End: now})
	began := time.Now()
	j.starter.step("CTX_0").end(2)
	code, res := j.wait(t)
	if code != exitcode.Failure || res.Outcome != workspace.OutcomeFailed {
		t.Errorf("code %d outcome %s, want 1, failed", code, res.Outcome)
	}
	if took := time.Since(began); took >= cancelRace+time.Second {
		t.Errorf("the job took %s to end: it waited for a cancel", took.Round(time.Millisecond))
	}
}

// A step killed by a signal when no cancel follows within cancelLate (no
// note, squeue cannot tell, no signal to the batch step) failed on its own.
func TestJobStepKilledWithoutCancel(t *testing.T) {
	j := startJob(t, disaggSpec(t), &fakeStarter{})
	j.starter.step("CTX_0").end(exitcode.SignalBase + int(syscall.SIGKILL))
	code, res := j.wait(t)
	if code != exitcode.Failure || res.Outcome != workspace.OutcomeFailed || outcomes(res)["CTX_0"] == workspace.StepCancelled {
		t.Errorf("code %d outcome %s steps %v, want 1, failed, CTX_0 not cancelled", code, res.Outcome, outcomes(res))
	}
}

// A rank that died of its own signal (OOM's SIGKILL) is the step's
// failure at once: no waiting for a cancel that will not come.
func TestJobStepKilledByItsOwnTask(t *testing.T) {
	spec := disaggSpec(t)
	j := startJob(t, spec, &fakeStarter{})
	now := time.Now().UTC()
	saveRecords(t, spec, &workspace.TaskRecord{Role: "CTX_0", JobID: "5", Node: "n1", State: workspace.StateSignaled,
		Signal: "SIGKILL", ExitCode: exitcode.SignalBase + int(syscall.SIGKILL), Start: now, End: now})
	began := time.Now()
	j.starter.step("CTX_0").end(exitcode.SignalBase + int(syscall.SIGKILL))
	code, res := j.wait(t)
	if code != exitcode.Failure || res.Outcome != workspace.OutcomeFailed {
		t.Errorf("code %d outcome %s, want 1, failed", code, res.Outcome)
	}
	if took := time.Since(began); took >= cancelLate {
		t.Errorf("the job took %s to end, want less than cancelLate (%s): it waited for a cancel", took.Round(time.Millisecond), cancelLate)
	}
}

// A step srun cannot start ends the job with that reason.
func TestJobStepStartFailure(t *testing.T) {
	j := startJob(t, disaggSpec(t), &fakeStarter{failOn: jobspec.RoleDisaggServer})
	code, res := j.wait(t)
	got := outcomes(res)
	if got[jobspec.RoleDisaggServer] != workspace.StepNotStarted || got["GEN_0"] != workspace.StepCancelled {
		t.Errorf("outcomes %v", got)
	}
	if code != exitcode.JobStartFailed || res.Outcome != workspace.OutcomeStartFailed {
		t.Errorf("code %d outcome %s, want %d start_failed", code, res.Outcome, exitcode.JobStartFailed)
	}
	if c := res.RootCause; c == nil || c.Role != jobspec.RoleDisaggServer || c.Rank != nil || !strings.Contains(c.FirstError, "Unable to create step") {
		t.Errorf("root cause %+v, want the step srun could not start", c)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// On scancel Slurm signals the steps and the batch step at once: a step
// whose srun reports "killed by SIGTERM" just before the job's own SIGTERM
// arrives was cancelled, not failed.
func TestJobStepKilledBeforeTheJobsSignal(t *testing.T) {
	j := startJob(t, disaggSpec(t), &fakeStarter{})
	j.starter.step("CTX_0").end(143)
	time.Sleep(50 * time.Millisecond)
	j.sigs <- syscall.SIGTERM
	code, res := j.wait(t)
	if got := outcomes(res); got["CTX_0"] != workspace.StepCancelled {
		t.Errorf("CTX_0 outcome %s, want cancelled (outcomes %v)", got["CTX_0"], got)
	}
	if code == 0 || res.Reason != "job cancelled (terminated)" {
		t.Errorf("code %d reason %q", code, res.Reason)
	}
}

// A job that cannot start its steps still leaves results.xml and
// job-result.json saying why (here: --nodes overridden to fewer nodes).
func TestJobTooFewNodes(t *testing.T) {
	spec := disaggSpec(t)
	spec.Nodes = 3
	code, err := Job(context.Background(), JobOptions{Spec: spec, JobID: "6", Nodes: []string{"n1"},
		Starter: &fakeStarter{}, Log: zerolog.Nop()})
	if err != nil || code != exitcode.Usage {
		t.Fatalf("code %d err %v", code, err)
	}
	ws := workspace.New(spec.Workspace)
	res, err := ws.LoadJobResult()
	if err != nil || res.Verdict != "failed" || !strings.Contains(res.Reason, "needs 3") {
		t.Errorf("job-result.json: %+v %v", res, err)
	}
	if _, err := os.Stat(ws.Results()); err != nil {
		t.Errorf("results.xml: %v", err)
	}
}

// When the batch step's own signal comes later than the window, a step
// killed while Slurm ends the job is still recorded as cancelled.
func TestJobStepKilledWhileSlurmEndsTheJob(t *testing.T) {
	spec := disaggSpec(t)
	starter := &fakeStarter{end: workspace.OutcomeCancelled}
	starter.steps = map[string]*fakeStep{}
	starter.started = make(chan string, 16)
	done := make(chan int, 1)
	var res *workspace.JobResult
	go func() {
		code, _ := Job(context.Background(), JobOptions{Spec: spec, JobID: "5", Nodes: []string{"n1"},
			Starter: starter, Log: zerolog.Nop(), Signals: make(chan os.Signal)})
		done <- code
	}()
	for range spec.Steps {
		<-starter.started
	}
	starter.step("CTX_0").end(143)
	code := <-done
	res, _ = workspace.New(spec.Workspace).LoadJobResult()
	if got := outcomes(res); got["CTX_0"] != workspace.StepCancelled {
		t.Errorf("CTX_0 outcome %s, want cancelled", got["CTX_0"])
	}
	if code == 0 {
		t.Error("job passed")
	}
}

// TensorRT-LLM's gen_only benchmark waits for TOD/gen_server_<i>.done and
// then parses TOD/gen_server_<i>.log: the supervisor removes stale ones
// before GEN_0 starts and touches the done file only once the step has ended.
func TestJobDoneFile(t *testing.T) {
	spec := disaggSpec(t)
	done := filepath.Join(spec.Workspace, "tod", "gen_server_0.done")
	log := filepath.Join(spec.Workspace, "tod", "gen_server_0.log")
	if err := os.MkdirAll(filepath.Dir(done), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{done, log} {
		if err := os.WriteFile(f, []byte("an earlier attempt"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec.Steps[0].DoneFile, spec.Steps[0].Log = done, log
	j := startJob(t, spec, &fakeStarter{})
	for _, f := range []string{done, log} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Fatalf("stale %s still there while GEN_0 runs: %v", filepath.Base(f), err)
		}
	}
	j.starter.step("GEN_0").end(0)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(done); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("done file not touched after GEN_0 ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// No task records here, so the verdict is not the point: the job ends.
	j.starter.step(jobspec.RoleBenchmark).end(0)
	j.wait(t)
}

// saveRecords writes task records as the runners would.
func saveRecords(t *testing.T, spec *jobspec.Spec, recs ...*workspace.TaskRecord) {
	t.Helper()
	for _, r := range recs {
		if err := workspace.New(spec.Workspace).SaveTaskRecord(r); err != nil {
			t.Fatal(err)
		}
	}
}

// The case: GEN_0 rank 1 exits 3, srun ends rank 0 with SIGTERM
// and itself reports 143. The step carries rank 1's status, the job names
// it as the root cause and exits 1.
func TestJobFailingRankIsTheRootCause(t *testing.T) {
	spec := disaggSpec(t)
	spec.Steps[0].Tasks = 2
	j := startJob(t, spec, &fakeStarter{})
	now := time.Now().UTC()
	saveRecords(t, spec,
		&workspace.TaskRecord{Role: "GEN_0", Rank: 1, Node: "n2", JobID: "5", State: workspace.StateExited, ExitCode: 3, Start: now, End: now},
		&workspace.TaskRecord{Role: "GEN_0", Rank: 0, Node: "n1", JobID: "5", State: workspace.StateSignaled, Signal: "SIGTERM",
			ExitCode: 143, Stopped: true, Start: now, End: now.Add(time.Millisecond)})
	j.starter.step("GEN_0").end(143)
	code, res := j.wait(t)
	gen := res.Steps[0]
	if gen.ExitCode != 3 || gen.SrunExitCode != 143 || gen.Rank == nil || *gen.Rank != 1 {
		t.Errorf("GEN_0 step %+v, want rank 1's status 3 and srun's 143 apart", gen)
	}
	if code != 1 || res.Outcome != workspace.OutcomeFailed {
		t.Errorf("code %d outcome %s, want 1 failed", code, res.Outcome)
	}
	if c := res.RootCause; c == nil || c.Role != "GEN_0" || c.Rank == nil || *c.Rank != 1 || c.Node != "n2" || c.ExitCode != 3 {
		t.Errorf("root cause %+v, want GEN_0 rank 1 on n2 with status 3", c)
	}
	if want := "GEN_0 rank 1 on n2 exited with status 3"; res.Reason != want {
		t.Errorf("reason %q, want %q", res.Reason, want)
	}
	ws := workspace.New(spec.Workspace)
	if b, err := os.ReadFile(ws.Results()); err != nil || !strings.Contains(string(b), "stopped because GEN_0 rank 1 failed") {
		t.Errorf("results.xml does not say GEN_0 rank 0 was stopped because of rank 1 (%v)", err)
	}
	if b, err := os.ReadFile(ws.Summary()); err != nil || !strings.HasPrefix(string(b), "## Outcome: failed") || !strings.Contains(string(b), "GEN_0 rank 1 @ n2") {
		t.Errorf("summary.md does not lead with the outcome and the root cause (%v):\n%s", err, b)
	}
}

// Each way a job ends has its outcome and exit status.
func TestJobOutcomes(t *testing.T) {
	type act func(t *testing.T, j *jobRun)
	failRole := func(role string, rec workspace.TaskRecord, srun int) act {
		return func(t *testing.T, j *jobRun) {
			now := time.Now().UTC()
			rec.Role, rec.JobID, rec.Start, rec.End = role, "5", now, now
			saveRecords(t, j.spec, &rec)
			j.starter.step(role).end(srun)
		}
	}
	tests := []struct {
		name    string
		starter *fakeStarter
		act     act
		outcome string
		code    int
		reason  string
	}{
		{
			// Why: Slurm's warning before the time limit is a timeout, not a cancel.
			name: "time limit warning", act: func(_ *testing.T, j *jobRun) { j.sigs <- syscall.SIGUSR2 },
			outcome: workspace.OutcomeTimeout, code: exitcode.JobTimeout, reason: "time limit",
		},
		{
			// Why: a setup failure (runner status 72) names its node.
			name: "setup failure",
			act: failRole("GEN_0", workspace.TaskRecord{Node: "n1", State: workspace.StateFailedToStart, ExitCode: exitcode.SetupFailed,
				Error: "setup exited with status 3 on node n1"}, exitcode.SetupFailed),
			outcome: workspace.OutcomeSetupFailed, code: exitcode.JobSetupFailed, reason: "n1",
		},
		{
			// Why: a GPU precheck failure (74) is told apart from a test failure.
			name: "precheck failure",
			act: failRole("CTX_0", workspace.TaskRecord{Node: "n1", State: workspace.StateFailedToStart, ExitCode: exitcode.GPUPrecheck,
				Error: "GPU precheck failed: node n1 shows 3 GPUs, the spec expects 4"}, exitcode.GPUPrecheck),
			outcome: workspace.OutcomePrecheckFailed, code: exitcode.JobPrecheckFailed, reason: "CTX_0",
		},
		{
			// Why: srun's report of a lost node wins over the failures it causes.
			name: "node failure",
			act: func(t *testing.T, j *jobRun) {
				log := workspace.New(j.spec.Workspace).StepLog("GEN_0")
				if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(log, []byte("srun: error: Node failure on n2\nsrun: error: task 1 launch failed\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				j.starter.step("GEN_0").end(1)
			},
			outcome: workspace.OutcomeNodeFailure, code: exitcode.JobNodeFailure, reason: "node n2 failed",
		},
		{
			// Why: the SIGTERM of Slurm's time limit looks like scancel's; Slurm tells.
			name: "time limit told by Slurm", starter: &fakeStarter{end: workspace.OutcomeTimeout},
			act:     func(_ *testing.T, j *jobRun) { j.sigs <- syscall.SIGTERM },
			outcome: workspace.OutcomeTimeout, code: exitcode.JobTimeout, reason: "time limit",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			starter := tc.starter
			if starter == nil {
				starter = &fakeStarter{}
			}
			j := startJob(t, disaggSpec(t), starter)
			tc.act(t, j)
			code, res := j.wait(t)
			if code != tc.code || res.ExitCode != tc.code || res.Outcome != tc.outcome || !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("code %d outcome %s reason %q, want %d %s mentioning %q", code, res.Outcome, res.Reason, tc.code, tc.outcome, tc.reason)
			}
		})
	}
}

// A node failure names the node, and a rank only when one ran there: the
// lost node's runners leave their records running.
func TestJobNodeFailure(t *testing.T) {
	srunSaw := func(t *testing.T, j *jobRun) {
		log := workspace.New(j.spec.Workspace).StepLog("GEN_0")
		if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(log, []byte("srun: error: Node failure on n2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		j.starter.step("GEN_0").end(1)
	}
	running := func(rank int, node string) *workspace.TaskRecord {
		return &workspace.TaskRecord{Role: "GEN_0", Rank: rank, Node: node, JobID: "5", State: workspace.StateRunning, Start: time.Now().UTC()}
	}
	tests := []struct {
		name    string
		starter *fakeStarter
		recs    []*workspace.TaskRecord
		act     func(t *testing.T, j *jobRun)
		// rank is the root cause's rank, -1 for none; nil cause when !cause.
		cause bool
		rank  int
		// lost: results.xml reports the root-cause rank as lost on n2.
		lost bool
	}{
		{
			// Why: Slurm tells of the node and no step saw it; there is no
			// step or rank to name, only the node (in the reason).
			name: "told by Slurm", starter: &fakeStarter{end: workspace.OutcomeNodeFailure, node: "n2"},
			act: func(_ *testing.T, j *jobRun) { j.sigs <- syscall.SIGTERM },
		},
		{
			// Why: Slurm tells of the node and a rank ran there: that rank
			// was lost with it (not stopped, not a runner that just died).
			name: "told by Slurm, a rank on the node", starter: &fakeStarter{end: workspace.OutcomeNodeFailure, node: "n2"},
			recs: []*workspace.TaskRecord{running(0, "n1"), running(1, "n2")},
			act:  func(_ *testing.T, j *jobRun) { j.sigs <- syscall.SIGTERM }, cause: true, rank: 1, lost: true,
		},
		{
			// Why: the rank named is the one on the failed node, not the first running.
			name: "srun saw it", recs: []*workspace.TaskRecord{running(0, "n1"), running(1, "n2")},
			act: srunSaw, cause: true, rank: 1, lost: true,
		},
		{
			// Why: no rank ran on the failed node; naming one elsewhere would mislead.
			name: "no rank on the node", recs: []*workspace.TaskRecord{running(0, "n1")},
			act: srunSaw, cause: true, rank: -1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			starter := tc.starter
			if starter == nil {
				starter = &fakeStarter{}
			}
			spec := disaggSpec(t)
			spec.Steps[0].Tasks = 2
			j := startJob(t, spec, starter)
			stopped := &workspace.TaskRecord{Role: "CTX_0", Node: "n1", JobID: "5", State: workspace.StateSignaled, Signal: "SIGINT",
				ExitCode: 130, Stopped: true, Start: time.Now().UTC(), End: time.Now().Add(time.Minute).UTC()}
			// Started now, not when the table was built: an older record
			// is an earlier attempt's.
			for _, rec := range tc.recs {
				rec.Start = time.Now().UTC()
			}
			saveRecords(t, spec, append(tc.recs, stopped)...)
			tc.act(t, j)
			code, res := j.wait(t)
			if code != exitcode.JobNodeFailure || res.Outcome != workspace.OutcomeNodeFailure || !strings.Contains(res.Reason, "node n2 failed") {
				t.Errorf("code %d outcome %s reason %q, want node_failure naming n2", code, res.Outcome, res.Reason)
			}
			c := res.RootCause
			switch {
			case !tc.cause && c != nil:
				t.Errorf("root cause %+v, want none", c)
			case tc.cause && (c == nil || c.Role != "GEN_0" || c.Node != "n2"):
				t.Errorf("root cause %+v, want GEN_0 on n2", c)
			case tc.cause && tc.rank < 0 && c.Rank != nil:
				t.Errorf("root cause rank %d, want none", *c.Rank)
			case tc.cause && tc.rank >= 0 && (c.Rank == nil || *c.Rank != tc.rank):
				t.Errorf("root cause %+v, want rank %d", c, tc.rank)
			}
			ws := workspace.New(spec.Workspace)
			if b, err := os.ReadFile(ws.Summary()); err != nil || strings.Contains(string(b), "step  ") {
				t.Errorf("summary.md names an empty step (%v):\n%s", err, b)
			}
			b, err := os.ReadFile(ws.Results())
			if err != nil || !strings.Contains(string(b), "stopped: node n2 of the job failed") {
				t.Errorf("results.xml does not say CTX_0 was stopped for node n2 (%v)", err)
			}
			if lost := strings.Contains(string(b), "lost on node n2: the node failed while the task ran"); lost != tc.lost {
				t.Errorf("results.xml reports GEN_0 rank 1 lost on n2: %v, want %v\n%s", lost, tc.lost, b)
			}
			if res.FailedNode != "n2" {
				t.Errorf("failed_node %q, want n2", res.FailedNode)
			}
		})
	}
}

// The reason tells the root cause's story even when another step's srun
// reported first: CTX_0 rank 0 failed first, GEN_0 failed of it (its NCCL
// peer gone) but its srun ended first.
func TestJobReasonIsTheRootCause(t *testing.T) {
	spec := disaggSpec(t)
	j := startJob(t, spec, &fakeStarter{})
	now := time.Now().UTC()
	saveRecords(t, spec,
		&workspace.TaskRecord{Role: "CTX_0", Node: "n1", JobID: "5", State: workspace.StateExited, ExitCode: 3, Start: now, End: now},
		&workspace.TaskRecord{Role: "GEN_0", Node: "n1", JobID: "5", State: workspace.StateExited, ExitCode: 1, Start: now,
			End: now.Add(10 * time.Millisecond)})
	j.starter.step("GEN_0").end(1)
	_, res := j.wait(t)
	if c := res.RootCause; c == nil || c.Role != "CTX_0" {
		t.Fatalf("root cause %+v, want CTX_0 rank 0", c)
	}
	if want := "CTX_0 rank 0 on n1 exited with status 3"; res.Reason != want {
		t.Errorf("reason %q, want %q: it must agree with the root cause", res.Reason, want)
	}
}

// A requeued job keeps its id: a failure recorded by the earlier attempt
// is no root cause of this one.
func TestJobIgnoresAnEarlierAttempt(t *testing.T) {
	spec := disaggSpec(t)
	earlier := time.Now().Add(-10 * time.Minute).UTC()
	saveRecords(t, spec, &workspace.TaskRecord{Role: "CTX_0", Node: "n1", JobID: "5", State: workspace.StateExited, ExitCode: 3,
		Start: earlier, End: earlier.Add(time.Minute)})
	j := startJob(t, spec, &fakeStarter{})
	now := time.Now().UTC()
	saveRecords(t, spec, &workspace.TaskRecord{Role: "GEN_0", Node: "n1", JobID: "5", State: workspace.StateExited, ExitCode: 1,
		Start: now, End: now})
	j.starter.step("GEN_0").end(1)
	_, res := j.wait(t)
	if c := res.RootCause; c == nil || c.Role != "GEN_0" {
		t.Errorf("root cause %+v, want GEN_0 rank 0, not the earlier attempt's CTX_0", c)
	}
	if s := res.Steps[0]; s.ExitCode != 1 || s.Rank == nil {
		t.Errorf("GEN_0 step %+v, want its rank 0's status 1", s)
	}
}

// Secrets a task prints or a start failure quotes stay out of
// job-result.json (mode 0644) and the summary: the root cause's first
// error, the reason and the steps' errors are redacted.
func TestJobSecretsStayOut(t *testing.T) {
	const envSecret, specSecret = "envsecret-5c1e0a", "specsecret-93b7d2"
	t.Setenv("NODERUN_TEST_API_TOKEN", envSecret)
	tests := []struct {
		name    string
		starter *fakeStarter
		act     func(t *testing.T, j *jobRun) (wrote string)
	}{
		{
			// Why: the root cause's first error is a line of the task's log.
			name: "task log", starter: &fakeStarter{},
			act: func(t *testing.T, j *jobRun) string {
				ws := workspace.New(j.spec.Workspace)
				log := ws.TaskLog("GEN_0", 0)
				if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
					t.Fatal(err)
				}
				line := "E   RuntimeError: login with " + envSecret + " and " + specSecret + " refused\n"
				if err := os.WriteFile(log, []byte(line), 0o644); err != nil {
					t.Fatal(err)
				}
				now := time.Now().UTC()
				saveRecords(t, j.spec, &workspace.TaskRecord{Role: "GEN_0", Node: "n1", JobID: "5", State: workspace.StateExited,
					ExitCode: 1, Start: now, End: now, Log: log})
				j.starter.step("GEN_0").end(1)
				return log
			},
		},
		{
			// Why: srun's error can quote the command line; it becomes the
			// step's error, the reason and the root cause's first error.
			name: "start failure", starter: &fakeStarter{failOn: jobspec.RoleDisaggServer,
				failErr: "srun: error: cannot run --api-key " + specSecret + " with " + envSecret},
			act: func(*testing.T, *jobRun) string { return "" },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := disaggSpec(t)
			spec.Steps[0].Command.Env = append(spec.Steps[0].Command.Env, jobspec.EnvVar{Name: "HF_TOKEN", Value: specSecret})
			j := startJob(t, spec, tc.starter)
			wrote := tc.act(t, j)
			_, res := j.wait(t)
			if res.Outcome == workspace.OutcomePassed || res.Reason == "" {
				t.Fatalf("outcome %s reason %q: the job should have failed", res.Outcome, res.Reason)
			}
			ws := workspace.New(spec.Workspace)
			searched := 0
			err := filepath.WalkDir(spec.Workspace, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || path == ws.Spec() || path == wrote {
					return err
				}
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				searched++
				for _, secret := range []string{envSecret, specSecret} {
					if bytes.Contains(data, []byte(secret)) {
						t.Errorf("%s holds the secret %s:\n%s", ws.Rel(path), secret, data)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if searched < 3 {
				t.Errorf("only %d files searched: job-result.json, results.xml and summary.md at least", searched)
			}
		})
	}
}
