// Package exitcode maps noderun's errors to process exit statuses.
//
// Only cmd/noderun calls os.Exit; every other package returns an error,
// wrapped with the code it wants through this package. The codes are part of
// the user contract (see README "Exit codes"): a child's code passes through
// `noderun run` unchanged, so noderun's own faults use codes that pytest and
// common tools do not use.
package exitcode

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"
)

// Exit statuses of noderun itself.
const (
	OK = 0
	// Failure is a generic failure: a job whose verdict is "failed".
	Failure = 1
	// Usage is a usage or validation error: bad flag, env var, config or spec.
	Usage = 2
	// Internal is an unexpected fault of noderun (I/O on the workspace, a bug).
	Internal = 70
	// SlurmEnv means the Slurm environment of a task is missing or malformed.
	SlurmEnv = 71
	// SetupFailed means the once-per-node setup failed or timed out on this node.
	SetupFailed = 72
	// FenceTimeout means the start fence across a step's tasks was not reached in time.
	FenceTimeout = 73
	// GPUPrecheck means the node has fewer GPUs than the spec requires, or NVML failed on one.
	GPUPrecheck = 74
	// Submit means sbatch (or the local job) could not be started.
	Submit = 75
	// NoTestRoot means the task's test root (the child's working directory)
	// is missing on its node: the command never started.
	NoTestRoot = 76
	// GPUFault means the child exited 0 but a GPU of the task had a fault
	// (an XID, an uncorrected ECC error) while it ran, with --gpu-faults fail.
	GPUFault = 77
	// The outcomes of a job other than passed (0) and failed (1), for `job`
	// and `submit --wait` (workspace.OutcomeExitCode maps them).
	JobTimeout        = 80
	JobCancelled      = 81
	JobNodeFailure    = 82
	JobSetupFailed    = 83
	JobPrecheckFailed = 84
	JobStartFailed    = 85
	// Timeout is returned when a step timed out but its child exited 0 on
	// SIGTERM (the convention of timeout(1)).
	Timeout = 124
	// NotExecutable and NotFound follow the shell's convention for a child that cannot start.
	NotExecutable = 126
	NotFound      = 127
	// SignalBase is added to a signal number when the child died by that signal.
	SignalBase = 128
)

// Error carries an exit status with the error that caused it.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// With wraps err so that the process exits with code. A nil err stays nil.
func With(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Silent returns an error that only carries an exit status: the reason was
// already reported (for example a child's own exit status).
func Silent(code int) error { return &Error{Code: code} }

// Usagef builds a usage/validation error (exit status 2).
func Usagef(format string, args ...any) error {
	return &Error{Code: Usage, Err: fmt.Errorf(format, args...)}
}

// OnUsageError is the cli.OnUsageErrorFunc of the app and of every
// subcommand: a flag the parser rejects is a usage error (exit status 2).
func OnUsageError(_ *cli.Context, err error, _ bool) error {
	return With(Usage, err)
}

// Of returns the exit status for err: 0 for nil, the carried code for an
// *Error or a cli.ExitCoder, 1 otherwise.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return Failure
}
