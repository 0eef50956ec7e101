package launcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// Attach finds the job of the workspace at dir: its spec and its owner
// record. A workspace without them is a usage error (exit 2).
func (l *Launcher) Attach(dir string) (*Prepared, *workspace.Owner, error) {
	if dir == "" {
		return nil, nil, usageError(flagWorkspace, "is required: give the workspace the job was submitted into")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, usageError(flagWorkspace, "%q: %v", dir, err)
	}
	ws := workspace.New(abs)
	owner, err := ws.LoadOwner()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, usageError(flagWorkspace, "no job was submitted into %s (%s is missing): submit one with noderun submit --workspace %s", abs, ws.Owner(), abs)
	}
	if err != nil {
		return nil, nil, exitcode.With(exitcode.Usage, err)
	}
	spec, err := jobspec.Load(ws.Spec())
	if err != nil {
		return nil, nil, exitcode.With(exitcode.Usage, fmt.Errorf("workspace %s: %w", abs, err))
	}
	return &Prepared{Workspace: ws, Spec: spec}, owner, nil
}

// Wait follows the workspace's job as submit --wait does after submitting:
// for a job submitted without --wait, or whose follower died.
func (l *Launcher) Wait(ctx context.Context, dir string, o Follow) error {
	p, owner, err := l.Attach(dir)
	if err != nil {
		return err
	}
	if owner.Local {
		return l.waitLocal(ctx, p, owner)
	}
	if err := l.followAvailable(); err != nil {
		return err
	}
	fmt.Fprintf(l.o.Stdout, "following job %s (workspace %s)\n", owner.JobID, p.Workspace.Dir)
	return l.follow(ctx, p, owner.JobID, o)
}

// Cancel cancels the workspace's job, waits for its results (bounded by
// Slurm's KillWait), prints the summary and returns the job's status. A job
// that has ended already is only reported.
func (l *Launcher) Cancel(ctx context.Context, dir string) error {
	p, owner, err := l.Attach(dir)
	if err != nil {
		return err
	}
	if owner.Local {
		if host, _ := os.Hostname(); owner.Host != host {
			return exitcode.Usagef("the local job of %s runs on %s: run noderun cancel there", dir, owner.Host)
		}
		if localOwnerAlive(owner) {
			if err := syscall.Kill(owner.PID, syscall.SIGINT); err != nil {
				return exitcode.With(exitcode.Failure, fmt.Errorf("cancel the local job (process %d): %w", owner.PID, err))
			}
			fmt.Fprintf(l.o.Stdout, "noderun: sent SIGINT to the local job (process %d); waiting for its results\n", owner.PID)
		}
		return l.waitLocal(ctx, p, owner)
	}
	if err := l.followAvailable(); err != nil {
		return err
	}
	f := l.newFollower(p, owner.JobID, Follow{OnAbort: OnAbortDetach})
	defer f.close()
	states, err := l.o.Scheduler.Poll(ctx, []string{owner.JobID})
	if err != nil {
		return exitcode.With(exitcode.Submit, fmt.Errorf("cancel job %s: %w", owner.JobID, err))
	}
	// A result beside an active job is an earlier attempt's: cancel it.
	if st := stateOf(states, owner.JobID); st.Ended() {
		fmt.Fprintf(l.o.Stdout, "noderun: job %s has already ended (%s)\n", owner.JobID, orDefault(st.State, "gone from the queue"))
		return l.finishSlurm(ctx, p, st, "", "")
	}
	if err := f.cancel(ctx, "noderun cancel"); err != nil {
		return err
	}
	return f.run(ctx)
}

// waitLocal waits for a local job's process to end, then reports its result.
func (l *Launcher) waitLocal(ctx context.Context, p *Prepared, owner *workspace.Owner) error {
	host, _ := os.Hostname()
	if owner.Host != host {
		return exitcode.Usagef("the job of %s runs locally on %s: run this there", p.Workspace.Dir, owner.Host)
	}
	for localOwnerAlive(owner) {
		if p.Workspace.HasJobResult() {
			break
		}
		if err := l.o.Sleep(ctx, resultCheck); err != nil {
			return exitcode.With(exitcode.Internal, fmt.Errorf("stopped waiting for the local job (process %d): %w", owner.PID, err))
		}
	}
	return l.finish(p, -1)
}

// Status is what `noderun status` reports about a workspace's job.
type Status struct {
	JobID string `json:"job_id"`
	// State is Slurm's state name (PENDING, RUNNING, COMPLETING, COMPLETED,
	// CANCELLED, TIMEOUT, …); UNKNOWN once Slurm has forgotten the job.
	State string `json:"state"`
	// Reason is why a pending job waits, as Slurm says.
	Reason        string    `json:"reason,omitempty"`
	Attempt       int       `json:"attempt"`
	Elapsed       string    `json:"elapsed,omitempty"`
	StepsRunning  int       `json:"steps_running"`
	Steps         int       `json:"steps"`
	TasksFinished int       `json:"tasks_finished"`
	Tasks         int       `json:"tasks"`
	Submitted     time.Time `json:"submitted"`
	Host          string    `json:"host"`
	Local         bool      `json:"local,omitempty"`
	// Outcome, ExitStatus and Why are there once the job has a result.
	Outcome    string `json:"outcome,omitempty"`
	ExitStatus *int   `json:"exit_status,omitempty"`
	Why        string `json:"why,omitempty"`
	Workspace  string `json:"workspace"`
}

// Status looks at the workspace's job once: Slurm's state, the task
// records and the result.
func (l *Launcher) Status(ctx context.Context, dir string) (*Status, error) {
	p, owner, err := l.Attach(dir)
	if err != nil {
		return nil, err
	}
	st := JobState{ID: owner.JobID, State: "UNKNOWN"}
	switch {
	case owner.Local:
		st.ID = ""
		st.State = "COMPLETED"
		if localOwnerAlive(owner) {
			st.State = "RUNNING"
		}
	default:
		if err := l.followAvailable(); err != nil {
			return nil, err
		}
		states, err := l.o.Scheduler.Poll(ctx, []string{owner.JobID})
		if err != nil {
			return nil, exitcode.With(exitcode.Submit, fmt.Errorf("status of job %s: %w", owner.JobID, err))
		}
		if s := stateOf(states, owner.JobID); !s.Gone {
			st = s
		}
	}
	prog := l.progress(p, owner.JobID, st)
	s := &Status{JobID: owner.JobID, State: st.State, Elapsed: st.Elapsed, StepsRunning: prog.StepsRunning, Steps: prog.Steps,
		TasksFinished: prog.TasksFinished, Tasks: prog.Tasks, Submitted: owner.Submitted, Host: owner.Host, Local: owner.Local,
		Workspace: p.Workspace.Dir}
	if st.State == "PENDING" {
		s.Reason = st.Reason
	}
	if res, err := p.Workspace.LoadJobResult(); err == nil {
		code := res.OutcomeStatus()
		s.Outcome, s.ExitStatus, s.Why = orDefault(res.Outcome, res.Verdict), &code, res.Reason
		s.Attempt = attemptOf(p.Workspace)
	}
	return s, nil
}

// attemptOf reads the attempt job-result.json records (0 before attempts
// were recorded).
func attemptOf(ws workspace.Layout) int {
	var r struct {
		Attempt int `json:"attempt"`
	}
	if b, err := os.ReadFile(ws.JobResult()); err == nil {
		json.Unmarshal(b, &r)
	}
	return r.Attempt
}

// String is the status for people.
func (s *Status) String() string {
	who := "job " + s.JobID
	if s.Local {
		who = "local job"
	}
	state := s.State
	if s.Reason != "" {
		state += " " + s.Reason
	}
	out := fmt.Sprintf("%s: %s, elapsed %s, attempt %d, steps running %d/%d, tasks finished %d/%d\n",
		who, state, orDefault(s.Elapsed, "0:00"), s.Attempt, s.StepsRunning, s.Steps, s.TasksFinished, s.Tasks)
	out += fmt.Sprintf("workspace %s, submitted %s from %s\n", s.Workspace, s.Submitted.Local().Format(time.DateTime), s.Host)
	if s.Outcome != "" {
		out += fmt.Sprintf("outcome: %s (exit status %d)", s.Outcome, *s.ExitStatus)
		if s.Why != "" {
			out += ": " + s.Why
		}
		out += "\n"
	}
	return out
}
