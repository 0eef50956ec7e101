package noderun

import (
	"context"
	"fmt"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/slurmenv"
	"github.com/noderun/noderun/internal/workspace"
)

// KillWaiter is implemented by step starters that can ask Slurm for its
// KillWait: after scancel, the time between SIGTERM and SIGKILL.
type KillWaiter interface {
	KillWait(ctx context.Context) (time.Duration, error)
}

// KillWait asks `scontrol show config`.
func (s *SrunStarter) KillWait(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, jobEndTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "scontrol", "show", "config").Output()
	if err != nil {
		return 0, fmt.Errorf("scontrol show config: %w", err)
	}
	return slurmenv.KillWait(out)
}

// cancelBudgetFor is how long a cancelled job waits for its steps and
// their task records: Slurm's KillWait less a reserve for the merge, which
// must be written before Slurm's SIGKILL. Unknown: cancelBudget.
func cancelBudgetFor(killWait time.Duration) time.Duration {
	if killWait <= 0 {
		return cancelBudget
	}
	reserve := max(time.Second, killWait/4)
	return max(killWait-reserve, killWait/2)
}

// killWait is Slurm's KillWait once the starter told it; zero until then.
type killWait struct{ d atomic.Int64 }

// learn asks the starter for KillWait in the background: the answer is
// needed only when the job is cancelled, and the start must not wait.
func (k *killWait) learn(ctx context.Context, starter StepStarter) {
	w, ok := starter.(KillWaiter)
	if !ok {
		return
	}
	go func() {
		if d, err := w.KillWait(ctx); err == nil {
			k.d.Store(int64(d))
		}
	}()
}

func (k *killWait) get() time.Duration { return time.Duration(k.d.Load()) }

// recordPoll bounds how often the supervisor reads the records it still
// waits for: it starts at recordPollFirst and grows to recordPollMax.
const (
	recordPollFirst = 50 * time.Millisecond
	recordPollMax   = 500 * time.Millisecond
)

// awaitRecords waits until every task of the stopped steps has a final
// record of this attempt (its runner recorded an end), or until deadline.
// srun may end before its tasks do (scancel signals it too), and a merge
// then would report tasks as dead that are still stopping. It returns the
// tasks still without a final record.
func (s *supervisor) awaitRecords(deadline time.Time) []string {
	ws := workspace.New(s.o.Spec.Workspace)
	attempt := s.o.Attempt()
	type key struct {
		role string
		rank int
	}
	var pending []key
	for _, r := range s.runs {
		if r.stopped == "" || r.running == nil {
			continue
		}
		for rank := range r.step.Tasks {
			pending = append(pending, key{r.step.Role, rank})
		}
	}
	poll := recordPollFirst
	for {
		left := pending[:0]
		for _, k := range pending {
			rec, err := workspace.LoadTaskRecord(ws.TaskRecord(k.role, k.rank))
			if err != nil || !attempt.Owns(rec) || rec.State == workspace.StateRunning {
				left = append(left, k)
			}
		}
		pending = left
		wait := time.Until(deadline)
		if len(pending) == 0 || wait <= 0 {
			break
		}
		time.Sleep(min(poll, wait))
		poll = min(poll*3/2, recordPollMax)
	}
	var names []string
	for _, k := range pending {
		names = append(names, fmt.Sprintf("%s rank %d", k.role, k.rank))
	}
	if len(names) > 0 {
		s.log.Warn().Int("tasks", len(names)).Strs("first", names[:min(len(names), 8)]).
			Msg("tasks still stopping when the results are merged")
	}
	return names
}

// cancelEnded records steps that ended just before the job was cancelled
// at at as cancelled: Slurm signals srun and the batch step at once, and
// srun may exit (even with 0) before the batch step hears of it.
func (s *supervisor) cancelEnded(at time.Time) {
	for _, r := range s.runs {
		// A failed step keeps its failure: blame decides whether it is the cause.
		if !r.ended || r.result.Outcome != workspace.StepSucceeded || r.result.End.Before(at.Add(-signalSkew)) {
			continue
		}
		r.stopped, r.result.Outcome = workspace.StepCancelled, workspace.StepCancelled
		cancelledCode(&r.result)
		s.log.Info().Str("role", r.step.Role).Int("srun_exit_code", r.result.SrunExitCode).
			Msg("step ended as the job was cancelled: recorded as cancelled")
	}
}

// cancelledCode gives a cancelled step whose srun exited 0 the status of
// the job's stop, so that nothing cancelled reads as a success.
func cancelledCode(r *workspace.StepResult) {
	if r.Outcome == workspace.StepCancelled && r.ExitCode == 0 {
		r.ExitCode = exitcode.SignalBase + int(syscall.SIGTERM)
	}
}
