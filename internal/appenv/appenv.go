// Package appenv carries what every subcommand receives from the app: the
// logger (configured by the global flags before any Action runs), the output
// streams, and the constructors of the outside world that tests replace.
package appenv

import (
	"io"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/rs/zerolog"
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
