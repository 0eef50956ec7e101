package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/procgroup"
	"github.com/noderun/noderun/internal/workspace"
)

// ownerClaimTries bounds the rounds of claim, find an ended owner, remove it.
const ownerClaimTries = 3

// claimOwner makes this submit the workspace's owner before anything is
// written (owner.json without a job id), so that a second submit is refused
// while this one writes, waits for sbatch or runs. An owner whose job has
// ended is removed first; one that pends, runs or is being submitted is
// refused (exit 2).
func (l *Launcher) claimOwner(ctx context.Context, p *Prepared, local bool) (*workspace.Owner, error) {
	ws := p.Workspace
	host, _ := os.Hostname()
	claim := &workspace.Owner{SubmissionID: p.Spec.Submission, Host: host, Submitted: time.Now().UTC(), Local: local, PID: os.Getpid()}
	for range ownerClaimTries {
		err := ws.ClaimOwner(claim)
		if err == nil {
			return claim, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, exitcode.With(exitcode.Internal, err)
		}
		o, err := ws.LoadOwner()
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, exitcode.Usagef("%v: if no job runs in %s any more, remove that file", err, ws.Dir)
		}
		if err := l.checkOwner(ctx, ws, o); err != nil {
			return nil, err
		}
		if err := ws.RemoveOwner(o); err != nil && !errors.Is(err, workspace.ErrOwnerChanged) {
			return nil, exitcode.With(exitcode.Internal, err)
		}
	}
	return nil, exitcode.Usagef("workspace %s is being claimed by other submits at this very moment: choose another workspace (--workspace, NODERUN_WORKSPACE)", ws.Dir)
}

// releaseOwner removes the claim of a submit that submitted nothing.
func (l *Launcher) releaseOwner(ws workspace.Layout, claim *workspace.Owner) {
	if err := ws.RemoveOwner(claim); err != nil {
		l.o.Log.Warn().Err(err).Str("path", ws.Owner()).Msg("the workspace's claim could not be removed: if no job runs there, remove the file")
	}
}

// checkOwner refuses (exit 2) a workspace whose job still pends or runs,
// or that another submit has claimed: a second job would clear its outputs
// while it writes them. A workspace whose job has ended may be reused.
func (l *Launcher) checkOwner(ctx context.Context, ws workspace.Layout, o *workspace.Owner) error {
	if o.JobID == "" && !o.Local {
		return exitcode.Usagef("workspace %s is claimed by submission %s (process %d on %s, since %s), which has not recorded a job id: "+
			"wait for that submit, or choose another workspace (--workspace, NODERUN_WORKSPACE); if that submit has ended and `squeue --me` shows no job of this workspace, remove %s",
			ws.Dir, o.SubmissionID, o.PID, orDefault(o.Host, "an unknown host"), o.Submitted.Local().Format(time.DateTime), ws.Owner())
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
			if !ws.HasJobResult() {
				return "running on " + o.Host + " as far as this host can tell (no job-result.json)", true, nil
			}
			return "ended", false, nil
		}
		if localOwnerAlive(o) {
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

// localOwnerAlive reports whether the process of a --local owner still
// runs: on this host only (a pid means nothing elsewhere), and not a zombie.
func localOwnerAlive(o *workspace.Owner) bool {
	host, _ := os.Hostname()
	return o.PID > 0 && o.Host == host && procgroup.Running(o.PID)
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
