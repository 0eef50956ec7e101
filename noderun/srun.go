package noderun

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/procgroup"
	"github.com/noderun/noderun/internal/workspace"
)

// SrunStarter starts each step as one srun inside the job's allocation.
type SrunStarter struct {
	// Srun is the srun executable ("srun" from PATH by default).
	Srun string
	// Binary is the noderun every task runs (WS/bin/noderun).
	Binary string
	// SpecPath is passed to every task's `noderun run --spec`.
	SpecPath  string
	Workspace workspace.Layout
	// ExtraArgs are the user's --srun-arg values, added to every step.
	ExtraArgs []string
	Log       zerolog.Logger
}

// Args is the srun command line for a step on the given nodes.
func (s *SrunStarter) Args(step *jobspec.Step, nodes []string) []string {
	export := "ALL"
	if step.ServingType != "" {
		export += "," + EnvServingType + "=" + step.ServingType
	}
	args := []string{
		"--kill-on-bad-exit=1",
		"--nodes=" + strconv.Itoa(step.Nodes),
		"--nodelist=" + strings.Join(nodes, ","),
		"--ntasks=" + strconv.Itoa(step.Tasks),
		"--ntasks-per-node=" + strconv.Itoa(step.TasksPerNode),
		"--export=" + export,
		// %t is the task's rank within the step: the runner's own log lines.
		"--output=" + s.Workspace.LogDir(step.Role) + "/runner-rank%t.log",
	}
	if step.MPI != "" {
		args = append(args, "--mpi="+step.MPI)
	}
	if step.Overlap {
		args = append(args, "--overlap")
	}
	if step.GPUMode == jobspec.GPUModeNone {
		// The server and benchmark share the first node with a worker
		// step; asking for no GPU keeps them from waiting for its GPUs.
		args = append(args, "--gres=none")
	}
	args = append(args, s.ExtraArgs...)
	return append(args, s.Binary, "run", "--spec", s.SpecPath)
}

// Start runs srun for the step; srun's own messages go to WS/logs/<role>/srun.log.
func (s *SrunStarter) Start(_ context.Context, step *jobspec.Step, nodes []string) (RunningStep, error) {
	if err := os.MkdirAll(s.Workspace.LogDir(step.Role), 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	out, err := os.OpenFile(s.Workspace.StepLog(step.Role), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open srun log: %w", err)
	}
	defer out.Close()
	srun := s.Srun
	if srun == "" {
		srun = "srun"
	}
	args := s.Args(step, nodes)
	cmd := exec.Command(srun, args...)
	cmd.Stdout, cmd.Stderr = out, out
	s.Log.Debug().Str("role", step.Role).Strs("argv", append([]string{srun}, args...)).Msg("starting srun")
	g, err := procgroup.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start srun for step %s: %w", step.Role, err)
	}
	return groupStep{g}, nil
}
