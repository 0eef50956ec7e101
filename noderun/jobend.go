package noderun

import (
	"context"
	"os/exec"
	"strings"
	"time"

	"github.com/noderun/noderun/internal/slurmenv"
	"github.com/noderun/noderun/internal/workspace"
)

// JobEndReporter is implemented by step starters that can ask Slurm why
// it is ending the job: the batch step gets the same SIGTERM on scancel, at
// the time limit and after a node failure.
type JobEndReporter interface {
	// JobEnd gives workspace.OutcomeTimeout, OutcomeNodeFailure (with the
	// failed node when Slurm names one among nodes) or OutcomeCancelled,
	// or "" when it cannot tell.
	JobEnd(ctx context.Context, nodes []string) (outcome, node string)
}

// jobEndTimeout bounds the questions to Slurm: they are asked while
// Slurm's KillWait runs.
const jobEndTimeout = time.Second

// JobEnd asks squeue for the job's state and reason, and sinfo for a
// failed node of the job.
func (s *SrunStarter) JobEnd(ctx context.Context, nodes []string) (string, string) {
	ctx, cancel := context.WithTimeout(ctx, jobEndTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "squeue", "--noheader", "--jobs="+s.JobID, "--format=%T|%r|%L").Output()
	if err != nil {
		return "", ""
	}
	outcome := slurmJobEnd(string(out))
	if outcome != workspace.OutcomeNodeFailure || len(nodes) == 0 {
		return outcome, ""
	}
	out, err = exec.CommandContext(ctx, "sinfo", "--noheader", "--states=down,fail,no_respond",
		"--format=%N", "--nodes="+strings.Join(nodes, ",")).Output()
	if err != nil {
		return outcome, ""
	}
	down, err := slurmenv.Expand(strings.TrimSpace(string(out)))
	if err != nil || len(down) == 0 {
		return outcome, ""
	}
	return outcome, down[0]
}

// slurmJobEnd reads squeue's "%T|%r|%L" of an ending job: state, reason,
// time left. A job at its limit shows state TIMEOUT or, while it
// completes, reason TimeLimit or no time left.
func slurmJobEnd(line string) string {
	f := strings.Split(strings.TrimSpace(line), "|")
	for len(f) < 3 {
		f = append(f, "")
	}
	state, reason, left := f[0], f[1], f[2]
	switch {
	case state == "TIMEOUT" || reason == "TimeLimit" || state == "COMPLETING" && (left == "0:00" || left == "INVALID"):
		return workspace.OutcomeTimeout
	case state == "NODE_FAIL" || strings.HasPrefix(reason, "NodeDown") || strings.HasPrefix(reason, "NodeFail"):
		return workspace.OutcomeNodeFailure
	case state == "CANCELLED" || state == "COMPLETING" || state == "PREEMPTED":
		return workspace.OutcomeCancelled
	}
	return ""
}
