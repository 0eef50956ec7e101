package launcher

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/workspace"
)

// status, cancel, wait and logs find the job through the owner record that
// submit wrote; a workspace without one is a usage error.
func TestLifecycleCommands(t *testing.T) {
	f, s, ws := waitFixture(t, func(workspace.Layout) []fakePoll {
		return []fakePoll{{state: JobState{ID: "42", State: "PENDING", Reason: "(BeginTime)"}}}
	})
	if err := f.run("--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml")); err != nil {
		t.Fatal(err)
	}
	l := f.launcher()
	ctx := context.Background()

	st, err := l.Status(ctx, ws.Dir)
	if err != nil || st.JobID != "42" || st.State != "PENDING" || st.Reason != "(BeginTime)" || st.Tasks != 8 || st.Outcome != "" {
		t.Fatalf("status %+v, %v", st, err)
	}
	if !strings.HasPrefix(st.String(), "job 42: PENDING (BeginTime), elapsed 0:00, attempt 0, steps running 0/5, tasks finished 0/8\n") {
		t.Errorf("status text %q", st.String())
	}

	record(t, ws, "GEN_0", 1, workspace.StateExited)()
	f.stdout.Reset()
	if err := l.Logs(ctx, ws.Dir, LogsRequest{}); err != nil {
		t.Fatal(err)
	}
	if out := f.stdout.String(); !strings.Contains(out, "GEN_0          1     exited 0     -     logs/GEN_0/rank1.log (none yet)") ||
		!strings.Contains(out, "BENCHMARK      0     not started") {
		t.Errorf("logs:\n%s", out)
	}
	if err := l.Logs(ctx, ws.Dir, LogsRequest{Role: "NOPE"}); exitcode.Of(err) != exitcode.Usage {
		t.Errorf("logs of an unknown role: %v", err)
	}
	// A task that has no log yet is the usage row's "no job yet" (2).
	if err := l.Logs(ctx, ws.Dir, LogsRequest{Role: "GEN_0", Rank: 1}); exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "no log yet") {
		t.Errorf("logs of a task without a log: %v (exit %d), want exit %d", err, exitcode.Of(err), exitcode.Usage)
	}
	writeFile(t, ws.TaskLog("GEN_0", 1), "hello\n", 0o644)
	f.stdout.Reset()
	if err := l.Logs(ctx, ws.Dir, LogsRequest{Role: "GEN_0", Rank: 1, Follow: true}); err != nil || f.stdout.String() != "hello\n" {
		t.Errorf("logs --follow of an ended task: %q, %v", f.stdout.String(), err)
	}

	// cancel of a pending job: scancel, then the follower writes the
	// results of a job that never started (81).
	s.polls = []fakePoll{{state: JobState{ID: "42", State: "PENDING"}}, {state: JobState{ID: "42", State: "CANCELLED"}}}
	s.pollIDs = nil
	err = l.Cancel(ctx, ws.Dir)
	if exitcode.Of(err) != exitcode.JobCancelled || len(s.cancelled) != 1 {
		t.Fatalf("cancel: %v (exit %d), cancelled %v", err, exitcode.Of(err), s.cancelled)
	}
	st, err = l.Status(ctx, ws.Dir)
	if err != nil || st.Outcome != workspace.OutcomeCancelled || *st.ExitStatus != exitcode.JobCancelled {
		t.Errorf("status after cancel %+v, %v", st, err)
	}
	// Slurm does not tell who cancelled: noderun's own note does.
	if !strings.Contains(st.Why, "cancelled by ") || !strings.Contains(st.Why, "(noderun cancel)") {
		t.Errorf("the result does not say who cancelled the job: %q", st.Why)
	}
	// wait on a job that has ended reports it at once.
	f.stdout.Reset()
	if err := l.Wait(ctx, ws.Dir, Follow{}); exitcode.Of(err) != exitcode.JobCancelled || !strings.Contains(f.stdout.String(), "following job 42") {
		t.Errorf("wait: %v\n%s", err, f.stdout.String())
	}

	// A scancel that fails is Slurm's failure (75), for cancel and for an
	// abort of the follower alike.
	s.polls = []fakePoll{{state: running("0:03")}}
	s.cancelErr = errors.New("scancel: error: Kill job error on job id 42: Access/permission denied")
	if err := l.Cancel(ctx, ws.Dir); exitcode.Of(err) != exitcode.Submit || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("cancel with a failing scancel: %v (exit %d), want exit %d", err, exitcode.Of(err), exitcode.Submit)
	}
	f.sigs <- syscall.SIGTERM
	if err := l.Wait(ctx, ws.Dir, Follow{}); exitcode.Of(err) != exitcode.Submit {
		t.Errorf("abort with a failing scancel: %v (exit %d), want exit %d", err, exitcode.Of(err), exitcode.Submit)
	}

	if _, err := l.Status(ctx, f.path("nothing")); exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "no job was submitted into") {
		t.Errorf("status of an empty workspace: %v", err)
	}
}
