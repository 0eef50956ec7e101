package junitmerge

import (
	"fmt"
	"strconv"
	"time"

	"github.com/noderun/noderun/internal/workspace"
)

// silentRole stands for a role none of whose tasks left a record or a file.
func (b *wsBuild) silentRole(role string, n int) *Suite {
	p := problem{
		typ:     "noderun.role.NoResults",
		message: fmt.Sprintf("role %s produced no results: none of its %d task(s) left a task record or a junit file (the step never started?)", role, n),
		logPath: existing(b.ws.StepLog(role)),
	}
	p.logName = b.ws.Rel(p.logPath)
	skip := b.stops[role]
	if skip {
		p.typ, p.message = "noderun.role.StoppedAfterDeciding", "stopped after "+b.deciding+" finished"
	}
	return &Suite{Name: role, role: role, Cases: []*Case{syntheticCase("noderun."+role, "results", p, skip, b.o.LogTailLines)}}
}

// taskCases decides which synthetic testcases a task needs.
func (b *wsBuild) taskCases(t *task, classname string) []*Case {
	rec, in := t.rec, t.in
	expectJunit := t.pytest
	if rec != nil {
		expectJunit = rec.Junit != ""
	}
	logPath := b.logPath(t)
	logName := b.ws.Rel(logPath)
	tail := b.o.LogTailLines
	junitRel := b.ws.Rel(t.junit)

	if b.stoppedAsExpected(t) {
		switch {
		case in.missing || in.broken != nil && len(in.suites) == 0:
			// Stopped before pytest wrote (all of) its file: expected.
			p := problem{typ: "noderun.task.StoppedAfterDeciding", message: "stopped after " + b.deciding + " finished", logPath: logPath, logName: logName}
			if !in.missing {
				p.details = append(p.details, junitRel+": "+in.broken.Message)
			}
			return []*Case{syntheticCase(classname, "task", p, true, tail)}
		case in.broken != nil:
			// Failures the file holds but go-junit lost are still failures.
			return []*Case{syntheticCase(classname, "junit", problem{typ: in.broken.Type, message: junitRel + ": " + in.broken.Message}, false, tail)}
		}
		return nil
	}

	var cases []*Case
	taskFailed := func(typ, msg string) {
		p := problem{typ: typ, message: msg, details: b.recordDetails(rec), logPath: logPath, logName: logName}
		cases = append(cases, syntheticCase(classname, "task", p, false, tail))
	}
	junitFailing := false
	for _, s := range in.suites {
		for _, c := range s.Cases {
			if st := c.Status(); st == StatusFailed || st == StatusError {
				junitFailing = true
			}
		}
	}
	noJunit := ""
	if in.missing && expectJunit {
		noJunit = "; it left no junit file (" + junitRel + ")"
	}
	switch {
	case rec == nil:
		if t.expected {
			taskFailed("noderun.task.NoRecord", "no task record: the runner never started on its node, or was killed before it wrote one"+noJunit)
		}
	case rec.State == workspace.StateRunning:
		taskFailed("noderun.task.RunnerDied", "the runner died before recording an end"+noJunit)
	case rec.State == workspace.StateFailedToStart:
		msg := "failed to start"
		if rec.Error != "" {
			msg += ": " + rec.Error
		}
		taskFailed("noderun.task.FailedToStart", msg)
	case rec.TimedOut || rec.State == workspace.StateTimedOut:
		msg := "timed out and was stopped"
		if d := rec.Duration(); d > 0 {
			msg = fmt.Sprintf("timed out after %s and was stopped", d.Round(time.Second))
		}
		taskFailed("noderun.task.Timeout", msg+noJunit)
	case rec.Stopped:
		taskFailed("noderun.task.Cancelled", "cancelled: asked to stop (job cancelled or stopped) before it ended"+noJunit)
	case rec.State == workspace.StateSignaled:
		taskFailed("noderun.task.Signal", fmt.Sprintf("killed by signal %s (exit status %d)", orUnknown(rec.Signal), rec.ExitCode)+noJunit)
	case rec.State == workspace.StateExited && rec.ExitCode != 0:
		switch {
		case in.missing:
			taskFailed("noderun.task.Exit", fmt.Sprintf("exited with status %d", rec.ExitCode)+noJunit)
		case in.broken == nil && !junitFailing:
			// pytest's status 2-5 (interrupted, internal error, usage, no
			// tests) come with a junit file that shows nothing wrong.
			taskFailed("noderun.task.Exit", fmt.Sprintf("exited with status %d, but its junit file records no failure or error", rec.ExitCode))
		}
	case rec.State != workspace.StateExited:
		taskFailed("noderun.task.State", "ended in an unknown state "+strconv.Quote(rec.State))
	case in.missing && expectJunit:
		taskFailed("noderun.junit.Missing", "exited 0 but wrote no junit file ("+junitRel+")")
	}
	if in.broken != nil && !in.missing {
		p := problem{typ: in.broken.Type, message: junitRel + ": " + in.broken.Message, logPath: logPath, logName: logName}
		if in.broken.Type == brokenLost || len(cases) > 0 {
			// The log explains a crash, not a file go-junit misread; and
			// the task's own error already shows it.
			p.logPath = ""
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
