// Package job is the `noderun job` subcommand.
package job

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
)

// NewCommand builds `noderun job`.
func NewCommand(env *appenv.Env) *cli.Command {
	return &cli.Command{
		Name:   "job",
		Action: func(*cli.Context) error { return errors.New("job: not built yet") },
	}
}
