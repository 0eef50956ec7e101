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

	"github.com/noderun/noderun/internal/redact"
)

// Formats accepted by --log-format. FormatAuto is the default and the same
// as FormatConsole: the name earlier versions used.
const (
	FormatAuto    = "auto"
	FormatConsole = "console"
	FormatJSON    = "json"
)

// zerolog's duration format is process-wide: every noderun log line gives
// durations (took, grace, timeout) with their unit, as 1.19s or 30s.
func init() { zerolog.DurationFieldFormat = zerolog.DurationFormatString }

// fieldsFirst are the fields that say where a line comes from; the console
// format prints them first, the others sorted by name.
var fieldsFirst = []string{"job", "role", "rank", "node"}

// New returns a logger writing to w. The console format is for people and
// CI logs alike: coloured on a terminal, plain on a pipe or in a Slurm
// output file. JSON is for programs. Every known secret value is hidden in
// what it writes (secrets may be nil).
func New(w io.Writer, format, level string, secrets *redact.Known) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("unknown log level %q: use trace, debug, info, warn or error", level)
	}
	out := w
	if secrets != nil {
		out = secrets.Writer(w)
	}
	switch format {
	case FormatAuto, FormatConsole:
		w = console(out, IsTerminal(w))
	case FormatJSON:
		w = out
	default:
		return zerolog.Nop(), fmt.Errorf("unknown log format %q: use console or json", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func console(w io.Writer, terminal bool) io.Writer {
	return zerolog.ConsoleWriter{
		Out: w, TimeFormat: time.TimeOnly, NoColor: !terminal,
		FieldsOrder:   fieldsFirst,
		FormatPrepare: dropEmpty,
	}
}

// dropEmpty leaves out fields without a value (reason=), which only say
// that there is nothing to say.
func dropEmpty(fields map[string]any) error {
	for k, v := range fields {
		if s, ok := v.(string); ok && s == "" {
			delete(fields, k)
		}
	}
	return nil
}

// IsTerminal reports whether w is a terminal (a Cygwin or MSYS pty counts),
// so that output meant for people (colour, progress lines) goes there
// and logs and Slurm output files get the plain form.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
