// Package status is the `noderun status` subcommand.
package status

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/launcher"
)

type options struct {
	workspace string
	json      bool
}

// NewCommand builds `noderun status`.
func NewCommand(env *appenv.Env) *cli.Command {
	var o options
	return &cli.Command{
		Name:      "status",
		Usage:     "show the workspace's job: state (with Slurm's pending reason), attempt, progress, outcome",
		UsageText: "noderun status --workspace DIR [--json]",
		Description: "Asks Slurm once about the job submit recorded in the workspace (WS/.noderun/owner.json)\n" +
			"and reads its task records and WS/job-result.json. Exit status 0 when it could tell, 2 when the\n" +
			"workspace holds no job, 75 when squeue is missing or fails.",
		Flags: []cli.Flag{
			launcher.WorkspaceFlag(&o.workspace),
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object: job_id, state, reason, attempt, progress and, once known, outcome", EnvVars: []string{"NODERUN_STATUS_JSON"}, Destination: &o.json},
		},
		OnUsageError: exitcode.OnUsageError,
		Action: func(c *cli.Context) error {
			l := launcher.New(launcher.Options{Log: env.Logger(), Stdout: env.Stdout, Scheduler: launcher.NewSlurm()})
			s, err := l.Status(c.Context, o.workspace)
			if err != nil {
				return err
			}
			if o.json {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			_, err = fmt.Fprint(env.Stdout, s)
			return err
		},
	}
}
