// Package run is the `noderun run` subcommand.
package run

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
)

// NewCommand builds `noderun run`.
func NewCommand(env *appenv.Env) *cli.Command {
	return &cli.Command{
		Name:   "run",
		Action: func(*cli.Context) error { return errors.New("run: not built yet") },
	}
}
