package launcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobreport"
	"github.com/noderun/noderun/internal/junitmerge"
	"github.com/noderun/noderun/internal/workspace"
)

// Polling of the controller: one batched squeue per poll, doubling the
// pause from 1 s up to 15 s, so that a long job costs the controller about
// four queries a minute.
const (
	pollFirst = time.Second
	pollMax   = 15 * time.Second
	// maxPollErrors failed polls in a row end the wait (about 5 minutes at
	// the 15 s cap); the job itself is not touched.
	maxPollErrors = 20
	// resultVisible bounds the wait for job-result.json to become visible
	// after the job ended: an NFS client may show another node's new file
	// only when its cached view of the directory expires (acdirmax, 60 s).
	resultVisible = 60 * time.Second
	resultLook    = 2 * time.Second
)

// Progress is one observation of a followed job.
type Progress struct {
	JobID string
	JobState
	StepsRunning  int
	Steps         int
	TasksFinished int
	Tasks         int
}

// String is the progress line.
func (p Progress) String() string {
	if p.Gone {
		return fmt.Sprintf("job %s: ended, steps running %d/%d, tasks finished %d/%d", p.JobID, p.StepsRunning, p.Steps, p.TasksFinished, p.Tasks)
	}
	state := p.State
	if state == "PENDING" && p.Reason != "" {
		// squeue prints the reason in parentheses already: "(Resources)".
		state += " " + p.Reason
	}
	return fmt.Sprintf("job %s: %s, elapsed %s, steps running %d/%d, tasks finished %d/%d",
		p.JobID, state, orDefault(p.Elapsed, "0:00"), p.StepsRunning, p.Steps, p.TasksFinished, p.Tasks)
}

// key is what makes a log line worth printing when there is no terminal:
// everything but the elapsed time (and a running job's node list).
func (p Progress) key() string {
	reason := ""
	if p.State == "PENDING" {
		reason = p.Reason
	}
	return fmt.Sprintf("%s|%s|%v|%d|%d", p.State, reason, p.Gone, p.StepsRunning, p.TasksFinished)
}

// stopped is the error of a follower whose context ended: nothing the job
// did, so an internal fault (70).
func stopped(id string, err error) error {
	return exitcode.With(exitcode.Internal, fmt.Errorf("stopped following job %s (%w); it keeps running: scancel %s stops it", id, err, id))
}

func stateOf(states []JobState, id string) JobState {
	for _, s := range states {
		if s.ID == id {
			return s
		}
	}
	return JobState{ID: id, Gone: true}
}

// progress reads the task records of the workspace: a step is running while
// one of its tasks is, a task is finished once its record left "running".
func (l *Launcher) progress(p *Prepared, id string, st JobState) Progress {
	prog := Progress{JobID: id, JobState: st, Steps: len(p.Spec.Steps)}
	for _, s := range p.Spec.Steps {
		prog.Tasks += s.Tasks
	}
	recs, errs := p.Workspace.TaskRecords()
	for _, err := range errs {
		l.o.Log.Debug().Err(err).Msg("read task record")
	}
	running := map[string]bool{}
	for _, r := range recs {
		if r.State == workspace.StateRunning {
			running[r.Role] = true
		} else {
			prog.TasksFinished++
		}
	}
	prog.StepsRunning = len(running)
	return prog
}

// outcomeOfState is the outcome Slurm's final state names, for a job that
// left no result of its own; failed for any other state.
func outcomeOfState(state string) string {
	switch state {
	case "TIMEOUT", "DEADLINE":
		return workspace.OutcomeTimeout
	case "NODE_FAIL", "BOOT_FAIL":
		return workspace.OutcomeNodeFailure
	case "CANCELLED", "PREEMPTED":
		return workspace.OutcomeCancelled
	}
	return workspace.OutcomeFailed
}

// finish reads the result of a local job, prints the summary and returns
// the outcome's exit status (workspace.JobResult.OutcomeStatus), never a
// step's. localCode is the local runner's code, used when no result was
// written.
func (l *Launcher) finish(p *Prepared, localCode int) error {
	ws := p.Workspace
	res, err := ws.LoadJobResult()
	if err != nil {
		code := workspace.OutcomeExitCode(workspace.OutcomeFailed)
		if localCode > 0 {
			code = localCode
		}
		if errors.Is(err, os.ErrNotExist) {
			return exitcode.With(code, fmt.Errorf("the job ended without a result (%s is missing): see the task logs under %s", ws.JobResult(), ws.LogsDir()))
		}
		return exitcode.With(code, fmt.Errorf("the job ended with an unreadable result: %w; see the task logs under %s", err, ws.LogsDir()))
	}
	return l.report(p, res)
}

// finishSlurm reads the result of a Slurm job that ended, waiting for it to
// appear on a shared filesystem. A job that left none (its batch step was
// killed, it was cancelled before it started) gets one written here, from
// what its workspace holds, with Slurm's state as the reason, or outcome and
// reason when the follower itself stopped the job. Call it only once Slurm
// says the job ended: while it runs, its batch step writes the results.
func (l *Launcher) finishSlurm(ctx context.Context, p *Prepared, st JobState, outcome, reason string) error {
	ws, id, slurmState := p.Workspace, st.ID, st.State
	why, bound := l.noResultOfItsOwn(ctx, st)
	if why != "" {
		if reason == "" {
			reason = fmt.Sprintf("job %s ended in Slurm's state %s without a result of its own: %s", id, orDefault(slurmState, "(forgotten)"), why)
		}
	}
	res, err := l.awaitResult(ctx, ws, id, bound)
	if errors.Is(err, os.ErrNotExist) {
		res, err = l.writeResult(p, id, slurmState, outcome, reason)
		if err != nil {
			return exitcode.With(exitcode.Internal, err)
		}
	} else if err == nil {
		if n := l.mergeLate(p, res); n > 0 {
			fmt.Fprintf(l.o.Stdout, "noderun: %d task records or junit files landed after job %s merged its results: merged them into %s\n", n, id, ws.Rel(ws.Results()))
		}
	}
	if ctx.Err() != nil {
		return exitcode.With(exitcode.Internal, fmt.Errorf("stopped waiting for the result of job %s (%w): `noderun wait --workspace %s` waits again", id, ctx.Err(), ws.Dir))
	}
	if err != nil {
		return exitcode.With(workspace.OutcomeExitCode(outcomeOfState(slurmState)), fmt.Errorf("the job ended with an unreadable result: %w; see %s", err, ws.BatchOutput(id)))
	}
	return l.report(p, res)
}

// noResultOfItsOwn says why an ended job may have written no result of its
// own, and how long to look for one: none when it never ran (Slurm counts
// no elapsed time) or a signal killed its batch step; briefly for a
// cancelled or preempted job, where Slurm may show the cancel's signal
// although noderun job caught it and wrote its result. ("", resultVisible)
// when it should have written one.
func (l *Launcher) noResultOfItsOwn(ctx context.Context, st JobState) (string, time.Duration) {
	// The signal first: a job killed within its first second shows no
	// elapsed time either.
	sig := st.Signal
	if b, ok := l.o.Scheduler.(BatchReporter); ok && sig == 0 && !st.Gone {
		sig = b.BatchSignal(ctx, st.ID)
	}
	if sig > 0 {
		why := fmt.Sprintf("its batch step (noderun job) was killed by %s", signalName(syscall.Signal(sig)))
		if st.State == "CANCELLED" || st.State == "PREEMPTED" {
			return why, cancelMargin
		}
		return why, 0
	}
	if st.Elapsed == "0:00" || st.Elapsed == "00:00:00" {
		return "it never started", 0
	}
	return "", resultVisible
}

// awaitResult reads the job's result, looking for up to bound for one
// another node wrote. Each look lists the directory: a listing makes an
// NFS client refresh what it cached of it, where a stat may answer from the
// cache.
func (l *Launcher) awaitResult(ctx context.Context, ws workspace.Layout, id string, bound time.Duration) (*workspace.JobResult, error) {
	for waited := time.Duration(0); ; waited += resultLook {
		os.ReadDir(filepath.Dir(ws.JobResult()))
		res, err := ws.LoadJobResult()
		if !errors.Is(err, os.ErrNotExist) || waited >= bound {
			return res, err
		}
		if waited == 0 {
			fmt.Fprintf(l.o.Stdout, "noderun: job %s ended without a result in sight: looking for one for up to %s, as a shared filesystem may show it late\n", id, bound)
		}
		if err := l.o.Sleep(ctx, resultLook); err != nil {
			return nil, err
		}
	}
}

// writeResult merges the workspace of a job that left no result and writes
// WS/job-result.json for it: every expected task shows why it has nothing.
// A result the job writes meanwhile wins: the follower's is only linked into
// place where none exists, and results.xml written only after that.
func (l *Launcher) writeResult(p *Prepared, id, slurmState, outcome, reason string) (*workspace.JobResult, error) {
	ws := p.Workspace
	if outcome == "" {
		outcome = outcomeOfState(slurmState)
	}
	if reason == "" {
		state := "while Slurm no longer knew it"
		if slurmState != "" {
			state = "in Slurm's state " + slurmState
		}
		reason = fmt.Sprintf("job %s ended %s without a result of its own: it never started, or its batch step was killed", id, state)
		if _, err := os.Stat(ws.BatchOutput(id)); err == nil {
			reason += "; see " + ws.Rel(ws.BatchOutput(id))
		}
	}
	if outcome == workspace.OutcomeCancelled {
		if o, err := ws.LoadOwner(); err == nil {
			if n := ws.LoadCancelNote(id, o.Submitted); n != nil {
				reason = strings.TrimSuffix(reason, ".") + "; cancelled by " + n.String()
			}
		}
	}
	res := &workspace.JobResult{JobID: id, Submission: p.Spec.Submission, Attempt: restartOf(ws, p.Spec.Submission), Outcome: outcome, Verdict: "failed", ExitCode: workspace.OutcomeExitCode(outcome), Reason: reason, End: time.Now().UTC()}
	// The job's start is its first task's, when one started.
	recs, _ := ws.TaskRecords()
	for _, r := range recs {
		if !r.Start.IsZero() && (res.Start.IsZero() || r.Start.Before(res.Start)) {
			res.Start = r.Start
		}
	}
	doc, rep := junitmerge.BuildWorkspace(ws, junitmerge.Options{Spec: p.Spec, Result: res, Log: l.o.Log})
	if err := createResult(ws, res); errors.Is(err, fs.ErrExist) {
		l.o.Log.Info().Str("job_id", id).Msg("the job wrote its own result after all: reporting that one")
		return ws.LoadJobResult()
	} else if err != nil {
		return nil, fmt.Errorf("write the job's result: %w", err)
	}
	if err := junitmerge.WriteWorkspace(ws, doc, rep); err != nil {
		return nil, err
	}
	if err := jobreport.WriteHTML(ws, rep); err != nil {
		l.o.Log.Warn().Err(err).Msg("report.html not written; noderun report --workspace writes it")
	}
	l.o.Log.Warn().Str("job_id", id).Str("outcome", outcome).Str("reason", reason).Str("results", ws.Results()).Msg("the job left no result: the follower wrote it")
	return res, nil
}

// restartOf is the attempt the workspace's task records belong to (a
// batch step archives an earlier attempt's): 0 when no task started.
func restartOf(ws workspace.Layout, submission string) int {
	recs, _ := ws.TaskRecords()
	n := 0
	for _, r := range recs {
		if r.Submission == "" || r.Submission == submission {
			n = max(n, r.Attempt)
		}
	}
	return n
}

// createResult writes WS/job-result.json unless it exists (fs.ErrExist): a
// complete temporary file is hard-linked to the name, which, unlike a
// rename, never replaces a file, on NFS too.
func createResult(ws workspace.Layout, res *workspace.JobResult) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	path := ws.JobResult()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}

// report prints the summary of a result and returns its outcome's status.
func (l *Launcher) report(p *Prepared, res *workspace.JobResult) error {
	code := res.OutcomeStatus()
	if summary, err := os.ReadFile(p.Workspace.Summary()); err == nil {
		l.o.Stdout.Write(summary)
	} else {
		fmt.Fprintf(l.o.Stdout, "outcome: %s (exit status %d) %s\n", orDefault(res.Outcome, res.Verdict), code, res.Reason)
	}
	if code == 0 {
		return nil
	}
	return exitcode.Silent(code)
}
