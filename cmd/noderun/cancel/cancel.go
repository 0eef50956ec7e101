// Package cancel is the `noderun cancel` subcommand.
package cancel

import (
	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/launcher"
)

// NewCommand builds `noderun cancel`.
func NewCommand(env *appenv.Env) *cli.Command {
	var dir string
	return &cli.Command{
		Name:      "cancel",
		Usage:     "cancel the workspace's job, wait for its results, print the summary",
		UsageText: "noderun cancel --workspace DIR",
		Description: "Runs scancel on the job submit recorded in the workspace (a local job gets SIGINT), waits\n" +
			"for its results within Slurm's KillWait plus a margin (writing them itself if the job left\n" +
			"none, as for a job cancelled while pending), prints the summary and exits with the job's\n" +
			"outcome status (81 for cancelled; README, Exit codes).",
		Flags: []cli.Flag{
			launcher.WorkspaceFlag(&dir),
		},
		OnUsageError: exitcode.OnUsageError,
		Action: func(c *cli.Context) error {
			l := launcher.New(launcher.Options{Log: env.Logger(), Stdout: env.Stdout, Scheduler: launcher.NewSlurm()})
			return l.Cancel(c.Context, dir)
		},
	}
}
