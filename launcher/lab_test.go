package launcher

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/slurmlab"
)

// Against a real Slurm (the lab): sbatch reads the stub's #SBATCH lines as
// written (a job name with quotes and # survives its option parser), the
// batch step execs WS/bin/noderun with the spec, and --wait follows the job
// with squeue to the verdict the job wrote.
func TestLabSubmitWait(t *testing.T) {
	lab := slurmlab.Require(t)
	clearEnv(t)
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "SLURM_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	t.Setenv("SLURM_CONF", lab.Conf)

	f := newFixture(t)
	// The "noderun" the job runs: checks its arguments, writes the verdict
	// a real `noderun job` would, and exits with it.
	writeFile(t, f.exe, `#!/bin/sh
[ "$1 $2" = "job --spec" ] || exit 99
ws=$(dirname "$3")
printf '# lab summary\n' > "$ws/summary.md"
printf '{"job_id":"%s","outcome":"timeout","verdict":"failed","exit_code":80}\n' "$SLURM_JOB_ID" > "$ws/job-result.json"
exit 5
`, 0o755)
	var stdout strings.Builder
	l := New(Options{Log: zerolog.Nop(), Stdout: &stdout, Executable: func() (string, error) { return f.exe, nil }})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const name = `lab "run" #1 'x'`
	req := Request{
		Workspace: f.path("ws"), Config: f.path("configs/aggr-tiny.yaml"), ServerName: "tiny_tp1",
		JobName: name, Wait: true, Precheck: "fail", NodeLocalDir: "/tmp/noderun",
		SignalBefore: DefaultSignalBefore, KillGrace: DefaultKillGrace,
		SetupTimeout: DefaultSetupTimeout, FenceTimeout: DefaultFenceTimeout,
		MaxNodes: DefaultMaxNodes, MaxGPUsPerNode: DefaultMaxGPUsPerNode,
	}
	err := l.Submit(ctx, req)
	if got := exitcode.Of(err); got != exitcode.JobTimeout {
		t.Fatalf("exit status %d (%v), want %d from the outcome in the job's result, not the batch step's 5\nstdout:\n%s", got, err, exitcode.JobTimeout, stdout.String())
	}
	id, _, _ := strings.Cut(stdout.String(), "\n")
	// The lab keeps a finished job for MinJobAge (≥ 5 s): it is still known.
	out, err := lab.Run(ctx, "scontrol", "show", "job", "-o", id)
	if err != nil {
		t.Fatalf("scontrol show job %s: %v", id, err)
	}
	if !strings.Contains(out, "JobName="+name+" ") {
		t.Errorf("Slurm read the job name as:\n%s\nwant JobName=%s", out, name)
	}
	if !strings.Contains(stdout.String(), "# lab summary") || !strings.Contains(stdout.String(), "job "+id+": ") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
}

// A refusal by the real sbatch is shown as sbatch put it.
func TestLabSubmitRefused(t *testing.T) {
	lab := slurmlab.Require(t)
	clearEnv(t)
	t.Setenv("SLURM_CONF", lab.Conf)
	f := newFixture(t)
	l := New(Options{Log: zerolog.Nop(), Executable: func() (string, error) { return f.exe, nil }})
	err := l.Submit(context.Background(), Request{
		Workspace: f.path("ws"), Config: f.path("configs/aggr-tiny.yaml"), ServerName: "tiny_tp1",
		Partition: "no_such_partition", Precheck: "fail", NodeLocalDir: "/tmp/noderun",
		SetupTimeout: DefaultSetupTimeout, FenceTimeout: DefaultFenceTimeout,
		MaxNodes: DefaultMaxNodes, MaxGPUsPerNode: DefaultMaxGPUsPerNode,
	})
	if exitcode.Of(err) != exitcode.Submit || !strings.Contains(err.Error(), "sbatch refused the job") ||
		!strings.Contains(err.Error(), "Invalid partition name") {
		t.Fatalf("err = %v (exit %d)", err, exitcode.Of(err))
	}
}
