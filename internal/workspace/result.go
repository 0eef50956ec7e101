package workspace

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/noderun/noderun/internal/atomicfile"
)

// Step outcomes in a JobResult.
const (
	StepSucceeded = "succeeded"
	StepFailed    = "failed"
	// StepStoppedAfterDeciding is the expected end of a server/worker step:
	// the deciding step (the benchmark) finished and the step was stopped.
	StepStoppedAfterDeciding = "stopped_after_deciding"
	// StepCancelled: the job was cancelled or ran out of time while the step ran.
	StepCancelled = "cancelled"
	// StepNotStarted: srun for the step could not be started.
	StepNotStarted = "not_started"
)

// JobResult is WS/job-result.json, written by `noderun job` last.
type JobResult struct {
	JobID    string       `json:"job_id"`
	Verdict  string       `json:"verdict"` // "passed" or "failed"
	ExitCode int          `json:"exit_code"`
	Reason   string       `json:"reason,omitempty"`
	Start    time.Time    `json:"start"`
	End      time.Time    `json:"end"`
	Steps    []StepResult `json:"steps"`
}

// StepResult is the outcome of one srun.
type StepResult struct {
	Role     string    `json:"role"`
	Outcome  string    `json:"outcome"`
	ExitCode int       `json:"exit_code"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Error    string    `json:"error,omitempty"`
}

// ExpectedStops lists the roles stopped after the deciding step finished:
// their missing or cut-short results are not failures.
func (r *JobResult) ExpectedStops() map[string]bool {
	m := map[string]bool{}
	for _, s := range r.Steps {
		if s.Outcome == StepStoppedAfterDeciding {
			m[s.Role] = true
		}
	}
	return m
}

// SaveJobResult writes WS/job-result.json atomically.
func (l Layout) SaveJobResult(r *JobResult) error {
	return atomicfile.Write(l.JobResult(), 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	})
}

// LoadJobResult reads WS/job-result.json; os.ErrNotExist if the job has not ended.
func (l Layout) LoadJobResult() (*JobResult, error) {
	b, err := os.ReadFile(l.JobResult())
	if err != nil {
		return nil, err
	}
	var r JobResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read %s: %w", l.JobResult(), err)
	}
	return &r, nil
}
