package workspace

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/noderun/noderun/internal/atomicfile"
	"github.com/noderun/noderun/internal/redact"
)

// Task states in a record.
const (
	// StateRunning: the child started and the runner has not seen it end.
	// A record left in this state means the runner itself was killed.
	StateRunning = "running"
	// StateExited: the child exited (ExitCode says how).
	StateExited = "exited"
	// StateSignaled: the child died by a signal (Signal names it).
	StateSignaled = "signaled"
	// StateTimedOut: the runner stopped the child at the step timeout.
	StateTimedOut = "timed_out"
	// StateFailedToStart: setup, fence, GPU precheck or exec failed; Error says why.
	StateFailedToStart = "failed_to_start"
)

// TaskRecord is what one task of a step leaves behind, written by `noderun
// run` when the child starts and again when it ends, so that a crash of the
// runner still leaves a trace.
type TaskRecord struct {
	Role  string `json:"role"`
	Rank  int    `json:"rank"`
	Host  string `json:"host"`
	Node  string `json:"node"`
	JobID string `json:"job_id"`
	// Submission and Attempt name the attempt the task ran in (Attempt.Owns).
	Submission string `json:"submission_id,omitempty"`
	Attempt    int    `json:"attempt"`
	Step       string `json:"step_id"`
	// GPUs are the devices the child was given (UUIDs or indices).
	GPUs     []string  `json:"gpus"`
	PID      int       `json:"pid,omitempty"`
	State    string    `json:"state"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end,omitzero"`
	ExitCode int       `json:"exit_code"`
	Signal   string    `json:"signal,omitempty"`
	TimedOut bool      `json:"timed_out"`
	// Stopped is set when the supervisor or Slurm asked the task to stop
	// (SIGTERM, cancel) before the child ended on its own.
	Stopped bool   `json:"stopped"`
	Error   string `json:"error,omitempty"`
	Log     string `json:"log,omitempty"`
	Junit   string `json:"junit,omitempty"`
	// Phases time the task's parts between Start and End.
	Phases Phases `json:"phases,omitzero"`
	// GPU is the task's GPU telemetry in brief; nil when none was taken.
	GPU *GPUSummary `json:"gpu,omitempty"`
}

// Phases are when each part of a task began; a part that did not happen
// stays zero. They draw the report's timeline.
type Phases struct {
	SetupStart time.Time `json:"setup_start,omitzero"`
	SetupEnd   time.Time `json:"setup_end,omitzero"`
	FenceStart time.Time `json:"fence_start,omitzero"`
	FenceEnd   time.Time `json:"fence_end,omitzero"`
	ChildStart time.Time `json:"child_start,omitzero"`
	// StopAt is when the task was first asked to stop (signal, timeout).
	StopAt time.Time `json:"stop_at,omitzero"`
}

// Failed reports whether the task ended badly.
func (r *TaskRecord) Failed() bool {
	return r.State != StateExited || r.ExitCode != 0
}

// Duration is End-Start, or zero while running.
func (r *TaskRecord) Duration() time.Duration {
	if r.End.IsZero() {
		return 0
	}
	return r.End.Sub(r.Start)
}

// SaveTaskRecord writes rec to its place in the workspace, atomically and
// readable by its owner only, as job.json is. Its Error goes through
// redact.Text: an error may quote a command line and its secrets.
func (l Layout) SaveTaskRecord(rec *TaskRecord) error {
	saved := *rec
	saved.Error = redact.Text(rec.Error)
	return atomicfile.Write(l.TaskRecord(rec.Role, rec.Rank), 0o600, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(&saved)
	})
}

// LoadTaskRecord reads one record file.
func LoadTaskRecord(path string) (*TaskRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rec TaskRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("read task record %s: %w", path, err)
	}
	return &rec, nil
}

// TaskRecords reads every record in the workspace, sorted by role then rank.
// A missing tasks directory gives no records and no error; an unreadable
// record is returned in errs and skipped.
func (l Layout) TaskRecords() (recs []*TaskRecord, errs []error) {
	roles, err := os.ReadDir(l.TasksDir())
	if err != nil {
		if !os.IsNotExist(err) {
			errs = append(errs, err)
		}
		return nil, errs
	}
	for _, role := range roles {
		if !role.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(l.TasksDir(), role.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range files {
			vals := match(taskRecord, path.Join(tasksDir.Path, role.Name(), f.Name()))
			if _, ok := parseRank(vals["rank"]); !ok {
				continue
			}
			rec, err := LoadTaskRecord(filepath.Join(l.TasksDir(), role.Name(), f.Name()))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			recs = append(recs, rec)
		}
	}
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Role != recs[j].Role {
			return recs[i].Role < recs[j].Role
		}
		return recs[i].Rank < recs[j].Rank
	})
	return recs, errs
}
