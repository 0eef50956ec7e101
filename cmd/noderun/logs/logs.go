// Package logs is the `noderun logs` subcommand.
package logs

import (
	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/launcher"
)

type options struct {
	workspace string
	req       launcher.LogsRequest
}

// NewCommand builds `noderun logs`.
func NewCommand(env *appenv.Env) *cli.Command {
	var o options
	return &cli.Command{
		Name:      "logs",
		Usage:     "list every task's log with its state, or print one task's log",
		UsageText: "noderun logs --workspace DIR [--role R --rank K [--follow]]",
		Flags: []cli.Flag{
			launcher.WorkspaceFlag(&o.workspace),
			&cli.StringFlag{Name: "role", Usage: "print the log of a task of this `ROLE` (GEN_0, CTX_0, DISAGG_SERVER, BENCHMARK, …)", EnvVars: []string{"NODERUN_LOGS_ROLE"}, Destination: &o.req.Role},
			&cli.IntFlag{Name: "rank", Usage: "the task's `RANK` within its role", EnvVars: []string{"NODERUN_LOGS_RANK"}, Destination: &o.req.Rank},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing the log until the task ends", EnvVars: []string{"NODERUN_LOGS_FOLLOW"}, Destination: &o.req.Follow},
		},
		OnUsageError: exitcode.OnUsageError,
		Before: func(c *cli.Context) error {
			if o.req.Role == "" && (c.IsSet("rank") || o.req.Follow) {
				return exitcode.Usagef("--rank and --follow go with --role: name the task whose log to print")
			}
			return nil
		},
		Action: func(c *cli.Context) error {
			l := launcher.New(launcher.Options{Log: env.Logger(), Stdout: env.Stdout, Scheduler: launcher.NewSlurm()})
			return l.Logs(c.Context, o.workspace, o.req)
		},
	}
}
