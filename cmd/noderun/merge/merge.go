// Package merge is the `noderun merge` subcommand.
package merge

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
)

// NewCommand builds `noderun merge`.
func NewCommand(env *appenv.Env) *cli.Command {
	return &cli.Command{
		Name:   "merge",
		Action: func(*cli.Context) error { return errors.New("merge: not built yet") },
	}
}
