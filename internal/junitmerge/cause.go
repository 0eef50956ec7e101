package junitmerge

import (
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/workspace"
)

// DescribeCause turns the record of a root-cause task into what
// job-result.json and the summary show: where it ran, how it ended, its log
// and junit relative to the workspace, and its first error line. A setup
// failure points at the node's setup log, where its error is.
func DescribeCause(ws workspace.Layout, rec *workspace.TaskRecord) *workspace.RootCause {
	rank := rec.Rank
	c := &workspace.RootCause{
		Role: rec.Role, Rank: &rank, Node: rec.Node, ExitCode: rec.ExitCode, Signal: rec.Signal, End: rec.End,
	}
	if c.Node == "" {
		c.Node = rec.Host
	}
	log := ""
	if rec.Log != "" {
		log = ws.Resolve(rec.Log)
	}
	if rec.State == workspace.StateFailedToStart && rec.ExitCode == exitcode.SetupFailed && rec.Node != "" {
		if setup := existing(ws.SetupLog(rec.Node)); setup != "" {
			log = setup
		}
	}
	if log != "" {
		c.Log = ws.Rel(log)
	}
	if rec.Junit != "" {
		c.Junit = ws.Rel(ws.Resolve(rec.Junit))
	}
	if rec.State != workspace.StateFailedToStart && log != "" {
		c.FirstError = FirstError(log)
	}
	if c.FirstError == "" && rec.Error != "" {
		c.FirstError = firstLine(rec.Error, 300)
	}
	return c
}
