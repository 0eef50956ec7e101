// Package wait is the `noderun wait` subcommand.
package wait

import (
	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/launcher"
)

// NewCommand builds `noderun wait`.
func NewCommand(env *appenv.Env) *cli.Command {
	var dir string
	var follow launcher.Follow
	return &cli.Command{
		Name:      "wait",
		Usage:     "follow the workspace's job to its end, as submit --wait does (re-attach)",
		UsageText: "noderun wait --workspace DIR [--on-abort cancel|detach] [--pending-timeout DURATION]",
		Description: "For a job submitted without --wait, or whose follower died: shows its progress, prints the\n" +
			"summary and exits with its outcome's status (README, Exit codes). A job that left no result\n" +
			"gets one written from its workspace. SIGINT, SIGTERM or SIGHUP cancel the job (--on-abort).",
		Flags: append([]cli.Flag{
			launcher.WorkspaceFlag(&dir),
		}, follow.Flags("")...),
		OnUsageError: exitcode.OnUsageError,
		Before:       func(*cli.Context) error { return follow.Validate() },
		Action: func(c *cli.Context) error {
			l := launcher.New(launcher.Options{Log: env.Logger(), Stdout: env.Stdout, Scheduler: launcher.NewSlurm()})
			return l.Wait(c.Context, dir, follow)
		},
	}
}
