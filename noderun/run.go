// Package noderun is the in-allocation side of noderun: `noderun run` (one
// task of a step: setup, GPUs, environment, the child, its record) and
// `noderun job` (the batch-step supervisor that starts one step per role).
package noderun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/gpu"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/procgroup"
	"github.com/noderun/noderun/internal/redact"
	"github.com/noderun/noderun/internal/slurmenv"
	"github.com/noderun/noderun/internal/workspace"
)

// Variables the runner gives every child, so the test code can find the
// workspace and its own identity without parsing Slurm's variables.
const (
	EnvWorkspace = "NODERUN_WORKSPACE"
	EnvRole      = "NODERUN_ROLE"
	EnvRank      = "NODERUN_RANK"
	EnvNode      = "NODERUN_NODE"
)

// RunOptions are the inputs of one task.
type RunOptions struct {
	// Spec is the job spec (WS/job.json).
	Spec *jobspec.Spec
	// Role names the task's step (`--role`, which every starter passes).
	Role string
	// Environ is the task's environment (os.Environ() in production).
	Environ []string
	// GPUs is the node's inventory; nil when NVML is unavailable, in which
	// case the GPUs Slurm assigned are used.
	GPUs gpu.Inventory
	// NVMLUnavailable says why NVML could not be used (empty when it was);
	// GPUs is then the simulated inventory of FakeGPUs GPUs, or nil.
	NVMLUnavailable string
	FakeGPUs        int
	// Telemetry reads the task's GPUs while the child runs (spec's
	// gpu.sample); nil without NVML.
	Telemetry gpu.TelemetrySource
	// Log receives the runner's own log lines.
	Log zerolog.Logger
	// Signals delivers the signals to forward; nil subscribes to the
	// process's SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2.
	Signals <-chan os.Signal
	// Hostname is recorded in the task record; empty: os.Hostname().
	Hostname string
	// Subreaper is set when the runner is a process of its own (`noderun
	// run`): it becomes a child subreaper and, when the task ends, kills
	// every descendant left, setsid'ed and double-forked ones too. Tests
	// that run tasks inside the test process leave it off.
	Subreaper bool
}

// Run runs one task to its end and returns the exit status the runner
// must exit with: the child's, 128+signal, or a runner fault's own code
// (then err says why).
func Run(ctx context.Context, o RunOptions) (int, error) {
	env := newEnviron(o.Environ)
	task, err := slurmenv.FromEnv(env.Lookup)
	if err != nil {
		if errors.Is(err, slurmenv.ErrNotInSlurm) {
			err = fmt.Errorf("%w: `noderun run` is started by srun inside a job (see `noderun submit --local` to simulate one)", err)
		}
		return exitcode.SlurmEnv, exitcode.With(exitcode.SlurmEnv, err)
	}
	step, err := pickRole(o.Spec, o.Role)
	if err != nil {
		recordUnknownRole(o, task, o.Role, err)
		return exitcode.Usage, err
	}
	r := &runner{
		o: o, spec: o.Spec, step: step, task: task, env: env,
		ws:      workspace.New(o.Spec.Workspace),
		attempt: workspace.Attempt{Submission: o.Spec.Submission, JobID: task.JobID, Restart: task.RestartCount},
		log:     o.Log.With().Str("role", step.Role).Int("rank", task.ProcID).Str("node", task.NodeName).Str("job", task.JobID).Str("step", task.StepID).Logger(),
	}
	switch {
	case o.NVMLUnavailable != "" && o.GPUs != nil:
		r.log.Info().Int("gpus", o.FakeGPUs).Msg("NVML unavailable: using simulated GPUs")
	case o.NVMLUnavailable != "":
		r.log.Info().Str("error", o.NVMLUnavailable).Msg("NVML unavailable: using the GPUs Slurm assigned")
	}
	return r.run(ctx)
}

// recordUnknownRole leaves a task record for a task whose role is not in
// the spec, so that the merge shows the task instead of losing it. A role
// that is no plain name is not used as a directory.
func recordUnknownRole(o RunOptions, task slurmenv.Task, role string, cause error) {
	if role == "" || role == "." || role == ".." || strings.ContainsAny(role, `/\`) {
		return
	}
	ws := workspace.New(o.Spec.Workspace)
	now := time.Now().UTC()
	rec := &workspace.TaskRecord{
		Role: role, Rank: task.ProcID, Node: task.NodeName, JobID: task.JobID, Step: task.StepID,
		Submission: o.Spec.Submission, Attempt: task.RestartCount,
		State: workspace.StateFailedToStart, Start: now, End: now, ExitCode: exitcode.Usage,
		Error: cause.Error(), Log: ws.RunnerLog(role, task.ProcID),
	}
	rec.Host, _ = os.Hostname()
	if err := ws.SaveTaskRecord(rec); err != nil {
		o.Log.Error().Err(err).Msg("could not write the task record")
	}
}

// ErrNoRole is the error of a task started without its role.
var ErrNoRole = errors.New("missing --role: it names the task's step in the job spec, and `noderun job` passes it to every task it starts")

// pickRole finds the task's step by its role.
func pickRole(spec *jobspec.Spec, role string) (*jobspec.Step, error) {
	if role == "" {
		return nil, exitcode.With(exitcode.Usage, ErrNoRole)
	}
	step, ok := spec.Step(role)
	if !ok {
		return nil, exitcode.Usagef("role %q (from --role) is not a step of the job spec; its roles are %s",
			role, strings.Join(spec.Roles(), ", "))
	}
	return step, nil
}

type runner struct {
	o    RunOptions
	spec *jobspec.Spec
	step *jobspec.Step
	task slurmenv.Task
	env  *environ
	ws   workspace.Layout
	// attempt keys the stop request, fence, setup state and record.
	attempt workspace.Attempt
	log     zerolog.Logger
	rec     workspace.TaskRecord
	// setupLeft are the processes the node's setup left running, which
	// the end of the task spares (Slurm ends them with the job).
	setupLeft []int
}

func (r *runner) run(ctx context.Context) (int, error) {
	if r.o.Subreaper {
		if err := procgroup.BecomeSubreaper(); err != nil {
			r.log.Warn().Err(err).Msg("processes the child detaches may outlive the task")
		}
		defer r.killLeftovers()
	}
	// Subscribe before anything slow: a SIGTERM during setup or the fence
	// must end in a record, not in a runner killed by the default action.
	sigs := r.o.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 8)
		signal.Notify(ch, procgroup.Interrupted...)
		defer signal.Stop(ch)
		sigs = ch
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs = newStopWatch(r.ws.StopFile(r.attempt.Key(), r.step.Role)).withStopRequest(ctx, sigs)
	// Until the child runs, a stop signal cancels setup and fence and the
	// child never starts; the watcher is waited for, so no signal is lost.
	prepCtx, stopPrep := context.WithCancel(ctx)
	defer stopPrep()
	var stopped syscall.Signal
	preStart := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case s := <-sigs:
			stopped = s.(syscall.Signal)
			stopPrep()
		case <-preStart:
		}
	}()

	host := r.o.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	r.rec = workspace.TaskRecord{
		Role: r.step.Role, Rank: r.task.ProcID, Host: host, Node: r.task.NodeName,
		JobID: r.task.JobID, Submission: r.attempt.Submission, Attempt: r.attempt.Restart,
		Step: r.task.StepID, State: workspace.StateRunning,
		Start: time.Now().UTC(), Log: r.ws.TaskLog(r.step.Role, r.task.ProcID),
	}
	err := r.prepare(prepCtx)
	close(preStart)
	<-watcherDone
	if stopped != 0 {
		r.rec.Stopped = true
		r.stopAsked()
		r.rec.Signal = procgroup.SignalName(stopped)
		why := fmt.Errorf("stopped by %s before the child started", r.rec.Signal)
		if err != nil {
			why = fmt.Errorf("%w: %w", why, err)
		}
		return r.failedToStart(exitcode.With(exitcode.SignalBase+int(stopped), why))
	}
	if err != nil {
		return r.failedToStart(err)
	}
	return r.supervise(sigs)
}

// prepare does everything before the child starts: environment, GPUs,
// node setup, start fence.
func (r *runner) prepare(ctx context.Context) error {
	base := r.env.Entries()
	// The GPU decision reads Slurm's binding (SLURM_STEP_GPUS, …), so it is
	// made on the task's own environment, before the strip below removes it.
	gpus, err := r.pickGPUs()
	if err != nil {
		return err
	}
	if r.spec.StripsLauncherEnv(r.step) {
		removed := r.env.StripLauncher()
		r.log.Debug().Strs("removed", removed).Msg("removed MPI/PMI/Slurm variables for a non-MPI child")
	}
	r.env.Apply(r.step.Command)
	id := jobspec.TaskIdentity{Workspace: r.spec.Workspace, StepID: r.task.StepID, ProcID: r.task.ProcID, LocalID: r.task.LocalID}
	for _, n := range r.step.TaskEnv {
		v, _ := jobspec.TaskEnvValue(n, id)
		r.env.Set(n, v)
	}
	for _, n := range gpus.Unset {
		r.env.Unset(n)
	}
	for n, v := range gpus.Set {
		r.env.Set(n, v)
	}
	r.env.Set(EnvWorkspace, r.spec.Workspace)
	r.env.Set(EnvRole, r.step.Role)
	r.env.Set(EnvRank, strconv.Itoa(r.task.ProcID))
	r.env.Set(EnvNode, r.task.NodeName)
	// TensorRT-LLM's test code takes its role from here; an aggregated
	// worker must not inherit one that CI happened to export.
	if role, ok := r.spec.ServingType(r.step); ok {
		r.env.Set(jobspec.EnvServingType, role)
	} else {
		r.env.Unset(jobspec.EnvServingType)
	}

	if r.spec.Setup != nil {
		setupEnv := newEnviron(base)
		setupEnv.Apply(*r.spec.Setup)
		s := &nodeSetup{
			Dir:     setupDir(r.spec.NodeLocalDir, r.task.NodeName, r.attempt),
			Node:    r.task.NodeName,
			Command: *r.spec.Setup,
			Env:     setupEnv.Entries(),
			Timeout: r.spec.Timeouts.Setup.D(),
			Grace:   r.spec.Timeouts.KillGrace.D(),
			LogPath: filepath.Join(r.ws.LogDir("setup"), r.task.NodeName+".log"),
			Log:     r.log,
		}
		if err := os.MkdirAll(filepath.Dir(s.LogPath), 0o755); err != nil {
			return exitcode.With(exitcode.Internal, fmt.Errorf("create setup log directory: %w", err))
		}
		r.rec.Phases.SetupStart = time.Now().UTC()
		err := s.Do(ctx)
		r.rec.Phases.SetupEnd = time.Now().UTC()
		if err != nil {
			return err
		}
		if r.o.Subreaper {
			// The child has not started: what descends from the runner now
			// is what the setup left running (a cache, a daemon) for every
			// task of the node; the end of this task must not take it.
			r.setupLeft, _ = procgroup.Descendants()
		}
	}
	if r.step.Fence && r.step.Tasks > 1 {
		f := &startFence{
			Dir:     r.ws.FenceDir(r.attempt.Key(), r.step.Role),
			Rank:    r.task.ProcID,
			Tasks:   r.step.Tasks,
			Timeout: r.spec.Timeouts.Fence.D(),
		}
		r.rec.Phases.FenceStart = time.Now().UTC()
		err := f.Wait(ctx)
		r.rec.Phases.FenceEnd = time.Now().UTC()
		if err != nil {
			return err
		}
	}
	return nil
}

// pickGPUs asks the gpu package which GPUs the task's child may see.
func (r *runner) pickGPUs() (gpu.Decision, error) {
	d, err := gpu.Decide(r.o.GPUs, gpu.Request{
		Mode:          r.step.GPUMode,
		GPUsPerTask:   r.step.GPUsPerTask,
		LocalRank:     r.task.LocalID,
		TasksOnNode:   r.step.TasksPerNode,
		ExpectPerNode: r.expectedGPUs(),
		Precheck:      r.spec.GPU.Precheck,
		Node:          r.task.NodeName,
		Lookup:        r.env.Lookup,
	})
	if err != nil {
		code := exitcode.Usage
		if errors.Is(err, gpu.ErrPrecheck) || errors.Is(err, gpu.ErrNotEnoughGPUs) {
			code = exitcode.GPUPrecheck
		}
		return d, exitcode.With(code, fmt.Errorf("choose GPUs: %w", err))
	}
	for _, w := range d.Warnings {
		r.log.Warn().Msg(w)
	}
	r.rec.GPUs = d.Devices
	r.log.Info().Strs("gpus", d.Devices).Str("source", d.Source).Msg("GPUs chosen")
	return d, nil
}

// expectedGPUs is the precheck's count: only steps that use GPUs check.
func (r *runner) expectedGPUs() int {
	if r.step.GPUMode == jobspec.GPUModeNone {
		return 0
	}
	return r.spec.GPU.PerNode
}

// argv is the step's command, with pytest's junit path added.
func (r *runner) argv() []string {
	argv := r.step.Command.Argv
	if r.step.RunsPytest(r.task.ProcID) {
		r.rec.Junit = r.ws.Junit(r.step.Role, r.task.ProcID)
		argv = r.step.ArgvWithJunit(r.rec.Junit)
	}
	return append(slices.Clone(r.step.Launcher), argv...)
}

// stopSignalLag is how long a runner whose child ended badly waits for
// its own copy of a stop signal Slurm sent the child too.
const stopSignalLag = 250 * time.Millisecond

// supervise starts the child and waits for it, forwarding signals and
// enforcing the step timeout.
func (r *runner) supervise(sigs <-chan os.Signal) (int, error) {
	if err := r.checkTestRoot(); err != nil {
		return r.failedToStart(err)
	}
	argv := r.argv()
	if r.rec.Junit != "" {
		// A junit file from an earlier attempt must not pass for this one's.
		// Unlink, not os.Remove: that tries rmdir too when there is none.
		if err := syscall.Unlink(r.rec.Junit); err != nil && !errors.Is(err, syscall.ENOENT) {
			return r.failedToStart(exitcode.With(exitcode.Internal, fmt.Errorf("remove old junit file: %w", err)))
		}
		if err := os.MkdirAll(filepath.Dir(r.rec.Junit), 0o755); err != nil {
			return r.failedToStart(exitcode.With(exitcode.Internal, fmt.Errorf("create results directory: %w", err)))
		}
	}
	entries := r.env.Entries()
	path, err := lookPath(argv[0], entries)
	if err != nil {
		return r.failedToStart(err)
	}
	logf, err := openTaskLog(r.rec.Log)
	if err != nil {
		return r.failedToStart(exitcode.With(exitcode.Internal, fmt.Errorf("open task log: %w", err)))
	}
	defer logf.Close()
	r.env.LogDump(r.log)
	shown := redact.Args(argv)
	fmt.Fprintf(logf, "noderun: role=%s rank=%d node=%s gpus=%s dir=%s argv=%q\n",
		r.step.Role, r.task.ProcID, r.task.NodeName, strings.Join(r.rec.GPUs, ","), r.step.Command.Dir, shown)

	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = entries, r.step.Command.Dir, logf, logf
	var shared *stepLog
	if r.step.Log != "" {
		if shared, err = openStepLog(logf, r.step.Log); err != nil {
			return r.failedToStart(exitcode.With(exitcode.Internal, err))
		}
		// The output that is still in the pipe reaches the logs before the end line.
		defer shared.close(0)
		cmd.Stdout, cmd.Stderr = shared.child, shared.child
	}
	g, err := procgroup.Start(cmd)
	if shared != nil {
		shared.started()
	}
	if err != nil {
		return r.failedToStart(exitcode.With(exitcode.NotExecutable, fmt.Errorf("start %s: %w", argv[0], err)))
	}
	r.rec.PID = g.PID()
	r.rec.Phases.ChildStart = time.Now().UTC()
	tm := r.startTelemetry()
	if tm != nil {
		// After the record: the readers end within eventWait, and NVML must
		// not shut down under them.
		defer tm.wait(2 * time.Second)
	}
	r.save()
	r.log.Info().Int("pid", g.PID()).Strs("argv", shown).Str("log", r.rec.Log).Msg("child started")

	var timeout <-chan time.Time
	if d := r.spec.Timeouts.Step.D(); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	grace := r.spec.Timeouts.KillGrace.D()
	var stopped <-chan struct{}
	forward := func(s os.Signal) {
		sig := s.(syscall.Signal)
		r.log.Info().Str("signal", procgroup.SignalName(sig)).Msg("forwarding signal to the child's process group")
		if sig != syscall.SIGTERM && sig != syscall.SIGINT && sig != syscall.SIGHUP {
			_ = g.Signal(sig)
			return
		}
		r.rec.Stopped = true
		r.stopAsked()
		stopped = g.Stop(sig, grace, r.escalated)
	}
loop:
	for {
		select {
		case <-g.Done():
			break loop
		case s := <-sigs:
			forward(s)
		case <-timeout:
			r.rec.TimedOut = true
			r.stopAsked()
			r.log.Warn().Dur("timeout", r.spec.Timeouts.Step.D()).Msg("step timeout: stopping the child's process group")
			timeout = nil
			stopped = g.Stop(syscall.SIGTERM, grace, r.escalated)
		}
	}
	res := g.Result()
	r.rec.End = time.Now().UTC() // the child's end, before the wait below
	if tm != nil {
		r.rec.GPU = tm.finish(time.Second)
	}
	// Slurm signals every process of a step, the child included, so the
	// child may end of the same SIGTERM just before the runner's copy
	// arrives: killed by it, or, when it handles it, exiting with a status
	// of its own. A child that ended badly with no stop under way waits
	// briefly for that copy, so that a cancel is not called the task's own
	// failure. Only SIGTERM and SIGHUP count: the stop request's SIGINT
	// reaches the runner alone and cannot explain the child's end. The
	// cost: a rank that fails on its own within the wait of a cancel reads
	// as stopped; the job's root cause is still the first failure.
	if res.ExitCode != 0 && stopped == nil {
		lag := time.NewTimer(stopSignalLag)
	wait:
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGINT {
					continue
				}
				forward(s)
				if s == syscall.SIGTERM || s == syscall.SIGHUP {
					break wait
				}
			case <-lag.C:
				break wait
			}
		}
		lag.Stop()
	}
	if stopped != nil {
		// The stop sequence kills what is left of the group.
		<-stopped
	} else if g.Alive() {
		// The child is gone but processes it started live on in its group.
		r.log.Warn().Msg("killing processes the child left behind in its process group")
		_ = g.Signal(syscall.SIGKILL)
	}
	// Detached descendants may hold the shared log's pipe open.
	r.killLeftovers()
	if shared != nil {
		shared.close(time.Second)
	}
	return r.finish(res, logf)
}

// killLeftovers kills what is left of the child's descendants outside its
// process group: daemons that setsid'ed, double-forked servers.
func (r *runner) killLeftovers() {
	if !r.o.Subreaper {
		return
	}
	pids, err := procgroup.KillDescendants(r.setupLeft...)
	if err != nil {
		r.log.Error().Err(err).Msg("processes of the task may outlive it")
	}
	if len(pids) > 0 {
		r.log.Warn().Ints("pids", pids).Msg("killed processes the child left behind outside its process group")
	}
}

// stopAsked notes when the first stop of the child was asked.
func (r *runner) stopAsked() {
	if r.rec.Phases.StopAt.IsZero() {
		r.rec.Phases.StopAt = time.Now().UTC()
	}
}

// escalated logs the stop sequence's later signals.
func (r *runner) escalated(sig syscall.Signal) {
	if sig == syscall.SIGKILL {
		r.log.Warn().Dur("grace", r.spec.Timeouts.KillGrace.D()).Msg("child did not stop in time: killing its process group")
		return
	}
	r.log.Info().Msg("child still running after SIGINT: sending SIGTERM to its process group")
}

func (r *runner) finish(res procgroup.Result, logf io.Writer) (int, error) {
	if r.rec.End.IsZero() {
		r.rec.End = time.Now().UTC()
	}
	r.rec.ExitCode = res.ExitCode
	switch {
	case r.rec.TimedOut:
		r.rec.State = workspace.StateTimedOut
	case res.Signaled():
		r.rec.State = workspace.StateSignaled
	default:
		r.rec.State = workspace.StateExited
	}
	r.rec.Signal = procgroup.SignalName(res.Signal)
	if res.Err != nil {
		r.rec.Error = res.Err.Error()
	}
	code := res.ExitCode
	if r.rec.TimedOut && code == 0 {
		// The child ended cleanly on SIGTERM, but the step ran out of time.
		code = exitcode.Timeout
		r.rec.ExitCode = code
	}
	code = r.judgeGPUFaults(code)
	r.save()
	fmt.Fprintf(logf, "noderun: child ended: state=%s exit=%d signal=%s after %s\n",
		r.rec.State, r.rec.ExitCode, r.rec.Signal, r.rec.Duration().Round(time.Millisecond))
	ev := r.log.Info()
	if code != 0 {
		ev = r.log.Warn()
	}
	ev.Int("exit_code", code).Str("signal", r.rec.Signal).Bool("timed_out", r.rec.TimedOut).
		Dur("took", r.rec.Duration().Round(time.Millisecond)).Msg("child ended")
	return code, nil
}

// checkTestRoot fails a task whose working directory is missing on its
// node: exec would report it as the command not found (fork/exec pytest: no
// such file or directory), and users would go and install pytest.
func (r *runner) checkTestRoot() error {
	dir := r.step.Command.Dir
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err):
		return exitcode.With(exitcode.NoTestRoot, fmt.Errorf("test root %s does not exist on node %s: check --test-root (or TRTLLM_DIR) and that the path is mounted on the compute nodes", dir, r.task.NodeName))
	case err != nil:
		return exitcode.With(exitcode.NoTestRoot, fmt.Errorf("test root on node %s: %w", r.task.NodeName, err))
	case !fi.IsDir():
		return exitcode.With(exitcode.NoTestRoot, fmt.Errorf("test root %s on node %s is not a directory: check --test-root", dir, r.task.NodeName))
	}
	return nil
}

// failedToStart records a task that never ran its child.
func (r *runner) failedToStart(err error) (int, error) {
	code := exitcode.Of(err)
	if _, statErr := os.Stat(r.rec.Log); statErr != nil {
		// No child ever wrote its log: the runner's own log holds the story.
		r.rec.Log = r.ws.RunnerLog(r.step.Role, r.task.ProcID)
	}
	r.rec.State = workspace.StateFailedToStart
	r.rec.End = time.Now().UTC()
	r.rec.ExitCode = code
	r.rec.Error = err.Error()
	r.save()
	return code, err
}

// LimitProcs runs the runner's goroutines on one OS thread at a time
// (GOMAXPROCS=1) unless GOMAXPROCS says otherwise. A runner mostly waits on
// its child; with more Ps each timer or signal wakes several threads, which
// costs every waiting task CPU (BenchmarkIdleRunnerCPU).
func LimitProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

// openTaskLog opens the task's log for appending. Its directory is made
// only when missing (the step's starter made it, for srun's --output): one
// round trip less per task on a shared filesystem.
func openTaskLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	return f, err
}

func (r *runner) save() {
	// A runner of an earlier attempt can outlive its requeue (its node was
	// cut off, not dead) and must not overwrite the record of a later one.
	if old, err := workspace.LoadTaskRecord(r.ws.TaskRecord(r.rec.Role, r.rec.Rank)); err == nil &&
		old.Submission == r.rec.Submission && old.Attempt > r.rec.Attempt {
		r.log.Warn().Int("attempt", r.rec.Attempt).Int("current_attempt", old.Attempt).
			Msg("a later attempt of the job owns this task's record: not overwriting it")
		return
	}
	if err := r.ws.SaveTaskRecord(&r.rec); err != nil {
		r.log.Error().Err(err).Msg("could not write the task record")
	}
}
