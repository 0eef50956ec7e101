package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
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
	// resultTries bounds the wait for job-result.json to become visible on
	// a shared filesystem after the job left the queue.
	resultTries = 5
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

// follow polls the job until it ends, showing progress, then finishes.
func (l *Launcher) follow(ctx context.Context, p *Prepared, id string) error {
	term := l.o.IsTerminal(l.o.Stdout)
	delay := pollFirst
	lastKey := ""
	failures := 0
	for {
		states, err := l.o.Scheduler.Poll(ctx, []string{id})
		switch {
		case ctx.Err() != nil:
			return stopped(id, ctx.Err())
		case err != nil:
			failures++
			l.o.Log.Warn().Err(err).Str("job_id", id).Int("failures", failures).Msg("poll job state")
			if failures >= maxPollErrors {
				return exitcode.With(exitcode.Failure, fmt.Errorf("follow job %s: %d polls in a row failed, the last with: %w; the job may still be running (squeue -j %s; scancel %s stops it)", id, failures, err, id, id))
			}
		default:
			failures = 0
			prog := l.progress(p, id, stateOf(states, id))
			if term {
				fmt.Fprintf(l.o.Stdout, "\r%s\x1b[K", prog)
			} else if k := prog.key(); k != lastKey {
				fmt.Fprintln(l.o.Stdout, prog)
				lastKey = k
			}
			if prog.Ended() {
				if term {
					fmt.Fprintln(l.o.Stdout)
				}
				return l.finish(ctx, p, id, -1, stateOf(states, id).State)
			}
		}
		if err := l.o.Sleep(ctx, delay); err != nil {
			return stopped(id, err)
		}
		delay = min(delay*2, pollMax)
	}
}

func stopped(id string, err error) error {
	return exitcode.With(exitcode.Failure, fmt.Errorf("stopped following job %s (%w); it keeps running: scancel %s stops it", id, err, id))
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

// finish reads the job's result, prints the summary and returns the
// outcome's exit status (workspace.JobResult.OutcomeStatus), never a step's.
// id is "" for a local job; localCode is the local runner's code (-1 for
// Slurm jobs) and slurmState Slurm's last word on the job, both used when
// no result was written.
func (l *Launcher) finish(ctx context.Context, p *Prepared, id string, localCode int, slurmState string) error {
	ws := p.Workspace
	tries := resultTries
	if id == "" {
		tries = 1
	}
	var res *workspace.JobResult
	var err error
	for i := range tries {
		if res, err = ws.LoadJobResult(); err == nil || !errors.Is(err, os.ErrNotExist) {
			break
		}
		if i+1 < tries {
			if err := l.o.Sleep(ctx, pollFirst); err != nil {
				break
			}
		}
	}
	if err != nil {
		code := workspace.OutcomeExitCode(outcomeOfState(slurmState))
		where := "the task logs under " + ws.LogsDir()
		if id != "" {
			where = ws.BatchOutput(id)
		} else if localCode > 0 {
			code = localCode
		}
		if errors.Is(err, os.ErrNotExist) {
			return exitcode.With(code, fmt.Errorf("the job ended without a result (%s is missing): see %s", ws.JobResult(), where))
		}
		return exitcode.With(code, fmt.Errorf("the job ended with an unreadable result: %w; see %s", err, where))
	}
	code := res.OutcomeStatus()
	if summary, err := os.ReadFile(ws.Summary()); err == nil {
		l.o.Stdout.Write(summary)
	} else {
		fmt.Fprintf(l.o.Stdout, "outcome: %s (exit status %d) %s\n", orDefault(res.Outcome, res.Verdict), code, res.Reason)
	}
	if code == 0 {
		return nil
	}
	return exitcode.Silent(code)
}
