package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/workspace"
)

// recordOwner writes WS/.noderun/owner.json for the job just submitted
// (jobID), or for a local job run by this process, with job.json's
// submission id.
func (l *Launcher) recordOwner(p *Prepared, jobID string, local bool) error {
	host, _ := os.Hostname()
	o := &workspace.Owner{JobID: jobID, SubmissionID: p.Spec.Submission, Host: host, Submitted: time.Now().UTC(), Local: local}
	if local {
		o.PID = os.Getpid()
	}
	return p.Workspace.SaveOwner(o)
}

// checkOwner refuses a workspace whose job still pends or runs (exit 2):
// a second job would clear its outputs while it writes them. A workspace
// whose job has ended may be reused; submit then clears its outputs.
func (l *Launcher) checkOwner(ctx context.Context, ws workspace.Layout) error {
	o, err := ws.LoadOwner()
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return exitcode.Usagef("%v: if no job runs in %s any more, remove that file", err, ws.Dir)
	}
	state, active, err := l.ownerState(ctx, ws, o)
	if err != nil {
		return exitcode.With(exitcode.Submit, fmt.Errorf("workspace %s belongs to job %s, and whether it still runs cannot be told: %w", ws.Dir, ownerName(o), err))
	}
	if active {
		return exitcode.Usagef("workspace %s belongs to job %s (submitted %s from %s), which is still %s: "+
			"stop it with `noderun cancel --workspace %s`%s, wait for it with `noderun wait --workspace %s`, or choose another workspace (--workspace, NODERUN_WORKSPACE)",
			ws.Dir, ownerName(o), o.Submitted.Local().Format(time.DateTime), orDefault(o.Host, "an unknown host"), state, ws.Dir, scancelHint(o), ws.Dir)
	}
	l.o.Log.Info().Str("workspace", ws.Dir).Str("job_id", o.JobID).Str("state", state).Msg("the workspace's earlier job has ended: reusing the workspace, its outputs are cleared")
	return nil
}

// ownerState says whether the owner's job still pends or runs: squeue for a
// Slurm job; for a local one, whether its process lives (on another host,
// whether it left no result yet).
func (l *Launcher) ownerState(ctx context.Context, ws workspace.Layout, o *workspace.Owner) (state string, active bool, err error) {
	if o.Local {
		host, _ := os.Hostname()
		if o.Host != host {
			_, err := os.Stat(ws.JobResult())
			if err != nil {
				return "running on " + o.Host + " as far as this host can tell (no job-result.json)", true, nil
			}
			return "ended", false, nil
		}
		if pidAlive(o.PID) {
			return fmt.Sprintf("running (process %d)", o.PID), true, nil
		}
		return "ended", false, nil
	}
	states, err := l.o.Scheduler.Poll(ctx, []string{o.JobID})
	if err != nil {
		return "", false, err
	}
	st := stateOf(states, o.JobID)
	if st.Ended() {
		return orDefault(st.State, "gone from the queue"), false, nil
	}
	return st.State, true, nil
}

func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// followAvailable fails at once when the commands a follower needs are
// missing (exit 75), naming the one.
func (l *Launcher) followAvailable() error {
	if a, ok := l.o.Scheduler.(interface{ FollowAvailable() error }); ok {
		if err := a.FollowAvailable(); err != nil {
			return exitcode.With(exitcode.Submit, err)
		}
	}
	return nil
}

// ownerName names the owner's job as people read it.
func ownerName(o *workspace.Owner) string {
	if o.Local {
		return fmt.Sprintf("local job (process %d on %s)", o.PID, o.Host)
	}
	return o.JobID
}

// scancelHint is the other way to stop the owner's job.
func scancelHint(o *workspace.Owner) string {
	if o.Local {
		return fmt.Sprintf(" (or kill -INT %d on %s)", o.PID, o.Host)
	}
	return " (or scancel " + o.JobID + ")"
}
