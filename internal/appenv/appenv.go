// Package appenv carries what every subcommand receives from the app: the
// logger (configured by the global flags before any Action runs), the output
// streams, and the constructors of the outside world that tests replace.
package appenv

import (
	"io"
	"slices"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/exitcode"
)

// Env is shared by all subcommands of one app.
type Env struct {
	// Log is replaced by the app's Before hook once --log-format and
	// --log-level are known; commands read it in their Action.
	Log *zerolog.Logger
	// Stdout receives results meant for people or pipes; logs go to Stderr.
	Stdout io.Writer
	Stderr io.Writer
	// NVML builds the NVML library handle; nil means "no NVML" (tests, or a
	// build without cgo). Only cmd/noderun/main.go builds the real one.
	NVML func() nvml.Interface
}

// Logger returns the current logger.
func (e *Env) Logger() zerolog.Logger { return *e.Log }

// Require fails with a usage error naming the string flag and its env vars
// when the flag is empty or not set. urfave/cli's own Required check returns an error that
// cannot be told apart from a failure (exit status 1) and prints the whole help.
func Require(c *cli.Context, name string) error {
	if c.String(name) != "" {
		return nil
	}
	where := "--" + name
	for _, f := range c.Command.Flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		if ev, ok := f.(interface{ GetEnvVars() []string }); ok && len(ev.GetEnvVars()) > 0 {
			where += " (or " + strings.Join(ev.GetEnvVars(), ", ") + ")"
		}
	}
	return exitcode.Usagef("%s is required; see noderun %s --help", where, c.Command.Name)
}
