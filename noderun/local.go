package noderun

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/procgroup"
	"github.com/noderun/noderun/internal/slurmenv"
	"github.com/noderun/noderun/internal/workspace"
)

// EnvFakeGPUs tells `noderun run` how many simulated GPUs a node has when
// NVML is unavailable; only the local simulation sets it.
const EnvFakeGPUs = "NODERUN_FAKE_GPUS"

// LocalStarter runs each step's tasks as local processes with the Slurm
// environment srun would give them. Everything after the start is the
// production path: the same `noderun run`, the same spec, the same records.
type LocalStarter struct {
	// Binary is the noderun every task runs (WS/bin/noderun).
	Binary    string
	SpecPath  string
	Workspace workspace.Layout
	// JobID is the simulated job id; node names come from the supervisor.
	JobID string
	// Submission is the spec's submission id: with JobID it keys the
	// steps' stop requests (the simulation never requeues).
	Submission string
	// JobNodes are all simulated node names of the job.
	JobNodes []string
	// FakeGPUs is the simulated GPU count per node (used when NVML is absent).
	FakeGPUs int
	// Environ is the environment every task inherits (os.Environ()).
	Environ []string
	// KillWait plays Slurm's KillWait: once a task failed, the others get
	// SIGTERM and, this long after, SIGKILL. Zero: 30 s, Slurm's default.
	KillWait time.Duration
	Log      zerolog.Logger

	mu     sync.Mutex
	stepID int
}

// Start starts every task of the step.
func (l *LocalStarter) Start(_ context.Context, step *jobspec.Step, nodes []string) (RunningStep, error) {
	l.mu.Lock()
	stepID := l.stepID
	l.stepID++
	l.mu.Unlock()
	if err := os.MkdirAll(l.Workspace.LogDir(step.Role), 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	killWait := l.KillWait
	if killWait == 0 {
		killWait = 30 * time.Second
	}
	ls := &localStep{done: make(chan struct{}), ws: l.Workspace, attempt: workspace.Attempt{Submission: l.Submission, JobID: l.JobID}, role: step.Role, killWait: killWait, log: l.Log}
	base := withoutSlurm(l.Environ)
	for ni, node := range nodes {
		for li := 0; li < step.TasksPerNode; li++ {
			task := slurmenv.Task{
				JobID: l.JobID, StepID: strconv.Itoa(stepID),
				ProcID: ni*step.TasksPerNode + li, LocalID: li, NodeID: ni, NodeName: node,
				JobNodeList: slurmenv.Compress(l.JobNodes), StepNodeList: slurmenv.Compress(nodes),
				NTasks: step.Tasks, JobNumNodes: len(l.JobNodes),
			}
			env := append(append([]string(nil), base...), task.Environ()...)
			env = append(env, EnvFakeGPUs+"="+strconv.Itoa(l.FakeGPUs))
			if err := ls.start(l, step, task, env); err != nil {
				ls.Kill()
				return nil, err
			}
		}
	}
	go ls.wait()
	return ls, nil
}

// withoutSlurm drops the submitting shell's own Slurm variables, which
// would contradict the simulated ones.
func withoutSlurm(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, "SLURMD_") {
			out = append(out, kv)
		}
	}
	return out
}

// localStep is the simulated srun of one step: it behaves like
// `srun --kill-on-bad-exit=1`, stopping the other tasks when one fails.
type localStep struct {
	ws       workspace.Layout
	attempt  workspace.Attempt
	role     string
	killWait time.Duration
	log      zerolog.Logger
	mu       sync.Mutex
	tasks    []*procgroup.Group
	code     int
	done     chan struct{}
}

func (s *localStep) start(l *LocalStarter, step *jobspec.Step, task slurmenv.Task, env []string) error {
	out, err := os.OpenFile(l.Workspace.RunnerLog(step.Role, task.ProcID),
		os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open runner log: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(l.Binary, "run", "--spec", l.SpecPath, "--role", step.Role)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, out, out
	// A runner outlives no supervisor, even one killed by SIGKILL: it stops
	// its child as on scancel, and kills what the child left.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	g, err := procgroup.Start(cmd)
	if err != nil {
		return fmt.Errorf("start task %d of step %s: %w", task.ProcID, step.Role, err)
	}
	s.tasks = append(s.tasks, g)
	return nil
}

func (s *localStep) wait() {
	var wg sync.WaitGroup
	for _, g := range s.tasks {
		wg.Add(1)
		go func(g *procgroup.Group) {
			defer wg.Done()
			code := g.Result().ExitCode
			if code == 0 {
				return
			}
			s.mu.Lock()
			first := s.code == 0
			if first {
				s.code = code
			}
			s.mu.Unlock()
			if first {
				// --kill-on-bad-exit=1: one failed task ends the step.
				for _, g := range s.tasks {
					g.Stop(syscall.SIGTERM, s.killWait, nil)
				}
			}
		}(g)
	}
	wg.Wait()
	close(s.done)
}

func (s *localStep) Done() <-chan struct{} { return s.done }

func (s *localStep) ExitCode() int {
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code
}

func (s *localStep) Kill() {
	for _, g := range s.tasks {
		_ = g.Signal(syscall.SIGKILL)
	}
}

// RequestStop asks the step's runners to stop their children calmly.
func (s *localStep) RequestStop() {
	if err := requestStop(s.ws, s.attempt, s.role); err != nil {
		s.log.Error().Err(err).Str("role", s.role).Msg("could not write the stop request; the step will be killed after the grace")
	}
}

// SimulatedNodes names n simulated nodes sim-n0 … sim-n<n-1>.
func SimulatedNodes(n int) []string {
	nodes := make([]string, n)
	for i := range nodes {
		nodes[i] = "sim-n" + strconv.Itoa(i)
	}
	return nodes
}

// LocalJobOptions configure RunLocal.
type LocalJobOptions struct {
	SpecPath string
	// Binary is the noderun each task runs; empty: WS/bin/noderun.
	Binary   string
	FakeGPUs int
	Log      zerolog.Logger
	Stdout   io.Writer
	// Subreaper is set when the supervisor is a process of its own
	// (`noderun submit --local`): it becomes a child subreaper and, at the
	// end, kills every descendant left, those of a runner it killed too.
	Subreaper bool
}

// RunLocal runs the whole job of a spec on this machine: the supervisor
// with the local step starter. It is `noderun submit --local`.
func RunLocal(ctx context.Context, o LocalJobOptions) (int, error) {
	spec, err := jobspec.Load(o.SpecPath)
	if err != nil {
		return exitcode.Usage, exitcode.With(exitcode.Usage, err)
	}
	ws := workspace.New(spec.Workspace)
	bin := o.Binary
	if bin == "" {
		bin = ws.Binary()
	}
	jobID := strconv.Itoa(os.Getpid())
	nodes := SimulatedNodes(spec.Nodes)
	log := o.Log.With().Str("job", jobID).Logger()
	log.Info().Strs("nodes", nodes).Int("fake_gpus_per_node", o.FakeGPUs).Msg("running the job locally, Slurm simulated")
	if o.Subreaper {
		if err := procgroup.BecomeSubreaper(); err != nil {
			log.Warn().Err(err).Msg("processes the tasks detach may outlive the job")
		}
		defer func() {
			if pids, err := procgroup.KillDescendants(); err != nil || len(pids) > 0 {
				log.Warn().Err(err).Ints("pids", pids).Msg("killed processes the job left behind")
			}
		}()
	}
	// Each runner needs the kill grace to end its own child.
	grace := spec.Timeouts.KillGrace.D() + stopMargin
	return Job(ctx, JobOptions{
		Spec: spec, JobID: jobID, Nodes: nodes, Log: log, Stdout: o.Stdout, CancelBudget: grace,
		Starter: &LocalStarter{
			Binary: bin, SpecPath: o.SpecPath, Workspace: ws, JobID: jobID, Submission: spec.Submission, JobNodes: nodes,
			FakeGPUs: o.FakeGPUs, Environ: os.Environ(), Log: log,
			KillWait: grace,
		},
	})
}
