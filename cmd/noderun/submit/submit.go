// Package submit is the `noderun submit` subcommand.
package submit

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
)

// NewCommand builds `noderun submit`.
func NewCommand(env *appenv.Env) *cli.Command {
	return &cli.Command{
		Name:   "submit",
		Action: func(*cli.Context) error { return errors.New("submit: not built yet") },
	}
}
