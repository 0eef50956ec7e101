package junitmerge

import (
	"fmt"
	"strconv"
	"time"

	"github.com/noderun/noderun/internal/workspace"
)

// The types of the synthetic testcases: what CI shows as the reason, one
// for each way a junit file, a task, a role or the workspace can fail.
const (
	// A junit file that cannot be trusted; ingestFile tells which.
	brokenMissing    = "noderun.junit.Missing"
	brokenUnreadable = "noderun.junit.Unreadable"
	brokenEmpty      = "noderun.junit.Empty"
	brokenTruncated  = "noderun.junit.Truncated"
	brokenInvalid    = "noderun.junit.Invalid"
	brokenNoSuites   = "noderun.junit.NoSuites"
	brokenLost       = "noderun.junit.LostFailures"
	junitNoFiles     = "noderun.junit.NoFiles"

	taskNoRecord      = "noderun.task.NoRecord"
	taskRunnerDied    = "noderun.task.RunnerDied"
	taskLost          = "noderun.task.LostWithNode"
	taskStillStopping = "noderun.task.StillStopping"
	// The job ended (Slurm's KillWait) while the task was still stopping.
	taskKilledStopping = "noderun.task.KilledWhileStopping"
	taskFailedToStart  = "noderun.task.FailedToStart"
	taskTimeout        = "noderun.task.Timeout"
	taskCancelled      = "noderun.task.Cancelled"
	taskSignal         = "noderun.task.Signal"
	taskExit           = "noderun.task.Exit"
	taskState          = "noderun.task.State"
	// A skip, not a failure: the expected end of a server or worker.
	taskStoppedAfterDeciding = "noderun.task.StoppedAfterDeciding"

	roleNoResults            = "noderun.role.NoResults"
	roleStoppedAfterDeciding = "noderun.role.StoppedAfterDeciding"

	workspaceEmpty   = "noderun.workspace.Empty"
	workspaceSpec    = "noderun.workspace.Spec"
	workspaceRecord  = "noderun.workspace.Record"
	workspaceResults = "noderun.workspace.Results"
)

// TypeStillStopping is the type of the error of a task whose runner was
// still stopping when the job merged: a later merge may know better.
const TypeStillStopping = taskStillStopping

// jobEnd is why the job ended when no task is to blame for it (a job
// cancelled before it started, a batch step killed): the reason of its
// result. "" when the result names a root cause or there is none.
func (b *wsBuild) jobEnd() string {
	r := b.result
	if r == nil || r.RootCause != nil || r.Outcome == "" || r.Outcome == workspace.OutcomePassed {
		return ""
	}
	return r.Reason
}

// whyNothing says why a role left nothing: the job's end, else a guess.
func (b *wsBuild) whyNothing() string {
	if why := b.jobEnd(); why != "" {
		return why
	}
	return "the step never started?"
}

// silentRole stands for a role none of whose tasks left a record or a file.
func (b *wsBuild) silentRole(role string, n int) *Suite {
	p := problem{
		typ:     roleNoResults,
		message: fmt.Sprintf("role %s produced no results: none of its %d task(s) left a task record or a junit file (%s)", role, n, b.whyNothing()),
		logPath: existing(b.ws.StepLog(role)),
	}
	p.logName = b.ws.Rel(p.logPath)
	skip := b.stops[role]
	if skip {
		p.typ, p.message = roleStoppedAfterDeciding, "stopped after "+b.deciding+" finished"
	}
	return &Suite{Name: role, role: role, Cases: []*Case{syntheticCase("noderun."+role, "results", p, skip, b.o.LogTailLines)}}
}

// taskCases decides which synthetic testcases a task needs.
func (b *wsBuild) taskCases(t *task, classname string) []*Case {
	rec, in := t.rec, t.in
	logPath := b.logPath(t)
	logName := b.ws.Rel(logPath)
	tail := b.o.LogTailLines
	junitRel := b.ws.Rel(t.junit)

	if b.stoppedAsExpected(t) {
		switch {
		case in.missing || in.broken != nil && len(in.suites) == 0:
			// Stopped before pytest wrote (all of) its file: expected.
			p := problem{typ: taskStoppedAfterDeciding, message: "stopped after " + b.deciding + " finished", logPath: logPath, logName: logName}
			if !in.missing {
				p.details = append(p.details, junitRel+": "+in.broken.Message)
			}
			return []*Case{syntheticCase(classname, "task", p, true, tail)}
		case in.broken != nil:
			// Failures the file holds but go-junit lost are still failures.
			return []*Case{syntheticCase(classname, "junit", junitProblem(in, junitRel), false, tail)}
		}
		return nil
	}

	var cases []*Case
	if typ, msg := taskFailure(t, junitRel); typ != "" {
		if meaning := b.pytestStatus(t); meaning != "" {
			msg += "; " + meaning
		}
		p := problem{typ: typ, message: msg, details: b.recordDetails(rec), logPath: logPath, logName: logName}
		cases = append(cases, syntheticCase(classname, "task", p, false, tail))
	}
	if in.broken != nil && !in.missing {
		p := junitProblem(in, junitRel)
		if in.broken.Type != brokenLost && len(cases) == 0 {
			// The log explains a file cut short by a crash, not failures
			// go-junit lost; a task's own error already shows the log.
			p.logPath, p.logName = logPath, logName
		}
		cases = append(cases, syntheticCase(classname, "junit", p, false, tail))
	}
	if len(cases) == 0 && len(in.suites) == 0 {
		// A task without junit (a server, or a rank that does not run
		// pytest) that ended well: one passing testcase keeps it visible.
		cases = append(cases, &Case{Name: "task", Classname: cleanText(classname), Time: Seconds(recDuration(rec))})
	}
	return cases
}

// taskFailure says why a task failed on its own, or gives "" when it did
// not. A junit file that is there but broken is junitProblem's to report.
func taskFailure(t *task, junitRel string) (typ, msg string) {
	rec, in := t.rec, t.in
	expectJunit := t.pytest
	if rec != nil {
		expectJunit = rec.Junit != ""
	}
	noJunit := ""
	if in.missing && expectJunit {
		noJunit = "; it left no junit file (" + junitRel + ")"
	}
	switch {
	case rec == nil:
		if t.expected {
			return taskNoRecord, "no task record: the runner never started on its node, or was killed before it wrote one" + noJunit + t.jobEnd
		}
	case rec.State == workspace.StateRunning && t.lostOn != "":
		return taskLost, "lost on node " + t.lostOn + ": the node failed while the task ran" + noJunit
	case rec.State == workspace.StateRunning && t.stopping && t.jobEnded:
		return taskKilledStopping, "killed while still stopping: Slurm ended the job (KillWait) before its runner recorded an end" + noJunit + t.jobEnd
	case rec.State == workspace.StateRunning && t.stopping:
		return taskStillStopping, "still stopping when results were merged" + noJunit + t.jobEnd
	case rec.State == workspace.StateRunning:
		return taskRunnerDied, "the runner died before recording an end" + noJunit + t.jobEnd
	case rec.State == workspace.StateFailedToStart:
		msg := "failed to start"
		if rec.Error != "" {
			msg += ": " + rec.Error
		}
		return taskFailedToStart, msg
	case rec.TimedOut || rec.State == workspace.StateTimedOut:
		msg := "timed out and was stopped"
		if d := rec.Duration(); d > 0 {
			msg = fmt.Sprintf("timed out after %s and was stopped", d.Round(time.Second))
		}
		return taskTimeout, msg + noJunit
	case rec.Stopped:
		return taskCancelled, t.stopMessage() + noJunit
	case rec.State == workspace.StateSignaled:
		return taskSignal, fmt.Sprintf("killed by signal %s (exit status %d)", orUnknown(rec.Signal), rec.ExitCode) + noJunit
	case rec.State == workspace.StateExited && rec.ExitCode != 0:
		switch {
		case in.missing:
			return taskExit, fmt.Sprintf("exited with status %d", rec.ExitCode) + noJunit
		case in.broken == nil && !junitFailing(in):
			// pytest's status 2-5 (interrupted, internal error, usage, no
			// tests) come with a junit file that shows nothing wrong.
			return taskExit, fmt.Sprintf("exited with status %d, but its junit file records no failure or error", rec.ExitCode)
		}
	case rec.State != workspace.StateExited:
		return taskState, "ended in an unknown state " + strconv.Quote(rec.State)
	case in.missing && expectJunit:
		return brokenMissing, "exited 0 but wrote no junit file (" + junitRel + ")"
	}
	return "", ""
}

// junitProblem is the error of a junit file that is there but cannot be
// trusted, naming the file as shown.
func junitProblem(in ingested, shown string) problem {
	return problem{typ: in.broken.Type, message: shown + ": " + in.broken.Message}
}

// junitFailing reports whether a file's testcases hold a failure or an error.
func junitFailing(in ingested) bool {
	for _, s := range in.suites {
		if z := s.sealed; z != nil && len(z.failing) > 0 {
			return true
		}
		for _, c := range s.Cases {
			if st := c.Status(); st == StatusFailed || st == StatusError {
				return true
			}
		}
	}
	return false
}

// stoppedAsExpected reports a task of a role stopped after the deciding step
// that did not end on its own with a failure or a timeout first.
func (b *wsBuild) stoppedAsExpected(t *task) bool {
	if !b.stops[t.role] {
		return false
	}
	rec := t.rec
	timedOut := rec != nil && (rec.TimedOut || rec.State == workspace.StateTimedOut)
	return rec == nil || !timedOut && (rec.Stopped || rec.State == workspace.StateRunning)
}
