package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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

// ErrNoSbatch means this machine cannot submit Slurm jobs.
var ErrNoSbatch = errors.New("sbatch not found")

// Slurm is the Scheduler of a real cluster, through its command-line tools.
type Slurm struct {
	// Sbatch, Squeue and Scontrol are the commands (names looked up in PATH, or paths).
	Sbatch, Squeue, Scontrol string
}

// NewSlurm returns the Scheduler that uses sbatch, squeue and scontrol from PATH.
func NewSlurm() *Slurm {
	return &Slurm{Sbatch: "sbatch", Squeue: "squeue", Scontrol: "scontrol"}
}

// Available reports whether sbatch can be found, so that submit can say so
// before it writes anything.
func (s *Slurm) Available() error {
	if _, err := exec.LookPath(s.Sbatch); err != nil {
		return noSbatch(s.Sbatch, err)
	}
	return nil
}

func noSbatch(name string, err error) error {
	return fmt.Errorf("%w (%s: %v): this machine cannot submit Slurm jobs; run on a Slurm login node, or run the job here with --local", ErrNoSbatch, name, err)
}

var parsableJobID = regexp.MustCompile(`^[0-9]+(?:_[0-9]+)?$`)

// Submit runs `sbatch --parsable SCRIPT` in the script's directory.
func (s *Slurm) Submit(ctx context.Context, script string) (string, error) {
	cmd := exec.CommandContext(ctx, s.Sbatch, "--parsable", script)
	cmd.Dir = filepath.Dir(script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", noSbatch(s.Sbatch, err)
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("sbatch refused the job (%v): %s", err, msg)
	}
	// --parsable prints "jobid" or "jobid;cluster".
	line, _, _ := strings.Cut(strings.TrimSpace(stdout.String()), "\n")
	id, _, _ := strings.Cut(strings.TrimSpace(line), ";")
	if !parsableJobID.MatchString(id) {
		return "", fmt.Errorf("sbatch printed no job id: %q (stderr: %s)", stdout.String(), strings.TrimSpace(stderr.String()))
	}
	return id, nil
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

var scontrolField = regexp.MustCompile(`\b(JobState|RunTime|Reason)=(\S*)`)

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
	for _, m := range scontrolField.FindAllStringSubmatch(string(out), -1) {
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
