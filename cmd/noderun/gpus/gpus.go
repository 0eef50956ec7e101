// Package gpus is the `noderun gpus` subcommand.
package gpus

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
)

// NewCommand builds `noderun gpus`.
func NewCommand(env *appenv.Env) *cli.Command {
	return &cli.Command{
		Name:   "gpus",
		Action: func(*cli.Context) error { return errors.New("gpus: not built yet") },
	}
}
