// Package hostnames is the `noderun hostnames` subcommand.
package hostnames

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
)

// NewCommand builds `noderun hostnames`.
func NewCommand(env *appenv.Env) *cli.Command {
	return &cli.Command{
		Name:   "hostnames",
		Action: func(*cli.Context) error { return errors.New("hostnames: not built yet") },
	}
}
