// Package report is the `noderun report` subcommand.
package report

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobreport"
	"github.com/noderun/noderun/internal/junitmerge"
	"github.com/noderun/noderun/internal/workspace"
	"github.com/noderun/noderun/launcher"
)

// NewCommand builds `noderun report`.
func NewCommand(env *appenv.Env) *cli.Command {
	var dir string
	return &cli.Command{
		Name:      "report",
		Usage:     "rebuild WS/report.html (and WS/summary.md once the job ended) from a job's workspace",
		UsageText: "noderun report --workspace DIR",
		Description: "Reads the workspace as it is now (task records, junit files, WS/job-result.json, GPU\n" +
			"telemetry) and writes WS/report.html (outcome, root cause, a timeline of every task, GPU\n" +
			"charts; one self-contained file) and, once the job has ended, WS/summary.md. results.xml is\n" +
			"left as the job wrote it. Works while the job runs (the page shows how far it got), after\n" +
			"it ended, and on a copy of the workspace elsewhere.\n\n" +
			"The job writes both itself at its end; run this to look at a job before then, or after\n" +
			"upgrading noderun. Exit status 0 when written, 2 when DIR holds no job, 70 when a file\n" +
			"cannot be written.",
		Flags:        []cli.Flag{launcher.WorkspaceFlag(&dir)},
		OnUsageError: exitcode.OnUsageError,
		Action: func(c *cli.Context) error {
			if dir == "" {
				return exitcode.Usagef("give --workspace DIR (or set NODERUN_WORKSPACE or WORKSPACE): the job's workspace")
			}
			ws := workspace.New(dir)
			if !holdsJob(ws) {
				return exitcode.Usagef("--workspace %s: no job here (no job.json, no task records, no results/): give the directory submit wrote into", dir)
			}
			rep, summary, err := jobreport.Rebuild(ws, junitmerge.Options{Log: env.Logger()})
			if err != nil {
				return exitcode.With(exitcode.Internal, err)
			}
			if !summary {
				_, err = fmt.Fprintf(env.Stdout, "report: %s (the job has not ended: the page shows how far it got)\n", ws.Report())
				return exitcode.With(exitcode.Internal, err)
			}
			if err := rep.WriteTable(env.Stdout); err != nil {
				return exitcode.With(exitcode.Internal, err)
			}
			_, err = fmt.Fprintf(env.Stdout, "report: %s\nsummary: %s\n", ws.Report(), ws.Summary())
			return exitcode.With(exitcode.Internal, err)
		},
	}
}

// holdsJob reports whether the workspace holds anything a job writes.
func holdsJob(ws workspace.Layout) bool {
	for _, p := range []string{ws.Spec(), ws.TasksDir(), ws.ResultsDir()} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}
