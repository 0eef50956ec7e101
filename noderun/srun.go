package noderun

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

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
	// JobID is the job the steps run in (JobEnd).
	JobID string
	// Attempt keys the steps' stop requests.
	Attempt workspace.Attempt
	// ExtraArgs are the user's --srun-arg values, added to every step.
	ExtraArgs []string
	Log       zerolog.Logger
}

// Args is the srun command line for a step on the given nodes.
func (s *SrunStarter) Args(step *jobspec.Step, nodes []string) []string {
	args := []string{
		// The step is named by its role alone: `squeue -s` prints 8
		// characters of a name, and a prefix would fill them.
		"--job-name=" + step.Role,
		"--kill-on-bad-exit=1",
		"--nodes=" + strconv.Itoa(step.Nodes),
		"--nodelist=" + strings.Join(nodes, ","),
		"--ntasks=" + strconv.Itoa(step.Tasks),
		"--ntasks-per-node=" + strconv.Itoa(step.TasksPerNode),
		"--export=ALL",
		// %t is the task's rank within the step: the runner's own log lines.
		"--output=" + s.Workspace.RunnerLogPattern(step.Role),
	}
	if step.MPI != "" {
		args = append(args, "--mpi="+step.MPI)
	}
	if step.Overlap {
		args = append(args, "--overlap")
	}
	args = append(args, s.ExtraArgs...)
	// The role travels as argv only; the runner derives DISAGG_SERVING_TYPE from it.
	return append(args, s.Binary, "run", "--spec", s.SpecPath, "--role", step.Role)
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
	return &srunStep{g: g, ws: s.Workspace, attempt: s.Attempt, role: step.Role, log: s.Log.With().Str("role", step.Role).Logger()}, nil
}

// srunStep is a step started by srun. Its calm stop is a stop request
// (see stop.go); srun itself is only signalled to kill the step, which it
// does on SIGTERM ("forcing job termination").
type srunStep struct {
	g       *procgroup.Group
	ws      workspace.Layout
	attempt workspace.Attempt
	role    string
	log     zerolog.Logger
}

func (s *srunStep) Done() <-chan struct{} { return s.g.Done() }
func (s *srunStep) ExitCode() int         { return s.g.Result().ExitCode }

// Kill ends the step at once: srun kills the step on SIGTERM.
func (s *srunStep) Kill() { _ = s.g.Signal(syscall.SIGTERM) }

// RequestStop asks the step's runners to stop their children calmly.
func (s *srunStep) RequestStop() {
	if err := requestStop(s.ws, s.attempt, s.role); err != nil {
		s.log.Error().Err(err).Msg("could not write the stop request; the step will be killed after the grace")
	}
}
