// Package submit is the `noderun submit` subcommand.
package submit

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/launcher"
	"github.com/noderun/noderun/noderun"
)

// NewCommand builds `noderun submit`.
func NewCommand(env *appenv.Env) *cli.Command {
	var req launcher.Request
	return &cli.Command{
		Name:      "submit",
		Usage:     "validate a perf config, write the job's workspace and submit it (or run it here with --local)",
		UsageText: "noderun submit --workspace DIR (--config FILE | --config-name NAME) [options]",
		Description: "Writes WS/job.json, WS/test_list.txt, WS/job.sbatch and WS/bin/noderun, then runs\n" +
			"sbatch --parsable WS/job.sbatch and prints the job id. Nothing is written when any flag,\n" +
			"environment variable or config value is invalid (exit status 2).\n\n" +
			"The test id is MODULE::FUNCTION[PREFIX-CONFIG] (aggregated: [PREFIX-CONFIG-SERVER]).\n" +
			"Each flag also reads the environment variables shown, the first one set wins.",
		Flags: req.Flags(),
		// A value the flag parser rejects (a bad duration, from the command
		// line or the environment) is a usage error too: exit 2.
		OnUsageError: exitcode.OnUsageError,
		Action: func(c *cli.Context) error {
			l := launcher.New(launcher.Options{
				Log:       env.Logger(),
				Stdout:    env.Stdout,
				Scheduler: launcher.NewSlurm(),
				// --local: the same job supervisor, with a local step starter.
				Local: func(ctx context.Context, specPath string, localGPUs int) (int, error) {
					return noderun.RunLocal(ctx, noderun.LocalJobOptions{
						SpecPath: specPath, FakeGPUs: localGPUs, Log: env.Logger(), Subreaper: true,
					})
				},
			})
			return l.Submit(c.Context, req)
		},
	}
}
