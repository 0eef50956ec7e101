package jobreport

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"os"
	"sync"
	"time"

	"github.com/noderun/noderun/internal/junitmerge"
	"github.com/noderun/noderun/internal/workspace"
)

//go:embed report.html.tmpl
var pageSource string

// page is parsed on first use: every task's runner starts this binary.
var page = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Parse(pageSource))
})

// view is everything the page shows, computed before the template runs so
// that the template only places it.
type view struct {
	Title    string
	Outcome  string
	ExitCode int
	Reason   string
	Cause    *causeView
	Rows     []junitmerge.Row
	Total    junitmerge.Row
	Verdict  string
	Others   []string
	Problems []junitmerge.Entry
	Unlisted int
	Timeline *timeline
	GPUs     []gpuView
	// Uncharted counts the tasks with telemetry beyond maxCharted.
	Uncharted int
	// Running: the job has no result yet, and some task no end.
	Running   bool
	Generated string
}

type causeView struct {
	Where, Status, FirstError string
	Log, Junit                string
}

// Render writes the page for rep; ws is where the task logs, junit files
// and telemetry lie (links are relative to it).
func Render(w io.Writer, ws workspace.Layout, rep *junitmerge.Report) error {
	v := view{
		Title:    "noderun job",
		Outcome:  "unknown",
		Rows:     rep.Rows,
		Total:    rep.Total,
		Verdict:  "passed",
		Problems: rep.Problems,
		Unlisted: rep.Unlisted,
	}
	if rep.Failed() {
		v.Verdict = "FAILED"
	}
	if res := rep.Result; res != nil {
		if res.JobID != "" {
			v.Title = "noderun job " + res.JobID
		}
		if res.Outcome != "" {
			v.Outcome = res.Outcome
		}
		v.ExitCode, v.Reason = res.ExitCode, res.Reason
		if c := res.RootCause; c != nil {
			where := c.Who()
			if c.Node != "" {
				where += " @ " + c.Node
			}
			v.Cause = &causeView{Where: where, Status: c.Status(), FirstError: c.FirstError, Log: c.Log, Junit: c.Junit}
		}
	} else if running(rep.Tasks) {
		// noderun report on a job that runs: its tasks have not failed.
		v.Outcome, v.Running = "running", true
	} else if rep.Failed() {
		v.Outcome = workspace.OutcomeFailed
	}
	for _, g := range rep.Others {
		v.Others = append(v.Others, g.Line())
	}
	v.Timeline = newTimeline(ws, rep)
	if v.Running && v.Timeline != nil {
		for i := range v.Timeline.Rows {
			if row := &v.Timeline.Rows[i]; row.Class == junitmerge.TaskNoEnd {
				row.Status, row.Alarm = "running", false
			}
		}
	}
	v.GPUs, v.Uncharted = gpuViews(ws, rep.Tasks)
	if !rep.Generated.IsZero() {
		v.Generated = rep.Generated.UTC().Format(time.RFC3339)
	}
	return page().Execute(w, v)
}

// running reports whether a task is still running: it has a record and no end.
func running(tasks []junitmerge.TaskRun) bool {
	for _, t := range tasks {
		if t.Class == junitmerge.TaskNoEnd {
			return true
		}
	}
	return false
}

// link is path relative to the workspace when the file is there, else "":
// a link to nothing helps nobody.
func link(ws workspace.Layout, path string) string {
	if path == "" {
		return ""
	}
	if _, err := os.Stat(ws.Resolve(path)); err != nil {
		return ""
	}
	return ws.Rel(ws.Resolve(path))
}

// statusOf says how a task ended, in a few words.
func statusOf(t junitmerge.TaskRun) string {
	r := t.Record
	switch {
	case r == nil:
		return "no record"
	case r.End.IsZero():
		return "no end recorded"
	case r.State == workspace.StateFailedToStart:
		return fmt.Sprintf("did not start (%d)", r.ExitCode)
	case r.Signal != "":
		return fmt.Sprintf("%s (%d)", r.Signal, r.ExitCode)
	}
	return fmt.Sprintf("exit %d", r.ExitCode)
}
