package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/noderun/noderun/internal/slurmenv"
)

// Scheduler submits batch jobs and reports on them. Slurm is the real one;
// tests use fakes. A Scheduler that also has an `Available() error` method
// is asked first, so that a machine that cannot submit is told so before
// anything is written.
type Scheduler interface {
	// Submit queues the batch script and returns the job id.
	Submit(ctx context.Context, script string) (jobID string, err error)
	// Poll returns the state of each job, in one query to the controller.
	Poll(ctx context.Context, jobIDs []string) ([]JobState, error)
}

// JobState is what the controller says about one job.
type JobState struct {
	ID string
	// State is Slurm's state name: PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, …
	State string
	// Elapsed is Slurm's elapsed time as it prints it (e.g. 1:02:03).
	Elapsed string
	// Reason is why a job is pending, or its node list once it runs.
	Reason string
	// Gone is set when the controller no longer knows the job: it ended
	// and was purged (MinJobAge), and no accounting says more.
	Gone bool
	// Signal is the signal that ended the batch step, when the same query
	// told it (scontrol's ExitCode=0:9): the job may be purged by the time
	// a second query asks.
	Signal int
}

// Ended reports whether the job will not run any more.
func (s JobState) Ended() bool {
	if s.Gone {
		return true
	}
	switch s.State {
	case "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
		"BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "REVOKED", "SPECIAL_EXIT":
		return true
	}
	return false
}

// ErrSubmitUnknown means sbatch could not tell whether the controller
// accepted the job: it may run.
var ErrSubmitUnknown = errors.New("sbatch: the job may have been submitted")

// ErrNoSbatch means this machine cannot submit Slurm jobs.
var ErrNoSbatch = errors.New("sbatch not found")

// ErrMissingCommand means a Slurm command (squeue, scancel) is not on this
// machine: following or cancelling fails at once rather than retrying.
var ErrMissingCommand = errors.New("Slurm command not found")

// Canceller is a Scheduler that can cancel a job (scancel).
type Canceller interface {
	Cancel(ctx context.Context, jobID string) error
}

// BatchReporter is a Scheduler that can tell how a job's batch step ended.
type BatchReporter interface {
	// BatchSignal is the signal that ended the job's batch step; 0 when
	// none did or it cannot tell.
	BatchSignal(ctx context.Context, jobID string) int
}

// Slurm is the Scheduler of a real cluster, through its command-line tools.
type Slurm struct {
	// Sbatch, Squeue, Scontrol and Scancel are the commands (names looked up
	// in PATH, or paths).
	Sbatch, Squeue, Scontrol, Scancel string
	// Sleep waits between sbatch tries; nil: a timer that honours ctx.
	Sleep func(ctx context.Context, d time.Duration) error
}

// NewSlurm returns the Scheduler that uses sbatch, squeue, scontrol and
// scancel from PATH.
func NewSlurm() *Slurm {
	return &Slurm{Sbatch: "sbatch", Squeue: "squeue", Scontrol: "scontrol", Scancel: "scancel"}
}

// Available reports whether sbatch can be found, so that submit can say so
// before it writes anything.
func (s *Slurm) Available() error {
	if _, err := exec.LookPath(s.Sbatch); err != nil {
		return noSbatch(s.Sbatch, err)
	}
	return nil
}

// FollowAvailable reports whether squeue and scancel can be found, so that
// a follower fails at once, naming the one missing.
func (s *Slurm) FollowAvailable() error {
	for _, name := range []string{s.Squeue, s.Scancel} {
		if _, err := exec.LookPath(name); err != nil {
			return missing(name, err)
		}
	}
	return nil
}

func missing(name string, err error) error {
	return fmt.Errorf("%w: %s (%v): run noderun where the Slurm client commands are installed", ErrMissingCommand, name, err)
}

func noSbatch(name string, err error) error {
	return fmt.Errorf("%w (%s: %v): this machine cannot submit Slurm jobs; run on a Slurm login node, or run the job here with --local", ErrNoSbatch, name, err)
}

var parsableJobID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]+(?:_[0-9]+)?$`) })

// sbatchTries bounds the tries of an sbatch the controller did not answer;
// the pauses between them double from sbatchFirstPause (1+2+4+8+16 s).
const (
	sbatchTries      = 6
	sbatchFirstPause = time.Second
)

// transientSbatch are sbatch's words for a controller that accepted
// nothing, as opposed to one that refused the job: only these are tried
// again.
var transientSbatch = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)unable to contact slurm controller|connection refused|temporarily unable to accept job`)
})

// ambiguousSbatch are sbatch's words for a controller that may have
// accepted the job before its answer was lost: another try could submit
// it twice.
var ambiguousSbatch = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)socket timed out`) })

// Submit runs `sbatch --parsable SCRIPT` in the script's directory, again
// with a growing pause while the controller accepts nothing; a refusal is
// final, and so is a lost answer (ErrSubmitUnknown).
func (s *Slurm) Submit(ctx context.Context, script string) (string, error) {
	pause := sbatchFirstPause
	for try := 1; ; try++ {
		stdout, msg, err := s.sbatch(ctx, script, "--parsable")
		if err == nil {
			return parseJobID(stdout, msg)
		}
		if errors.Is(err, ErrNoSbatch) {
			return "", err
		}
		if ambiguousSbatch().MatchString(msg) {
			return "", fmt.Errorf("%w: sbatch's answer was lost (%s), but the controller may have accepted the job: look for it with `squeue --me` before submitting again", ErrSubmitUnknown, msg)
		}
		if !transientSbatch().MatchString(msg) || try == sbatchTries {
			if msg == "" {
				msg = err.Error()
			}
			if try > 1 {
				msg += fmt.Sprintf(" (after %d tries)", try)
			}
			return "", fmt.Errorf("sbatch refused the job (%v): %s", err, msg)
		}
		sleepFn := s.Sleep
		if sleepFn == nil {
			sleepFn = sleep
		}
		if err := sleepFn(ctx, pause); err != nil {
			return "", fmt.Errorf("sbatch: the controller did not answer (%s), and the wait for it was stopped: %w", msg, err)
		}
		pause *= 2
	}
}

// TestOnly asks Slurm whether and where it would run the script (sbatch
// --test-only), without submitting it. refused is set when Slurm refuses
// the job; err when Slurm could not be asked (no sbatch, no controller).
func (s *Slurm) TestOnly(ctx context.Context, script string) (answer string, refused bool, err error) {
	stdout, msg, err := s.sbatch(ctx, script, "--test-only")
	answer = strings.TrimSpace(strings.TrimSpace(stdout) + "\n" + msg)
	switch {
	case err == nil:
		return answer, false, nil
	case errors.Is(err, ErrNoSbatch):
		return "", false, err
	case strings.Contains(msg, "Batch job submission failed"):
		return answer, true, nil
	}
	return answer, false, fmt.Errorf("sbatch --test-only: %v: %s", err, answer)
}

// sbatch runs sbatch with option and the script, in the script's
// directory, returning its output and its error output trimmed.
func (s *Slurm) sbatch(ctx context.Context, script, option string) (string, string, error) {
	cmd := exec.CommandContext(ctx, s.Sbatch, option, script)
	cmd.Dir = filepath.Dir(script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if errors.Is(err, exec.ErrNotFound) {
		return "", "", noSbatch(s.Sbatch, err)
	}
	return stdout.String(), strings.TrimSpace(stderr.String()), err
}

func parseJobID(stdout, stderr string) (string, error) {
	// --parsable prints "jobid" or "jobid;cluster".
	line, _, _ := strings.Cut(strings.TrimSpace(stdout), "\n")
	id, _, _ := strings.Cut(strings.TrimSpace(line), ";")
	if !parsableJobID().MatchString(id) {
		return "", fmt.Errorf("sbatch printed no job id: %q (stderr: %s)", stdout, stderr)
	}
	return id, nil
}

// Cancel runs `scancel JOBID`: Slurm signals every step and the batch
// step, which merges the results before KillWait ends.
func (s *Slurm) Cancel(ctx context.Context, id string) error {
	out, err := exec.CommandContext(ctx, s.Scancel, id).CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		return missing(s.Scancel, err)
	}
	if err != nil {
		return fmt.Errorf("scancel %s: %v: %s", id, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// KillWait is how long Slurm lets a cancelled job's processes end before it
// kills them (scontrol show config); the error says why it is unknown.
func (s *Slurm) KillWait(ctx context.Context) (time.Duration, error) {
	out, err := exec.CommandContext(ctx, s.Scontrol, "show", "config").Output()
	if err != nil {
		return 0, fmt.Errorf("scontrol show config: %w", err)
	}
	return slurmenv.KillWait(out)
}

// Poll asks squeue once for all jobs (squeue -h -j A,B -o '%i|%T|%M|%R').
// A job squeue does not list has ended and been purged; scontrol is asked
// about it in case it still knows the final state (there may be no
// accounting to ask instead).
func (s *Slurm) Poll(ctx context.Context, ids []string) ([]JobState, error) {
	cmd := exec.CommandContext(ctx, s.Squeue, "-h", "-j", strings.Join(ids, ","), "-o", "%i|%T|%M|%R")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	listed := map[string]JobState{}
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, missing(s.Squeue, err)
		}
		// squeue fails for ids the controller has purged; anything else is
		// a real error (controller down, timeouts) the caller retries.
		if !strings.Contains(stderr.String(), "Invalid job id") {
			return nil, fmt.Errorf("squeue: %v: %s", err, strings.TrimSpace(stderr.String()))
		}
	}
	for line := range strings.SplitSeq(stdout.String(), "\n") {
		f := strings.SplitN(strings.TrimSpace(line), "|", 4)
		if len(f) < 2 {
			continue
		}
		st := JobState{ID: f[0], State: f[1]}
		if len(f) > 2 {
			st.Elapsed = f[2]
		}
		if len(f) > 3 {
			st.Reason = f[3]
		}
		listed[st.ID] = st
	}
	out := make([]JobState, 0, len(ids))
	for _, id := range ids {
		if st, ok := listed[id]; ok {
			out = append(out, st)
			continue
		}
		out = append(out, s.showJob(ctx, id))
	}
	return out, nil
}

var exitSignal = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\bExitCode=[0-9]+:([0-9]+)`) })

// BatchSignal reads the signal half of the job's ExitCode (scontrol show
// job): the batch step died of it.
func (s *Slurm) BatchSignal(ctx context.Context, id string) int {
	return s.showJob(ctx, id).Signal
}

var scontrolField = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\b(JobState|RunTime|Reason)=(\S*)`) })

// showJob is the fallback for a job squeue no longer lists.
func (s *Slurm) showJob(ctx context.Context, id string) JobState {
	st := JobState{ID: id, Gone: true}
	if s.Scontrol == "" {
		return st
	}
	out, err := exec.CommandContext(ctx, s.Scontrol, "show", "job", "-o", id).Output()
	if err != nil {
		return st
	}
	if m := exitSignal().FindSubmatch(out); m != nil {
		st.Signal, _ = strconv.Atoi(string(m[1]))
	}
	for _, m := range scontrolField().FindAllStringSubmatch(string(out), -1) {
		switch m[1] {
		case "JobState":
			st.State, st.Gone = m[2], false
		case "RunTime":
			st.Elapsed = m[2]
		case "Reason":
			st.Reason = m[2]
		}
	}
	return st
}
