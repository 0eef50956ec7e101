// Package jobreport publishes what a job's merge found: WS/results.xml and
// WS/summary.md (junitmerge writes them) and WS/report.html, the job at a
// glance: outcome, root cause, a timeline of every task and its GPUs.
//
// The page is one self-contained file (html/template, inline CSS and SVG,
// no script, no network), so that CI can archive it and Jenkins' HTML
// Publisher can show it as it is.
package jobreport

import (
	"fmt"
	"io"

	"github.com/noderun/noderun/internal/atomicfile"
	"github.com/noderun/noderun/internal/junitmerge"
	"github.com/noderun/noderun/internal/workspace"
)

// Write writes WS/results.xml, WS/summary.md and WS/report.html, each
// atomically. rep.Result is read now: set the outcome before calling.
func Write(ws workspace.Layout, doc *junitmerge.Document, rep *junitmerge.Report) error {
	if err := junitmerge.WriteWorkspace(ws, doc, rep); err != nil {
		return err
	}
	return WriteHTML(ws, rep)
}

// Rebuild writes WS/report.html again from what the workspace holds now
// (records, junit files, job-result.json, telemetry), and WS/summary.md
// once the job has ended, leaving results.xml as the job wrote it. On a
// running job the page shows how far it got; the summary, which would call
// its running tasks lost, is left alone.
func Rebuild(ws workspace.Layout, o junitmerge.Options) (rep *junitmerge.Report, summary bool, err error) {
	_, rep = junitmerge.BuildWorkspace(ws, o)
	if ws.HasJobResult() {
		if err := junitmerge.WriteSummary(ws, rep); err != nil {
			return nil, false, err
		}
		summary = true
	}
	return rep, summary, WriteHTML(ws, rep)
}

// WriteHTML writes WS/report.html for rep, reading the tasks' telemetry
// files from the workspace.
func WriteHTML(ws workspace.Layout, rep *junitmerge.Report) error {
	err := atomicfile.Write(ws.Report(), 0o644, func(w io.Writer) error { return Render(w, ws, rep) })
	if err != nil {
		return fmt.Errorf("write report.html: %w", err)
	}
	return nil
}
