package workspace

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/noderun/noderun/internal/atomicfile"
	"github.com/noderun/noderun/internal/exitcode"
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

// Job outcomes: what happened to a job, in words a program can branch on.
// Each has an exit status of its own (OutcomeExitCode).
const (
	OutcomePassed = "passed"
	// OutcomeFailed: tests failed, or a task failed on its own.
	OutcomeFailed = "failed"
	// OutcomeTimeout: the job reached its time limit.
	OutcomeTimeout = "timeout"
	// OutcomeCancelled: scancel (or a signal to the batch step) stopped the job.
	OutcomeCancelled = "cancelled"
	// OutcomeNodeFailure: a node of the job failed (JobResult.FailedNode names it).
	OutcomeNodeFailure = "node_failure"
	// OutcomeSetupFailed: a node's setup failed (the root cause names node and setup log).
	OutcomeSetupFailed = "setup_failed"
	// OutcomePrecheckFailed: the GPU precheck failed on a node.
	OutcomePrecheckFailed = "precheck_failed"
	// OutcomeStartFailed: a step or a task could not start.
	OutcomeStartFailed = "start_failed"
)

// OutcomeExitCode is the exit status of `job` and `submit --wait` for an
// outcome; an unknown one is a failure.
func OutcomeExitCode(outcome string) int {
	switch outcome {
	case OutcomePassed:
		return exitcode.OK
	case OutcomeTimeout:
		return exitcode.JobTimeout
	case OutcomeCancelled:
		return exitcode.JobCancelled
	case OutcomeNodeFailure:
		return exitcode.JobNodeFailure
	case OutcomeSetupFailed:
		return exitcode.JobSetupFailed
	case OutcomePrecheckFailed:
		return exitcode.JobPrecheckFailed
	case OutcomeStartFailed:
		return exitcode.JobStartFailed
	}
	return exitcode.Failure
}

// JobResult is WS/job-result.json, written by `noderun job` last.
type JobResult struct {
	JobID string `json:"job_id"`
	// Submission and Attempt name the attempt this result describes;
	// Attempts are the earlier ones of a requeued job, oldest first.
	Submission string           `json:"submission_id,omitempty"`
	Attempt    int              `json:"attempt"`
	Attempts   []AttemptSummary `json:"attempts,omitempty"`
	// Outcome is one of the Outcome* constants.
	Outcome string `json:"outcome"`
	// Verdict is "passed" or "failed": Outcome folded in two, kept for
	// programs written before Outcome.
	Verdict  string `json:"verdict"`
	ExitCode int    `json:"exit_code"`
	Reason   string `json:"reason,omitempty"`
	// RootCause is the first task that failed on its own; nil when none did
	// (a pass, a cancel, a time limit).
	RootCause *RootCause `json:"root_cause,omitempty"`
	// FailedNode is the node whose failure ended the job (outcome
	// node_failure), when srun or Slurm named it.
	FailedNode string       `json:"failed_node,omitempty"`
	Start      time.Time    `json:"start"`
	End        time.Time    `json:"end"`
	Steps      []StepResult `json:"steps"`
}

// RootCause is the task that failed first on its own rather than being
// stopped because of another, or a step that failed without such a task.
type RootCause struct {
	Role string `json:"role"`
	// Rank is nil when no single task is to blame (srun could not start the step).
	Rank     *int   `json:"rank,omitempty"`
	Node     string `json:"node,omitempty"`
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal,omitempty"`
	// Log and Junit are relative to the workspace.
	Log   string `json:"log,omitempty"`
	Junit string `json:"junit,omitempty"`
	// FirstError is the first pytest "E " line of the log, else the
	// exception line, else the last non-empty line.
	FirstError string    `json:"first_error,omitempty"`
	End        time.Time `json:"end,omitzero"`
}

// Who names the cause as people read it: "GEN_0 rank 1".
func (c *RootCause) Who() string {
	if c.Rank == nil {
		return "step " + c.Role
	}
	return fmt.Sprintf("%s rank %d", c.Role, *c.Rank)
}

// Status says how the cause ended: "exit status 3" or "signal SIGSEGV (exit status 139)".
func (c *RootCause) Status() string {
	if c.Signal != "" {
		return fmt.Sprintf("signal %s (exit status %d)", c.Signal, c.ExitCode)
	}
	return fmt.Sprintf("exit status %d", c.ExitCode)
}

// StepResult is the outcome of one srun.
type StepResult struct {
	Role    string `json:"role"`
	Outcome string `json:"outcome"`
	// ExitCode is the failing rank's own status when one failed on its own
	// (Rank names it), else srun's (SrunExitCode).
	ExitCode     int       `json:"exit_code"`
	Rank         *int      `json:"rank,omitempty"`
	SrunExitCode int       `json:"srun_exit_code"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Error        string    `json:"error,omitempty"`
}

// OutcomeStatus is the exit status of the result's outcome, for the
// follower (`submit --wait`): the outcome's code, never a step's own
// status. A result written before outcomes existed gives 0 or 1 by verdict.
func (r *JobResult) OutcomeStatus() int {
	if r.Outcome != "" {
		return OutcomeExitCode(r.Outcome)
	}
	if r.Verdict == OutcomePassed && r.ExitCode == 0 {
		return exitcode.OK
	}
	return exitcode.Failure
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
