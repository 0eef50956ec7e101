package launcher

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/workspace"
)

// fakeScheduler plays a scripted job: poll i returns polls[i] (the last one
// repeats) after running its side effect, e.g. writing task records.
type fakeScheduler struct {
	id        string
	submitErr error
	submitted []string
	polls     []fakePoll
	pollIDs   [][]string
	// clock is the time slept so far; pollAt records it at each poll.
	clock     func() time.Duration
	pollAt    []time.Duration
	cancelled []string
	cancelErr error
}

func (s *fakeScheduler) Cancel(_ context.Context, id string) error {
	s.cancelled = append(s.cancelled, id)
	return s.cancelErr
}

func (s *fakeScheduler) KillWait(context.Context) (time.Duration, error) { return 2 * time.Second, nil }

type fakePoll struct {
	state JobState
	err   error
	do    func()
}

func (s *fakeScheduler) Submit(_ context.Context, script string) (string, error) {
	s.submitted = append(s.submitted, script)
	return s.id, s.submitErr
}

func (s *fakeScheduler) Poll(_ context.Context, ids []string) ([]JobState, error) {
	s.pollIDs = append(s.pollIDs, ids)
	if s.clock != nil {
		s.pollAt = append(s.pollAt, s.clock())
	}
	p := s.polls[min(len(s.pollIDs), len(s.polls))-1]
	if p.do != nil {
		p.do()
	}
	if p.err != nil {
		return nil, p.err
	}
	return []JobState{p.state}, nil
}

func running(elapsed string) JobState {
	return JobState{ID: "42", State: "RUNNING", Elapsed: elapsed, Reason: "n[1-4]"}
}

// waitFixture prepares a submit of disagg-tiny.yaml against a job scripted
// by polls, which gets the workspace to write into.
func waitFixture(t *testing.T, polls func(ws workspace.Layout) []fakePoll) (*fixture, *fakeScheduler, workspace.Layout) {
	f := newFixture(t)
	ws := workspace.New(f.path("ws"))
	s := &fakeScheduler{id: "42", polls: polls(ws)}
	s.clock = func() time.Duration {
		var sum time.Duration
		for _, d := range f.sleeps {
			sum += d
		}
		return sum
	}
	f.sched = s
	return f, s, ws
}

func (f *fixture) submitWait() error {
	return f.run("--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml"), "--wait")
}

func record(t *testing.T, ws workspace.Layout, role string, rank int, state string) func() {
	return func() {
		if err := ws.SaveTaskRecord(&workspace.TaskRecord{Role: role, Rank: rank, State: state}); err != nil {
			t.Error(err)
		}
	}
}

func finished(t *testing.T, ws workspace.Layout, code int, summary string) func() {
	return func() {
		writeFile(t, ws.Summary(), summary, 0o644)
		verdict, outcome := "passed", workspace.OutcomePassed
		if code != 0 {
			verdict, outcome = "failed", workspace.OutcomeFailed
		}
		if err := ws.SaveJobResult(&workspace.JobResult{JobID: "42", Outcome: outcome, Verdict: verdict, ExitCode: code}); err != nil {
			t.Error(err)
		}
	}
}

// Without a terminal: one log line per change of state or counts (the
// elapsed time alone is no change), the pause between polls doubles from
// 1 s (slept in 1 s steps that look for the result), and the exit status
// is the verdict's.
func TestWaitLogLines(t *testing.T) {
	f, s, ws := waitFixture(t, func(ws workspace.Layout) []fakePoll {
		return []fakePoll{
			{state: JobState{ID: "42", State: "PENDING", Reason: "(Resources)"}},
			{state: JobState{ID: "42", State: "PENDING", Reason: "(Resources)"}},
			{state: running("0:05"), do: func() {
				record(t, ws, "GEN_0", 0, workspace.StateRunning)()
				record(t, ws, "CTX_0", 0, workspace.StateRunning)()
			}},
			{state: running("0:09")},
			{state: running("0:20"), do: record(t, ws, "CTX_0", 0, workspace.StateExited)},
			{state: JobState{ID: "42", State: "COMPLETED", Elapsed: "0:31"}, do: finished(t, ws, 3, "# summary: 1 failure\n")},
		}
	})
	err := f.submitWait()
	if got := exitcode.Of(err); got != 1 {
		t.Fatalf("exit status %d (%v), want 1 for the outcome failed, not the job's own 3", got, err)
	}
	want := `42
job 42: PENDING (Resources), elapsed 0:00, steps running 0/5, tasks finished 0/8
job 42: RUNNING, elapsed 0:05, steps running 2/5, tasks finished 0/8
job 42: RUNNING, elapsed 0:20, steps running 1/5, tasks finished 1/8
job 42: COMPLETED, elapsed 0:31, steps running 1/5, tasks finished 1/8
# summary: 1 failure
`
	if got := f.stdout.String(); got != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
	}
	s1 := time.Second
	if want := []time.Duration{0, s1, 3 * s1, 7 * s1, 15 * s1, 30 * s1}; !equalDurations(s.pollAt, want) {
		t.Errorf("polls at %v, want %v", s.pollAt, want)
	}
	for _, ids := range s.pollIDs {
		if len(ids) != 1 || ids[0] != "42" {
			t.Errorf("polled %v, want [42]", ids)
		}
	}
	if len(s.submitted) != 1 || s.submitted[0] != ws.Sbatch() {
		t.Errorf("submitted %v, want [%s]", s.submitted, ws.Sbatch())
	}
}

// On a terminal the progress line is rewritten in place and ends with a
// newline before the summary.
func TestWaitTerminal(t *testing.T) {
	f, _, _ := waitFixture(t, func(ws workspace.Layout) []fakePoll {
		return []fakePoll{
			{state: running("0:01")},
			{state: running("0:02")},
			{state: JobState{ID: "42", Gone: true}, do: finished(t, ws, 0, "all passed\n")},
		}
	})
	f.term = true
	if err := f.submitWait(); err != nil {
		t.Fatalf("submit --wait: %v", err)
	}
	// Between polls the clock ticks every second: 0:01 polled, 0:02 ticked,
	// 0:02 polled, 0:03 and 0:04 ticked.
	want := "42\n" +
		"\rjob 42: RUNNING, elapsed 0:01, steps running 0/5, tasks finished 0/8\x1b[K" +
		"\rjob 42: RUNNING, elapsed 0:02, steps running 0/5, tasks finished 0/8\x1b[K" +
		"\rjob 42: RUNNING, elapsed 0:02, steps running 0/5, tasks finished 0/8\x1b[K" +
		"\rjob 42: RUNNING, elapsed 0:03, steps running 0/5, tasks finished 0/8\x1b[K" +
		"\rjob 42: RUNNING, elapsed 0:04, steps running 0/5, tasks finished 0/8\x1b[K" +
		"\rjob 42: ended, steps running 0/5, tasks finished 0/8\x1b[K\n" +
		"all passed\n"
	if got := f.stdout.String(); got != want {
		t.Errorf("stdout:\n%q\nwant:\n%q", got, want)
	}
}

// The pause is capped at 15 s. A job that leaves the queue without a
// result gets one from the follower, after a bounded wait for it to appear
// on a shared filesystem: Slurm's state names the outcome (cancelled: 81),
// and every expected task shows as an error saying why.
func TestWaitBackoffAndMissingResult(t *testing.T) {
	polls := []fakePoll{}
	for range 8 {
		polls = append(polls, fakePoll{state: running("1:00")})
	}
	polls = append(polls, fakePoll{state: JobState{ID: "42", State: "CANCELLED"}})
	f, s, ws := waitFixture(t, func(workspace.Layout) []fakePoll { return polls })
	err := f.submitWait()
	if exitcode.Of(err) != exitcode.JobCancelled {
		t.Fatalf("err = %v (exit %d), want 81", err, exitcode.Of(err))
	}
	s1 := time.Second
	if want := []time.Duration{0, s1, 3 * s1, 7 * s1, 15 * s1, 30 * s1, 45 * s1, 60 * s1, 75 * s1}; !equalDurations(s.pollAt, want) {
		t.Errorf("polls at %v, want %v", s.pollAt, want)
	}
	res, err := ws.LoadJobResult()
	if err != nil {
		t.Fatal(err)
	}
	// Why: the merge keeps only records of the result's submission and attempt.
	if res.Outcome != workspace.OutcomeCancelled || !strings.Contains(res.Reason, "job 42 ended in Slurm's state CANCELLED without a result of its own") ||
		res.Submission != "feedc0defeedc0de" || res.Attempt != 0 {
		t.Errorf("result %+v", res)
	}
	xml, err := os.ReadFile(ws.Results())
	if err != nil {
		t.Fatal(err)
	}
	// Each of the 5 roles left nothing: one error each, attribute and text.
	if n := strings.Count(string(xml), "state CANCELLED without a result"); n != 10 || strings.Count(string(xml), "<error ") != 5 {
		t.Errorf("results.xml does not say of every role why it has nothing:\n%s", xml)
	}
	if !strings.Contains(f.stdout.String(), "cancelled") {
		t.Errorf("stdout has no summary:\n%s", f.stdout.String())
	}
}

// A controller hiccup is retried; the wait goes on.
func TestWaitPollErrors(t *testing.T) {
	f, _, _ := waitFixture(t, func(ws workspace.Layout) []fakePoll {
		return []fakePoll{
			{err: errors.New("slurm_load_jobs error: Socket timed out")},
			{err: errors.New("slurm_load_jobs error: Socket timed out")},
			{state: JobState{ID: "42", State: "COMPLETED"}, do: finished(t, ws, 0, "ok\n")},
		}
	})
	if err := f.submitWait(); err != nil {
		t.Fatalf("submit --wait: %v", err)
	}
	if !strings.HasSuffix(f.stdout.String(), "ok\n") {
		t.Errorf("stdout %q", f.stdout.String())
	}
}

// A controller that never answers ends the wait with advice, not a hang,
// and README's status for a Slurm command that fails (75).
func TestWaitGivesUp(t *testing.T) {
	f, s, _ := waitFixture(t, func(workspace.Layout) []fakePoll { return []fakePoll{{err: errors.New("connection refused")}} })
	err := f.submitWait()
	if err == nil || !strings.Contains(err.Error(), "20 polls in a row failed") || !strings.Contains(err.Error(), "scancel 42") || exitcode.Of(err) != exitcode.Submit {
		t.Fatalf("err = %v (exit %d), want exit %d", err, exitcode.Of(err), exitcode.Submit)
	}
	if len(s.pollIDs) != maxPollErrors {
		t.Errorf("%d polls, want %d", len(s.pollIDs), maxPollErrors)
	}
}

// Interrupting the wait (its context, not a signal: nothing the job did)
// leaves the job alone, says how to stop it and is an internal fault (70).
func TestWaitInterrupted(t *testing.T) {
	f, s, _ := waitFixture(t, func(workspace.Layout) []fakePoll { return []fakePoll{{state: running("0:01")}} })
	f.sleepErr = context.Canceled
	err := f.submitWait()
	if err == nil || !strings.Contains(err.Error(), "stopped following job 42 (context canceled); it keeps running: scancel 42 stops it") || exitcode.Of(err) != exitcode.Internal {
		t.Fatalf("err = %v (exit %d), want exit %d", err, exitcode.Of(err), exitcode.Internal)
	}
	if len(s.pollIDs) != 1 {
		t.Errorf("%d polls after the interrupt, want 1", len(s.pollIDs))
	}
}

// Without --wait, submit prints the id and leaves.
func TestSubmitNoWait(t *testing.T) {
	f, s, _ := waitFixture(t, func(workspace.Layout) []fakePoll { return []fakePoll{{state: running("0:01")}} })
	if err := f.run("--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml")); err != nil {
		t.Fatal(err)
	}
	if f.stdout.String() != "42\n" || len(s.pollIDs) != 0 {
		t.Errorf("stdout %q, %d polls; want the id and no polls", f.stdout.String(), len(s.pollIDs))
	}
}

// A refusal by the scheduler is a submit failure (exit 75) that says why.
func TestSubmitRefused(t *testing.T) {
	f, _, _ := waitFixture(t, func(workspace.Layout) []fakePoll { return nil })
	f.sched.(*fakeScheduler).submitErr = errors.New("sbatch refused the job: Invalid partition name specified")
	err := f.submitWait()
	if exitcode.Of(err) != exitcode.Submit || !strings.Contains(err.Error(), "Invalid partition name") {
		t.Fatalf("err = %v (exit %d)", err, exitcode.Of(err))
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// submit --wait exits with the outcome's status: never a step's own (143,
// 126 and 4 were seen), and 1 for a result written before outcomes.
func TestWaitExitsWithTheOutcome(t *testing.T) {
	tests := []struct {
		name string
		res  workspace.JobResult
		want int
	}{
		{"passed", workspace.JobResult{Outcome: workspace.OutcomePassed, Verdict: "passed"}, 0},
		{"failed with a step's 143", workspace.JobResult{Outcome: workspace.OutcomeFailed, Verdict: "failed", ExitCode: 143}, 1},
		{"timeout", workspace.JobResult{Outcome: workspace.OutcomeTimeout, Verdict: "failed", ExitCode: exitcode.JobTimeout}, exitcode.JobTimeout},
		{"cancelled", workspace.JobResult{Outcome: workspace.OutcomeCancelled, Verdict: "failed"}, exitcode.JobCancelled},
		{"node failure", workspace.JobResult{Outcome: workspace.OutcomeNodeFailure, Verdict: "failed"}, exitcode.JobNodeFailure},
		{"precheck", workspace.JobResult{Outcome: workspace.OutcomePrecheckFailed, Verdict: "failed"}, exitcode.JobPrecheckFailed},
		{"start", workspace.JobResult{Outcome: workspace.OutcomeStartFailed, Verdict: "failed", ExitCode: 71}, exitcode.JobStartFailed},
		// Why: job-result.json from an older noderun has no outcome.
		{"no outcome, failed with 126", workspace.JobResult{Verdict: "failed", ExitCode: 126}, 1},
		{"no outcome, passed", workspace.JobResult{Verdict: "passed"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _, _ := waitFixture(t, func(ws workspace.Layout) []fakePoll {
				return []fakePoll{{state: JobState{ID: "42", Gone: true}, do: func() {
					res := tc.res
					if err := ws.SaveJobResult(&res); err != nil {
						t.Error(err)
					}
				}}}
			})
			if got := exitcode.Of(f.submitWait()); got != tc.want {
				t.Errorf("exit status %d, want %d", got, tc.want)
			}
		})
	}
}

// Slurm's last state names the outcome of a job that left no result.
func TestOutcomeOfState(t *testing.T) {
	for state, want := range map[string]string{
		"TIMEOUT": workspace.OutcomeTimeout, "NODE_FAIL": workspace.OutcomeNodeFailure, "BOOT_FAIL": workspace.OutcomeNodeFailure,
		"CANCELLED": workspace.OutcomeCancelled, "COMPLETED": workspace.OutcomeFailed, "FAILED": workspace.OutcomeFailed, "": workspace.OutcomeFailed,
	} {
		if got := outcomeOfState(state); got != want {
			t.Errorf("%q: %s, want %s", state, got, want)
		}
	}
}

// The job's own result wins over the follower's: a result that shows up on
// the shared filesystem late is waited for, and one that appears as the
// follower writes is kept.
func TestFollowerKeepsTheJobsResult(t *testing.T) {
	// Why: on NFS another node's file may stay invisible for up to a minute.
	t.Run("late", func(t *testing.T) {
		f, _, ws := waitFixture(t, func(workspace.Layout) []fakePoll {
			return []fakePoll{{state: running("0:01")}, {state: JobState{ID: "42", State: "COMPLETED"}}}
		})
		var after int
		f.sleepHook = func() {
			if strings.Contains(f.stdout.String(), "ended without a result in sight") {
				if after++; after == 25 {
					finished(t, ws, 0, "the job's own\n")()
				}
			}
		}
		if err := f.submitWait(); err != nil || !strings.HasSuffix(f.stdout.String(), "the job's own\n") {
			t.Fatalf("%v\n%s", err, f.stdout.String())
		}
		if _, err := os.Stat(ws.Results()); err == nil {
			t.Error("the follower wrote results.xml beside the job's result")
		}
	})
	// Why: the batch step may write between the last look and the write.
	t.Run("race", func(t *testing.T) {
		f, _, ws := waitFixture(t, func(workspace.Layout) []fakePoll { return nil })
		if err := f.run("--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml")); err != nil {
			t.Fatal(err)
		}
		l := f.launcher()
		p, _, err := l.Attach(ws.Dir)
		if err != nil {
			t.Fatal(err)
		}
		finished(t, ws, 0, "the job's own\n")()
		res, err := l.writeResult(p, "42", "CANCELLED", "", "")
		if err != nil || res.Outcome != workspace.OutcomePassed {
			t.Fatalf("result %+v, %v; want the job's own", res, err)
		}
		if saved, err := ws.LoadJobResult(); err != nil || saved.Outcome != workspace.OutcomePassed {
			t.Errorf("job-result.json %+v, %v: overwritten", saved, err)
		}
		if _, err := os.Stat(ws.Results()); err == nil {
			t.Error("the follower wrote results.xml beside the job's result")
		}
	})
}

// After a requeue the workspace may still hold the first attempt's result:
// it is not final while Slurm says the job runs, wait does not poll faster
// for it, and cancel still cancels the job.
func TestRequeuedJobsEarlierResult(t *testing.T) {
	earlier := func(ws workspace.Layout) func() {
		return func() {
			ws.SaveJobResult(&workspace.JobResult{JobID: "42", Submission: "feedc0defeedc0de", Attempt: 0, Outcome: workspace.OutcomeNodeFailure, Verdict: "failed"})
		}
	}
	t.Run("wait", func(t *testing.T) {
		f, s, _ := waitFixture(t, func(ws workspace.Layout) []fakePoll {
			return []fakePoll{
				{state: running("0:01"), do: earlier(ws)},
				{state: running("0:02")}, {state: running("0:03")}, {state: running("0:04")},
				{state: JobState{ID: "42", State: "COMPLETED"}, do: finished(t, ws, 0, "attempt 1 passed\n")},
			}
		})
		if err := f.submitWait(); err != nil || !strings.HasSuffix(f.stdout.String(), "attempt 1 passed\n") {
			t.Fatalf("%v\n%s", err, f.stdout.String())
		}
		s1 := time.Second
		if want := []time.Duration{0, s1, 3 * s1, 7 * s1, 15 * s1}; !equalDurations(s.pollAt, want) {
			t.Errorf("polls at %v, want %v", s.pollAt, want)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		f, s, ws := waitFixture(t, func(workspace.Layout) []fakePoll {
			return []fakePoll{{state: running("0:01")}}
		})
		if err := f.run("--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml")); err != nil {
			t.Fatal(err)
		}
		earlier(ws)()
		s.polls = []fakePoll{{state: running("0:01")}, {state: JobState{ID: "42", State: "CANCELLED"}}}
		f.launcher().Cancel(context.Background(), ws.Dir)
		if len(s.cancelled) != 1 {
			t.Errorf("cancelled %v, want [42]", s.cancelled)
		}
	})
}

// The follower's result names the attempt whose task records the workspace
// holds, so that the merge keeps a requeued job's records.
func TestRestartOf(t *testing.T) {
	ws := workspace.New(t.TempDir())
	if n := restartOf(ws, "s"); n != 0 {
		t.Errorf("no records: attempt %d, want 0", n)
	}
	ws.SaveTaskRecord(&workspace.TaskRecord{Role: "GEN_0", Rank: 0, Submission: "s", Attempt: 2, State: workspace.StateRunning})
	ws.SaveTaskRecord(&workspace.TaskRecord{Role: "GEN_0", Rank: 1, Submission: "other", Attempt: 5, State: workspace.StateRunning})
	if n := restartOf(ws, "s"); n != 2 {
		t.Errorf("attempt %d, want 2", n)
	}
}

// signalReporter is a scheduler that says a signal ended the batch step.
type signalReporter struct {
	fakeScheduler
	sig int
}

func (s *signalReporter) BatchSignal(context.Context, string) int { return s.sig }

// A batch step killed by a signal cannot have written its result: no look
// for one. A cancelled or preempted job gets a brief look: Slurm may show
// the cancel's signal although noderun job caught it and wrote its result.
func TestNoResultOfItsOwn(t *testing.T) {
	l := New(Options{Scheduler: &signalReporter{sig: 9}})
	ctx := context.Background()
	killed := "its batch step (noderun job) was killed by SIGKILL"
	for _, tc := range []struct {
		st    JobState
		why   string
		bound time.Duration
	}{
		{JobState{ID: "1", State: "FAILED", Elapsed: "0:12"}, killed, 0},
		{JobState{ID: "1", State: "CANCELLED", Elapsed: "0:12"}, killed, cancelMargin},
		{JobState{ID: "1", State: "PREEMPTED", Elapsed: "0:12"}, killed, cancelMargin},
		// Killed within its first second: no elapsed time, yet it ran.
		{JobState{ID: "1", State: "FAILED", Elapsed: "0:00"}, killed, 0},
		{JobState{ID: "1", State: "FAILED", Elapsed: "0:12", Gone: true}, "", resultVisible},
	} {
		if why, bound := l.noResultOfItsOwn(ctx, tc.st); why != tc.why || bound != tc.bound {
			t.Errorf("%+v: %q, %s; want %q, %s", tc.st, why, bound, tc.why, tc.bound)
		}
	}
	// No signal known: no elapsed time means it never started.
	quiet := New(Options{Scheduler: &signalReporter{}})
	if why, bound := quiet.noResultOfItsOwn(ctx, JobState{ID: "1", State: "CANCELLED", Elapsed: "0:00"}); why != "it never started" || bound != 0 {
		t.Errorf("a job cancelled while pending: %q, %s", why, bound)
	}
	// The signal that the query which found the job ended told, though the
	// job is gone by now (MinJobAge) and a second query cannot tell.
	gone := New(Options{Scheduler: &signalReporter{}})
	if why, _ := gone.noResultOfItsOwn(ctx, JobState{ID: "1", State: "FAILED", Elapsed: "00:00:02", Signal: 9}); why != killed {
		t.Errorf("signal from the state's own query: %q", why)
	}
}
