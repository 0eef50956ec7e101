// Package logging builds the zerolog logger every command receives.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// Formats accepted by --log-format.
const (
	FormatAuto    = "auto"
	FormatConsole = "console"
	FormatJSON    = "json"
)

// zerolog's duration unit is process-wide: every noderun log line gives
// durations (took, grace, timeout) in seconds.
func init() { zerolog.DurationFieldUnit = time.Second }

// New returns a logger writing to w. Format "auto" picks the human console
// format when w is a terminal and JSON otherwise (CI logs, Slurm output files).
func New(w io.Writer, format, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("unknown log level %q: use trace, debug, info, warn or error", level)
	}
	switch format {
	case FormatAuto:
		if IsTerminal(w) {
			w = console(w)
		}
	case FormatConsole:
		w = console(w)
	case FormatJSON:
	default:
		return zerolog.Nop(), fmt.Errorf("unknown log format %q: use auto, console or json", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func console(w io.Writer) io.Writer {
	return zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !IsTerminal(w)}
}

// IsTerminal reports whether w is a terminal (a Cygwin or MSYS pty counts),
// so that output meant for people (console logs, progress lines) goes there
// and logs and Slurm output files get the plain form.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
