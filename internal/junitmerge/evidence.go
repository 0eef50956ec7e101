package junitmerge

import (
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/noderun/noderun/internal/workspace"
)

// logPath is the log a task's problems show: the one its record names, or
// the usual one when it is there.
func (b *wsBuild) logPath(t *task) string {
	if t.rec != nil && t.rec.Log != "" {
		return b.ws.Resolve(t.rec.Log)
	}
	return existing(b.ws.TaskLog(t.role, t.rank))
}

// recordDetails are the facts of a record worth reading next to a failure.
func (b *wsBuild) recordDetails(rec *workspace.TaskRecord) []string {
	if rec == nil {
		return nil
	}
	d := []string{
		"host: " + orUnknown(rec.Host) + "  node: " + orUnknown(rec.Node),
		"state: " + rec.State + "  exit status: " + strconv.Itoa(rec.ExitCode),
	}
	if rec.Signal != "" {
		d = append(d, "signal: "+rec.Signal)
	}
	if len(rec.GPUs) > 0 {
		d = append(d, "gpus: "+strings.Join(rec.GPUs, ","))
	}
	if rec.PID != 0 {
		d = append(d, "pid: "+strconv.Itoa(rec.PID))
	}
	if !rec.Start.IsZero() {
		d = append(d, "start: "+rec.Start.UTC().Format(time.RFC3339))
	}
	if !rec.End.IsZero() {
		d = append(d, "end: "+rec.End.UTC().Format(time.RFC3339))
	}
	if rec.Error != "" {
		d = append(d, "error: "+rec.Error)
	}
	return d
}

func recDuration(rec *workspace.TaskRecord) time.Duration {
	if rec == nil {
		return 0
	}
	return rec.Duration()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// existing returns path if a file is there, "" otherwise.
func existing(path string) string {
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	return path
}
