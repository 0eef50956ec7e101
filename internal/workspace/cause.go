package workspace

import (
	"sort"
	"time"
)

// FailedOnItsOwn reports a task that ended badly without being asked to
// stop: not by the supervisor, not by srun ending the other ranks of a
// failed step, not by scancel. A record left running (the runner died) has
// no end to order by and is not counted.
func (r *TaskRecord) FailedOnItsOwn() bool {
	return r.Failed() && !r.Stopped && r.State != StateRunning && !r.End.IsZero()
}

// FirstFailure is the root cause among recs: the task that failed on its own
// first, by end time (then role, then rank, for a tie). A non-zero before
// leaves out tasks that ended after it: once Slurm signals every task, the
// way each one ends says nothing of the job. Nil when no task qualifies.
func FirstFailure(recs []*TaskRecord, before time.Time) *TaskRecord {
	var cands []*TaskRecord
	for _, r := range recs {
		if r.FailedOnItsOwn() && (before.IsZero() || !r.End.After(before)) {
			cands = append(cands, r)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if !a.End.Equal(b.End) {
			return a.End.Before(b.End)
		}
		if a.Role != b.Role {
			return a.Role < b.Role
		}
		return a.Rank < b.Rank
	})
	return cands[0]
}
