package launcher

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/workspace"
)

// A second submit into a workspace whose job still runs is refused (exit 2),
// naming the job and how to stop it, and leaves the first job's files; once
// the job has ended the workspace may be reused.
func TestSubmitIntoBusyWorkspace(t *testing.T) {
	f, s, ws := waitFixture(t, func(workspace.Layout) []fakePoll { return []fakePoll{{state: running("0:05")}} })
	args := []string{"--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml")}
	if err := f.run(args...); err != nil {
		t.Fatal(err)
	}
	owner, err := ws.LoadOwner()
	if err != nil || owner.JobID != "42" || owner.SubmissionID == "" || owner.Host == "" || owner.Submitted.IsZero() {
		t.Fatalf("owner %+v, %v", owner, err)
	}
	writeFile(t, ws.Junit("BENCHMARK", 0), "<testsuite/>", 0o644)

	err = f.run(args...)
	if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "belongs to job 42") ||
		!strings.Contains(err.Error(), "which is still RUNNING") || !strings.Contains(err.Error(), "noderun cancel --workspace "+ws.Dir) {
		t.Fatalf("second submit: %v (exit %d), want exit 2 naming job 42 and noderun cancel", err, exitcode.Of(err))
	}
	if _, err := os.Stat(ws.Junit("BENCHMARK", 0)); err != nil || len(s.submitted) != 1 {
		t.Errorf("the first job's results were touched (%v) or a second job submitted (%d)", err, len(s.submitted))
	}

	// Why: a finished workspace is reused, its outputs cleared.
	s.polls = []fakePoll{{state: JobState{ID: "42", State: "COMPLETED"}}}
	s.pollIDs = nil
	if err := f.run(args...); err != nil {
		t.Fatalf("submit into a finished workspace: %v", err)
	}
	if _, err := os.Stat(ws.Junit("BENCHMARK", 0)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the earlier job's results are still there: %v", err)
	}
}

// SIGTERM to submit --wait cancels the job, keeps following until its
// results are there, prints the summary and exits 143.
func TestWaitAbortCancels(t *testing.T) {
	f, s, _ := waitFixture(t, func(ws workspace.Layout) []fakePoll {
		return []fakePoll{
			{state: running("0:01")},
			{state: JobState{ID: "42", State: "COMPLETING"}},
			{state: JobState{ID: "42", State: "CANCELLED"}, do: func() {
				writeFile(t, ws.Summary(), "outcome: cancelled\n", 0o644)
				ws.SaveJobResult(&workspace.JobResult{JobID: "42", Outcome: workspace.OutcomeCancelled, Verdict: "failed"})
			}},
		}
	})
	f.sigs <- syscall.SIGTERM
	err := f.submitWait()
	if exitcode.Of(err) != 143 {
		t.Fatalf("exit %d (%v), want 143", exitcode.Of(err), err)
	}
	if len(s.cancelled) != 1 || s.cancelled[0] != "42" {
		t.Errorf("cancelled %v, want [42]", s.cancelled)
	}
	out := f.stdout.String()
	for _, want := range []string{"SIGTERM: cancelling job 42", "waiting up to 17s for its results", "outcome: cancelled\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

// A cancelled job that does not end within KillWait + margin gets its
// results from the follower; a second signal stops following at once.
func TestWaitAbortBounded(t *testing.T) {
	// Why: past the bound the batch step may still be merging; the
	// follower writes nothing until Slurm says the job ended, and a job it
	// cancelled that left no result is cancelled, not failed.
	t.Run("bound", func(t *testing.T) {
		f, _, ws := waitFixture(t, func(ws workspace.Layout) []fakePoll {
			var polls []fakePoll
			for range 30 {
				polls = append(polls, fakePoll{state: JobState{ID: "42", State: "COMPLETING"}, do: func() {
					if _, err := os.Stat(ws.JobResult()); err == nil {
						t.Error("job-result.json written while the job was COMPLETING")
					}
				}})
			}
			return append(polls, fakePoll{state: JobState{ID: "42", Gone: true}})
		})
		f.sigs <- syscall.SIGINT
		if err := f.submitWait(); exitcode.Of(err) != 130 {
			t.Fatalf("exit %d (%v), want 130", exitcode.Of(err), err)
		}
		if res, err := ws.LoadJobResult(); err != nil || res.Outcome != workspace.OutcomeCancelled {
			t.Errorf("result %+v, %v", res, err)
		}
		if out := f.stdout.String(); strings.Count(out, "still COMPLETING although it was cancelled") != 1 {
			t.Errorf("stdout:\n%s", out)
		}
	})
	t.Run("second signal", func(t *testing.T) {
		f, _, _ := waitFixture(t, func(workspace.Layout) []fakePoll { return []fakePoll{{state: running("0:01")}} })
		f.sigs <- syscall.SIGTERM
		f.sigs <- syscall.SIGTERM
		err := f.submitWait()
		if exitcode.Of(err) != 143 || !strings.Contains(err.Error(), "SIGTERM again") {
			t.Fatalf("exit %d (%v)", exitcode.Of(err), err)
		}
	})
}

// --on-abort detach leaves the job running and says how to get back.
func TestWaitAbortDetach(t *testing.T) {
	f, s, ws := waitFixture(t, func(workspace.Layout) []fakePoll { return []fakePoll{{state: running("0:01")}} })
	f.sigs <- syscall.SIGHUP
	err := f.run("--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml"), "--wait", "--on-abort", "detach")
	if exitcode.Of(err) != 129 || !strings.Contains(err.Error(), "noderun wait --workspace "+ws.Dir) || len(s.cancelled) != 0 {
		t.Fatalf("exit %d (%v), cancelled %v", exitcode.Of(err), err, s.cancelled)
	}
}

// A pending reason that cannot clear cancels the job at once; a job that
// pends past --pending-timeout too. Either ends as start_failed (85) with
// results saying why.
func TestWaitPendingFailsFast(t *testing.T) {
	tests := []struct {
		name, reason string
		args         []string
		want         string
	}{
		{"partition node limit", "(PartitionNodeLimit)", nil, "PartitionNodeLimit, which cannot clear"},
		{"association limit per job", "(AssocMaxNodesPerJobLimit)", nil, "AssocMaxNodesPerJobLimit, which cannot clear"},
		{"pending timeout", "(Resources)", []string{"--pending-timeout", "3s"}, "still pending (Resources) after --pending-timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, s, ws := waitFixture(t, func(workspace.Layout) []fakePoll {
				return []fakePoll{
					{state: JobState{ID: "42", State: "PENDING", Reason: tc.reason}},
					{state: JobState{ID: "42", State: "PENDING", Reason: tc.reason}},
					{state: JobState{ID: "42", State: "PENDING", Reason: tc.reason}},
					{state: JobState{ID: "42", State: "CANCELLED"}},
				}
			})
			args := append([]string{"--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml"), "--wait"}, tc.args...)
			err := f.run(args...)
			if exitcode.Of(err) != exitcode.JobStartFailed || len(s.cancelled) != 1 {
				t.Fatalf("exit %d (%v), cancelled %v", exitcode.Of(err), err, s.cancelled)
			}
			res, err := ws.LoadJobResult()
			if err != nil || !strings.Contains(res.Reason, tc.want) {
				t.Errorf("result %+v, %v; want a reason with %q", res, err, tc.want)
			}
		})
	}
	if hopeless("(Resources)") || hopeless("(Priority)") || hopeless("(QOSMaxJobsPerUserLimit)") {
		t.Error("a reason that clears by itself was taken for one that cannot")
	}
}

// A job whose result appears between polls is noticed within a second: it
// is polled at once (polls at 0, 1, 3, 7 s, the result at 10 s, a fifth
// poll then), and its result is final once Slurm says the job ended.
func TestWaitNoticesResultBetweenPolls(t *testing.T) {
	f, s, ws := waitFixture(t, func(workspace.Layout) []fakePoll { return []fakePoll{{state: running("0:01")}} })
	f.sleepHook = func() {
		if len(f.sleeps) == 10 {
			finished(t, ws, 0, "ok\n")()
			s.polls = append(s.polls, fakePoll{state: JobState{ID: "42", State: "COMPLETED"}})
		}
	}
	if err := f.submitWait(); err != nil {
		t.Fatal(err)
	}
	if len(f.sleeps) != 10 || len(s.pollIDs) != 5 {
		t.Errorf("%d sleeps, %d polls: the result was not noticed at once", len(f.sleeps), len(s.pollIDs))
	}
}

// On a pipe a line comes at least once a minute, even when nothing changes.
func TestWaitHeartbeat(t *testing.T) {
	polls := []fakePoll{}
	for range 12 {
		polls = append(polls, fakePoll{state: running("1:00")})
	}
	f, _, ws := waitFixture(t, func(workspace.Layout) []fakePoll { return polls })
	s := f.sched.(*fakeScheduler)
	s.polls = append(s.polls, fakePoll{state: JobState{ID: "42", State: "COMPLETED"}, do: finished(t, ws, 0, "ok\n")})
	if err := f.submitWait(); err != nil {
		t.Fatal(err)
	}
	// Polls at 0, 1, 3, 7, 15, 30, …, 120 s: lines at 0, 45 and 90 s.
	if n := strings.Count(f.stdout.String(), "RUNNING"); n != 3 {
		t.Errorf("%d progress lines, want 3:\n%s", n, f.stdout.String())
	}
}

// sbatch is tried again while the controller accepts nothing, never after
// it refused the job, nor after an answer was lost: the job may exist.
func TestSbatchRetry(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	sbatch := filepath.Join(dir, "sbatch")
	writeFile(t, sbatch, `#!/bin/sh
n=$(cat "`+count+`" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "`+count+`"
case "$MODE.$n" in
transient.1) echo "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)" >&2; exit 1;;
transient.2) echo "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying" >&2; exit 1;;
transient.*) echo 7;;
lost.*) echo "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation" >&2; exit 1;;
refused.*) echo "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified" >&2; exit 1;;
esac
`, 0o755)
	script := filepath.Join(dir, "job.sbatch")
	writeFile(t, script, "#!/bin/sh\n", 0o755)
	for _, tc := range []struct {
		mode    string
		tries   int
		pause   []time.Duration
		unknown bool
	}{
		// Why: a controller that accepted nothing is asked again, with growing pauses.
		{"transient", 3, []time.Duration{time.Second, 2 * time.Second}, false},
		// Why: a lost answer may hide an accepted job; another try could run it twice.
		{"lost", 1, nil, true},
		// Why: a refusal is final.
		{"refused", 1, nil, false},
	} {
		t.Setenv("MODE", tc.mode)
		os.Remove(count)
		var slept []time.Duration
		s := &Slurm{Sbatch: sbatch, Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }}
		id, err := s.Submit(context.Background(), script)
		b, _ := os.ReadFile(count)
		if got := strings.TrimSpace(string(b)); got != string(rune('0'+tc.tries)) || !equalDurations(slept, tc.pause) {
			t.Errorf("%s: %s tries, pauses %v; want %d, %v", tc.mode, got, slept, tc.tries, tc.pause)
		}
		if (tc.mode == "transient") != (err == nil && id == "7") {
			t.Errorf("%s: id %q, err %v", tc.mode, id, err)
		}
		if errors.Is(err, ErrSubmitUnknown) != tc.unknown || tc.unknown && !strings.Contains(err.Error(), "squeue --me") {
			t.Errorf("%s: err %v; want ErrSubmitUnknown %v, naming squeue --me", tc.mode, err, tc.unknown)
		}
	}
}

// A follower without squeue fails at once, naming it.
func TestFollowWithoutSqueue(t *testing.T) {
	s := &Slurm{Sbatch: "sh", Squeue: "no-such-squeue-noderun", Scancel: "sh"}
	err := New(Options{Scheduler: s}).followAvailable()
	if exitcode.Of(err) != exitcode.Submit || !strings.Contains(err.Error(), "no-such-squeue-noderun") {
		t.Fatalf("err = %v (exit %d)", err, exitcode.Of(err))
	}
}
