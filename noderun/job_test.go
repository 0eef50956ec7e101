package noderun

import (
	"context"
	"errors"
	"io"
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
	ignore  map[string]bool
}

func (s *fakeStarter) Start(_ context.Context, st *jobspec.Step, _ []string) (RunningStep, error) {
	if st.Role == s.failOn {
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
	case <-time.After(10 * time.Second):
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

// A failing benchmark's status is the job's.
func TestJobBenchmarkFailureIsTheVerdict(t *testing.T) {
	j := startJob(t, disaggSpec(t), &fakeStarter{})
	j.starter.step(jobspec.RoleBenchmark).end(3)
	code, res := j.wait(t)
	if code != 3 || res.ExitCode != 3 || res.Verdict != "failed" {
		t.Errorf("code %d result %+v", code, res)
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
	if code == 0 {
		t.Error("a cancelled job passed")
	}
	if _, err := os.Stat(workspace.New(j.spec.Workspace).Results()); err != nil {
		t.Errorf("no results.xml after cancel: %v", err)
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
	if code == 0 {
		t.Error("job passed")
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

// endingStarter is a fakeStarter whose job Slurm is ending.
type endingStarter struct{ fakeStarter }

func (*endingStarter) JobEnding() bool { return true }

// When the batch step's own signal comes later than the window, a step
// killed while Slurm ends the job is still recorded as cancelled.
func TestJobStepKilledWhileSlurmEndsTheJob(t *testing.T) {
	spec := disaggSpec(t)
	starter := &endingStarter{}
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
