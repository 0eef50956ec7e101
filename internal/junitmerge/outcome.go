package junitmerge

import (
	"fmt"
	"strings"
	"time"

	"github.com/noderun/noderun/internal/workspace"
)

// defaultStopMessage is a stopped task's reason when the job's result does
// not say why it was stopped.
const defaultStopMessage = "cancelled: asked to stop (job cancelled or stopped) before it ended"

func (t *task) stopMessage() string {
	if t.stoppedBecause != "" {
		return t.stoppedBecause
	}
	return defaultStopMessage
}

// markStopping marks the tasks whose runner was still stopping when the
// job merged: a record left running in a step the job cancelled. srun may
// end before its tasks on scancel, and such a runner is not dead.
func (b *wsBuild) markStopping() {
	if b.result == nil {
		return
	}
	for _, st := range b.result.Steps {
		if st.Outcome != workspace.StepCancelled {
			continue
		}
		for _, t := range b.tasks[st.Role] {
			t.stopping = t.rec != nil && t.rec.State == workspace.StateRunning
			t.jobEnded = b.o.JobEnded
		}
	}
}

// markStops finds the root cause's task and says of every task asked to
// stop after it why it was stopped.
func (b *wsBuild) markStops() {
	b.others = map[string][]string{}
	res := b.result
	if res == nil {
		return
	}
	rc := res.RootCause
	if rc != nil && rc.Rank != nil {
		if t, ok := b.tasks[rc.Role][*rc.Rank]; ok {
			b.cause = t
		}
	}
	why := ""
	switch {
	case res.Outcome == workspace.OutcomeNodeFailure && res.FailedNode != "":
		why = "stopped: node " + res.FailedNode + " of the job failed"
		for _, byRank := range b.tasks {
			for _, t := range byRank {
				if t.rec != nil && t.rec.State == workspace.StateRunning && t.rec.Node == res.FailedNode {
					t.lostOn = res.FailedNode
				}
			}
		}
	case res.Outcome == workspace.OutcomeNodeFailure:
		why = "stopped: a node of the job failed"
	case rc != nil:
		why = "stopped because " + rc.Who() + " failed"
	case res.Outcome == workspace.OutcomeTimeout:
		why = "stopped: the job reached its time limit"
	case res.Outcome == workspace.OutcomeCancelled:
		why = "stopped: the job was cancelled"
	case b.jobEnd() != "":
		// A result the follower wrote: Slurm's end of the job is all it knows.
		why = "stopped: " + b.jobEnd()
	}
	if why == "" {
		return
	}
	for _, byRank := range b.tasks {
		for _, t := range byRank {
			if t == b.cause || t.rec == nil || !t.rec.Stopped {
				continue
			}
			if rc != nil && !rc.End.IsZero() && !t.rec.End.IsZero() && t.rec.End.Before(rc.End) {
				continue // it ended before the cause did
			}
			t.stoppedBecause = why
		}
	}
}

// groupFailure files a failing task, other than the root cause, under its
// cause for the summary ("4 tasks stopped because GEN_0 rank 1 failed").
func (b *wsBuild) groupFailure(t *task, synth []*Case) {
	if t == b.cause {
		return
	}
	for _, c := range synth {
		if c.Error == nil {
			continue
		}
		why := groupCause(c.Error.Type, c.Error.Message)
		if _, ok := b.others[why]; !ok {
			b.order = append(b.order, why)
		}
		b.others[why] = append(b.others[why], fmt.Sprintf("%s rank %d", t.role, t.rank))
		return
	}
}

// groupCause is a failure's reason without what differs from task to task
// (durations, paths), so that tasks with one cause share one line.
func groupCause(typ, msg string) string {
	switch typ {
	case taskTimeout:
		return "timed out and were stopped"
	case taskNoRecord:
		return "left no task record"
	case taskRunnerDied:
		return "lost their runner before it recorded an end"
	case taskLost:
		msg, _, _ = strings.Cut(msg, ":")
		return msg
	case taskStillStopping:
		return "were still stopping when results were merged"
	case taskKilledStopping:
		return "were killed while still stopping (Slurm's KillWait ended)"
	case taskFailedToStart:
		msg, _, _ = strings.Cut(msg, ": ")
	case brokenMissing:
		return "wrote no junit file"
	}
	if typ != taskCancelled {
		msg, _, _ = strings.Cut(msg, ", but")
	}
	msg, _, _ = strings.Cut(msg, ";")
	return msg
}

// complete adds to the report what the records and the job's result know:
// the outcome and root cause, the other failures by cause, and wall times.
func (b *wsBuild) complete(rep *Report) {
	rep.Result = b.result
	for _, role := range b.roles() {
		for _, t := range b.sortedTasks(role) {
			rep.Tasks = append(rep.Tasks, TaskRun{Role: t.role, Rank: t.rank, Record: t.rec, Class: b.classOf(t), Why: t.stoppedBecause})
		}
	}
	rep.GPUs = b.gpuSection()
	for _, why := range b.order {
		rep.Others = append(rep.Others, Group{Cause: why, Tasks: b.others[why]})
	}
	var first, last time.Time
	for i := range rep.Rows {
		row := &rep.Rows[i]
		start, end := b.span(b.tasks[row.Role])
		if start.IsZero() {
			continue
		}
		row.Time = end.Sub(start)
		if first.IsZero() || start.Before(first) {
			first = start
		}
		if end.After(last) {
			last = end
		}
	}
	switch {
	case b.result != nil && !b.result.Start.IsZero() && b.result.End.After(b.result.Start):
		rep.Total.Time = b.result.End.Sub(b.result.Start)
	case !first.IsZero():
		rep.Total.Time = last.Sub(first)
	}
}

// classOf says how a task ended, for TaskRun.
func (b *wsBuild) classOf(t *task) string {
	r := t.rec
	switch {
	case t == b.cause:
		return TaskRootCause
	case r == nil:
		return TaskMissing
	case r.End.IsZero():
		return TaskNoEnd
	case r.Stopped && b.stops[t.role]:
		return TaskStoppedAfterDeciding
	case r.Stopped:
		return TaskStopped
	case r.TimedOut:
		return TaskTimedOut
	case r.Failed():
		return TaskFailed
	}
	return TaskPassed
}

// span is the first start and the last end among tasks' records.
func (b *wsBuild) span(tasks map[int]*task) (start, end time.Time) {
	for _, t := range tasks {
		r := t.rec
		if r == nil || r.Start.IsZero() {
			continue
		}
		if start.IsZero() || r.Start.Before(start) {
			start = r.Start
		}
		e := r.End
		if e.IsZero() {
			e = r.Start
		}
		if e.After(end) {
			end = e
		}
	}
	return start, end
}
