package noderun

import (
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// cancelJob starts a job of the disaggregated spec whose tasks have left
// running records, with the given cancel budget, and returns it.
func cancelJob(t *testing.T, budget time.Duration) *jobRun {
	t.Helper()
	spec := disaggSpec(t)
	ws := workspace.New(spec.Workspace)
	for _, st := range spec.Steps {
		saveRecord(t, ws, st.Role, workspace.StateRunning)
	}
	starter := &fakeStarter{steps: map[string]*fakeStep{}, started: make(chan string, 16)}
	j := &jobRun{starter: starter, sigs: make(chan os.Signal, 1), done: make(chan int, 1), spec: spec}
	go func() {
		code, err := Job(context.Background(), JobOptions{Spec: spec, JobID: "5", Nodes: []string{"n1", "n2"},
			Starter: starter, Log: zerolog.Nop(), Signals: j.sigs, Stdout: io.Discard, CancelBudget: budget})
		if err != nil {
			t.Errorf("Job: %v", err)
		}
		j.done <- code
	}()
	for range spec.Steps {
		<-starter.started
	}
	return j
}

func saveRecord(t *testing.T, ws workspace.Layout, role, state string) {
	t.Helper()
	rec := &workspace.TaskRecord{Role: role, Rank: 0, JobID: "5", Step: "5.0", State: state, Start: time.Now().UTC()}
	if state != workspace.StateRunning {
		rec.End, rec.ExitCode, rec.Stopped, rec.Signal = time.Now().UTC(), 130, true, "SIGINT"
		rec.State = workspace.StateSignaled
	}
	if err := ws.SaveTaskRecord(rec); err != nil {
		t.Fatal(err)
	}
}

func resultsText(t *testing.T, spec *jobspec.Spec) string {
	t.Helper()
	b, err := os.ReadFile(workspace.New(spec.Workspace).Results())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// On scancel srun may end before its tasks: the supervisor merges only
// once every stopped task recorded its end, here 300 ms after every step
// had ended, well within the budget.
func TestJobCancelWaitsForEndRecords(t *testing.T) {
	j := cancelJob(t, 20*time.Second)
	ws := workspace.New(j.spec.Workspace)
	j.sigs <- syscall.SIGTERM
	for _, st := range j.spec.Steps {
		<-j.starter.step(st.Role).Done()
	}
	time.Sleep(300 * time.Millisecond) // the runners record their ends after srun ended
	for _, st := range j.spec.Steps {
		saveRecord(t, ws, st.Role, workspace.StateSignaled)
	}
	code, res := j.wait(t)
	if res.Outcome != workspace.OutcomeCancelled || code == 0 {
		t.Errorf("code %d outcome %s, want cancelled", code, res.Outcome)
	}
	xml := resultsText(t, j.spec)
	for _, bad := range []string{"StillStopping", "RunnerDied"} {
		if strings.Contains(xml, bad) {
			t.Errorf("results.xml has %s though every record was final before the budget ended:\n%s", bad, xml)
		}
	}
	if n := strings.Count(xml, "noderun.task.Cancelled"); n != len(j.spec.Steps) {
		t.Errorf("%d cancelled tasks in results.xml, want %d:\n%s", n, len(j.spec.Steps), xml)
	}
}

// A task whose record is still running when the budget ends is reported as
// still stopping, not as a dead runner; the others as they recorded.
func TestJobCancelReportsStillStopping(t *testing.T) {
	j := cancelJob(t, 300*time.Millisecond)
	ws := workspace.New(j.spec.Workspace)
	j.sigs <- syscall.SIGTERM
	for _, st := range j.spec.Steps[1:] {
		<-j.starter.step(st.Role).Done()
		saveRecord(t, ws, st.Role, workspace.StateSignaled)
	}
	_, res := j.wait(t)
	xml := resultsText(t, j.spec)
	if strings.Contains(xml, "RunnerDied") || strings.Count(xml, `type="noderun.task.StillStopping" message="still stopping when results were merged`) != 1 {
		t.Errorf("want GEN_0 alone still stopping, no runner dead:\n%s", xml)
	}
	if res.Outcome != workspace.OutcomeCancelled {
		t.Errorf("outcome %s, want cancelled", res.Outcome)
	}
}

// A step whose srun exited 0 as the job was cancelled is recorded as
// cancelled with the stop's status, never as succeeded with 0.
func TestJobCancelledStepNeverSucceeds(t *testing.T) {
	j := cancelJob(t, 300*time.Millisecond)
	j.starter.step("GEN_0").end(0)
	time.Sleep(50 * time.Millisecond) // the supervisor sees the end before the signal
	j.sigs <- syscall.SIGTERM
	_, res := j.wait(t)
	for _, s := range res.Steps {
		if s.Outcome != workspace.StepCancelled || s.ExitCode == 0 {
			t.Errorf("%s: outcome %s exit %d (srun %d), want cancelled and not 0", s.Role, s.Outcome, s.ExitCode, s.SrunExitCode)
		}
	}
	if s := res.Steps[0]; s.SrunExitCode != 0 || s.ExitCode != 143 {
		t.Errorf("GEN_0: exit %d srun %d, want 143 and srun's own 0", s.ExitCode, s.SrunExitCode)
	}
}

// The cancel budget follows Slurm's KillWait and leaves time to merge.
func TestCancelBudgetFor(t *testing.T) {
	for _, tc := range []struct {
		killWait, want time.Duration
		why            string
	}{
		{0, cancelBudget, "unknown: the old fixed budget"},
		{2 * time.Second, time.Second, "the lab's KillWait: a second for the merge"},
		{30 * time.Second, 22500 * time.Millisecond, "Slurm's default: a quarter kept for the merge"},
		{time.Second, 500 * time.Millisecond, "a tiny KillWait: half of it, never nothing"},
	} {
		if got := cancelBudgetFor(tc.killWait); got != tc.want {
			t.Errorf("KillWait %s: budget %s, want %s (%s)", tc.killWait, got, tc.want, tc.why)
		}
	}
}

type killWaitStarter struct {
	fakeStarter
	d time.Duration
}

func (k *killWaitStarter) KillWait(context.Context) (time.Duration, error) { return k.d, nil }

// The supervisor learns KillWait from its starter and budgets by it.
func TestSupervisorLearnsKillWait(t *testing.T) {
	s := &supervisor{o: JobOptions{}}
	s.killWait.learn(context.Background(), &killWaitStarter{d: 30 * time.Second})
	for i := 0; s.killWait.get() == 0 && i < 500; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.cancelBudget(); got != 22500*time.Millisecond {
		t.Errorf("budget %s, want 22.5s from KillWait 30s", got)
	}
}
