package noderun

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobreport"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/junitmerge"
	"github.com/noderun/noderun/internal/workspace"
)

// StepStarter starts all tasks of one step: srun on a cluster, local
// processes with a faked Slurm environment in simulation.
type StepStarter interface {
	Start(ctx context.Context, step *jobspec.Step, nodes []string) (RunningStep, error)
}

// RunningStep is a started step.
type RunningStep interface {
	// Done is closed when every task of the step has ended.
	Done() <-chan struct{}
	// ExitCode is the step's status once Done: 0, or the first failing
	// task's status as srun reports it.
	ExitCode() int
	// RequestStop asks every task to stop calmly: each runner sends its
	// child SIGINT once, then TERM and KILL after the kill grace.
	RequestStop()
	// Kill ends the step at once.
	Kill()
}

// cancelBudget bounds the wait for steps after the job itself was told to
// stop (scancel, time limit) while Slurm's KillWait is unknown: Slurm
// allows only KillWait seconds before it kills the batch step, and the
// merge must be written before that (cancelBudgetFor).
const cancelBudget = time.Second

// stopMargin is added to the runners' kill grace when the supervisor waits
// for a stopped step: each runner sees the stop request within stopPoll and
// then needs that grace to end its own child.
const stopMargin = stopPoll + 2*time.Second

// JobOptions are the inputs of the batch-step supervisor.
type JobOptions struct {
	Spec *jobspec.Spec
	// JobID is Slurm's job id (or the simulation's).
	JobID string
	// Restart is SLURM_RESTART_COUNT: with JobID and the spec's submission
	// id it names the attempt.
	Restart int
	// Nodes are the job's node names in Slurm's order.
	Nodes   []string
	Starter StepStarter
	Log     zerolog.Logger
	// Signals delivers SIGTERM/SIGINT (stop now) and SIGUSR2 (time limit
	// near); nil subscribes to the process's signals.
	Signals <-chan os.Signal
	// Stdout receives the summary table.
	Stdout io.Writer
	// CancelBudget bounds the wait for the steps once the job itself was
	// told to stop; zero: cancelBudget, within Slurm's KillWait. The local
	// simulation has no KillWait and gives the runners their kill grace.
	CancelBudget time.Duration
}

type stepRun struct {
	step    *jobspec.Step
	running RunningStep
	result  workspace.StepResult
	ended   bool
	// stopped is why the supervisor stopped the step, if it did.
	stopped string
}

// signalSkew is how long before the job's own stop signal a task may end
// of the same stop without its runner noticing: Slurm signals every process
// of the job at once, so a task that ended this close to the stop is no
// root cause.
const signalSkew = 2 * time.Second

// Job starts every step of the spec, supervises them to the end, merges
// the results and writes WS/job-result.json. It returns the job's exit
// status, that of its outcome (workspace.OutcomeExitCode): 0 only when every
// step succeeded (or was stopped as expected after the deciding step) and
// the merged results hold no failure or error.
func Job(ctx context.Context, o JobOptions) (int, error) {
	spec := o.Spec
	if len(o.Nodes) < spec.Nodes {
		reason := fmt.Sprintf("the job has %d nodes (%v) but the spec needs %d; was --nodes overridden with --sbatch-arg?", len(o.Nodes), o.Nodes, spec.Nodes)
		return Abort(o, reason, exitcode.Usage)
	}
	sigs := o.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR2)
		defer signal.Stop(ch)
		sigs = ch
	}
	result := newResult(o)
	s := &supervisor{o: o, log: o.Log, ended: make(chan int, len(spec.Steps)), started: result.Start}
	s.killWait.learn(ctx, o.Starter)

	reason := s.startSteps(ctx, sigs)
	if reason == "" {
		reason = s.watch(sigs)
	}
	reason = s.explainStop(ctx, reason)
	for _, r := range s.runs {
		result.Steps = append(result.Steps, r.result)
	}
	s.blame(result)
	return conclude(o, result, func(testsFailed bool) {
		s.decide(result, reason, testsFailed)
	})
}

// Abort ends a job that cannot start its steps: it still merges what the
// workspace holds (every expected task shows up as an error) and writes
// WS/job-result.json, so CI sees why, then returns code.
func Abort(o JobOptions, reason string, code int) (int, error) {
	o.Log.Error().Str("reason", reason).Msg("the job cannot run")
	result := newResult(o)
	return conclude(o, result, func(bool) {
		result.Outcome, result.ExitCode, result.Reason = workspace.OutcomeStartFailed, code, reason
	})
}

// Attempt is the attempt the supervisor runs.
func (o JobOptions) Attempt() workspace.Attempt {
	return workspace.Attempt{Submission: o.Spec.Submission, JobID: o.JobID, Restart: o.Restart}
}

// newResult starts the job's result, after keeping what an earlier attempt
// left apart from this one's outputs: nothing of it is merged into this
// attempt, and job-result.json lists it.
func newResult(o JobOptions) *workspace.JobResult {
	a := o.Attempt()
	ws := workspace.New(o.Spec.Workspace)
	if dir, err := ws.ArchiveEarlier(a); err != nil {
		o.Log.Error().Err(err).Msg("the outputs of an earlier attempt may be merged into this one")
	} else if dir != "" {
		o.Log.Info().Str("dir", ws.Rel(dir)).Int("attempt", a.Restart).Msg("kept the outputs of the earlier attempt")
	}
	attempts, err := ws.Attempts()
	if err != nil {
		o.Log.Warn().Err(err).Msg("cannot list the earlier attempts")
	}
	return &workspace.JobResult{JobID: o.JobID, Submission: a.Submission, Attempt: a.Restart, Attempts: attempts, Start: time.Now().UTC()}
}

// conclude merges the results, lets decide name the outcome (with the
// root cause and the reason already in result) and writes
// WS/job-result.json: the last thing every job does, whatever happened.
// decide sets result's Outcome, ExitCode and Reason.
func conclude(o JobOptions, result *workspace.JobResult, decide func(testsFailed bool)) (int, error) {
	ws := workspace.New(o.Spec.Workspace)
	result.End = time.Now().UTC()
	doc, merged := junitmerge.BuildWorkspace(ws, junitmerge.Options{Spec: o.Spec, Result: result})
	decide(merged.Failed())
	hide := o.Spec.Hider(os.Environ())
	hideSecrets(result, hide) // before the summary shows result
	if err := junitmerge.WriteWorkspace(ws, doc, merged); err != nil {
		o.Log.Error().Err(err).Msg("merge of the results failed")
		if result.ExitCode == 0 {
			result.Outcome, result.ExitCode, result.Reason = workspace.OutcomeFailed, exitcode.Internal, hide("merge failed: "+err.Error())
		}
	} else if o.Stdout != nil {
		merged.WriteTable(o.Stdout)
	}
	result.Verdict = "passed"
	if result.Outcome != workspace.OutcomePassed {
		result.Verdict = "failed"
	}
	// A page `noderun report` wrote while the job ran must not outlive it
	// saying "running" if the one below cannot be written.
	_ = os.Remove(ws.Report())
	if err := ws.SaveJobResult(result); err != nil {
		return exitcode.Internal, exitcode.With(exitcode.Internal, err)
	}
	// The page comes last and cannot fail the job: the verdict must be on
	// disk before Slurm's KillWait runs out.
	if err := jobreport.WriteHTML(ws, merged); err != nil {
		o.Log.Warn().Err(err).Msg("report.html not written; noderun report --workspace writes it")
	}
	ev := o.Log.Info()
	if result.ExitCode != 0 {
		ev = o.Log.Warn()
	}
	ev.Str("outcome", result.Outcome).Int("exit_code", result.ExitCode).Str("reason", result.Reason).
		Str("results", ws.Results()).Msg("job ended")
	return result.ExitCode, nil
}

// hideSecrets hides secrets in what job-result.json (mode 0644) and the
// summary quote of errors and logs.
func hideSecrets(result *workspace.JobResult, hide func(string) string) {
	result.Reason = hide(result.Reason)
	for i := range result.Steps {
		result.Steps[i].Error = hide(result.Steps[i].Error)
	}
	if c := result.RootCause; c != nil {
		c.FirstError = hide(c.FirstError)
	}
}

type supervisor struct {
	o       JobOptions
	log     zerolog.Logger
	started time.Time
	runs    []*stepRun
	ended   chan int
	// stop is what stopped the job other than a task's own failure: a
	// workspace.Outcome* of a cancel, a time limit, a node failure or a step
	// srun could not start; stopAt is when, stopStep the step it concerns.
	stop     string
	stopAt   time.Time
	stopStep *stepRun
	// failedNode and nodeLine tell of a node failure.
	failedNode, nodeLine string
	// cause is the root-cause task, failedStep the first step that failed
	// or did not start (blame finds them).
	cause      *workspace.TaskRecord
	failedStep *stepRun
	// killWait is Slurm's KillWait, which bounds a cancelled job's wait.
	killWait killWait
}

// startSteps starts the steps in spec order; a signal or a start failure
// stops what was started and returns the reason.
func (s *supervisor) startSteps(ctx context.Context, sigs <-chan os.Signal) string {
	spec := s.o.Spec
	for i := range spec.Steps {
		st := &spec.Steps[i]
		if i > 0 && spec.Timeouts.Stagger > 0 {
			select {
			case sig := <-sigs:
				return s.stopAll(fmt.Sprintf("job received %v while starting steps", sig), workspace.StepCancelled, s.cancelBudget())
			case <-time.After(spec.Timeouts.Stagger.D()):
			}
		}
		nodes := s.o.Nodes[st.FirstNode : st.FirstNode+st.Nodes]
		r := &stepRun{step: st, result: workspace.StepResult{Role: st.Role, Start: time.Now().UTC()}}
		s.runs = append(s.runs, r)
		log := s.log.With().Str("role", st.Role).Strs("nodes", nodes).Logger()
		running, err := s.start(ctx, st, nodes)
		if err != nil {
			r.ended = true
			r.result.Outcome, r.result.ExitCode, r.result.Error = workspace.StepNotStarted, exitcode.Submit, err.Error()
			r.result.End = time.Now().UTC()
			log.Error().Err(err).Msg("step could not be started")
			s.stop, s.stopAt, s.stopStep = workspace.OutcomeStartFailed, time.Now(), r
			return s.stopAll(fmt.Sprintf("step %s could not be started: %v", st.Role, err), workspace.StepCancelled, s.grace())
		}
		r.running = running
		log.Info().Int("tasks", st.Tasks).Msg("step started")
		go func(idx int) {
			<-running.Done()
			if err := touchDoneFile(st); err != nil {
				log.Error().Err(err).Msg("the step's readers will not see that it ended")
			}
			s.ended <- idx
		}(len(s.runs) - 1)
	}
	return ""
}

// start starts one step, after removing what an earlier run left of its
// shared files.
func (s *supervisor) start(ctx context.Context, st *jobspec.Step, nodes []string) (RunningStep, error) {
	if err := clearStepFiles(st); err != nil {
		return nil, err
	}
	return s.o.Starter.Start(ctx, st, nodes)
}

// watch waits for the steps to end and applies the job's rules.
func (s *supervisor) watch(sigs <-chan os.Signal) string {
	var afterDeciding <-chan time.Time
	for {
		if s.allEnded() {
			return ""
		}
		select {
		case i := <-s.ended:
			r := s.runs[i]
			// Its end, before killedByCancel spends time asking why.
			r.result.End = time.Now().UTC()
			sig, cancelled := s.killedByCancel(r, sigs)
			if cancelled {
				// scancel or the time limit: Slurm signalled the step before
				// this batch step got its own signal.
				r.stopped = workspace.StepCancelled
				s.recordEnd(r)
				return s.cancel(sig, r.result.End)
			}
			s.recordEnd(r)
			if sig != nil {
				return s.cancel(sig, time.Now())
			}
			if r.step.Deciding {
				s.log.Info().Str("role", r.step.Role).Dur("grace", s.o.Spec.Timeouts.AfterDeciding.D()).
					Msg("deciding step ended; the other steps may finish on their own")
				afterDeciding = time.After(s.o.Spec.Timeouts.AfterDeciding.D())
			} else if r.result.Outcome == workspace.StepFailed && !s.decidingEnded() {
				reason := fmt.Sprintf("step %s failed: %s", r.step.Role, r.result.Error)
				if node, line := nodeFailureIn(workspace.New(s.o.Spec.Workspace).StepLog(r.step.Role)); node != "" {
					s.stop, s.stopAt, s.stopStep, s.failedNode, s.nodeLine = workspace.OutcomeNodeFailure, time.Now(), r, node, line
					reason = fmt.Sprintf("node %s failed while step %s ran", node, r.step.Role)
				}
				s.drainEnded()
				return s.stopAll(reason, workspace.StepCancelled, s.grace())
			}
		case <-afterDeciding:
			return s.stopAll("", workspace.StepStoppedAfterDeciding, s.grace())
		case sig := <-sigs:
			return s.cancel(sig, time.Now())
		}
	}
}

// drainEnded records the ends already reported, so that stopAll does not
// call stopped a step that ended on its own while another's end was judged.
func (s *supervisor) drainEnded() {
	for {
		select {
		case i := <-s.ended:
			s.recordEnd(s.runs[i])
		default:
			return
		}
	}
}

// cancel stops every step after the job itself received sig; at is when
// the stop reached the job, the cutoff for a root cause.
func (s *supervisor) cancel(sig os.Signal, at time.Time) string {
	why := fmt.Sprintf("job cancelled (%v)", sig)
	budget := s.cancelBudget()
	s.stop, s.stopAt = workspace.OutcomeCancelled, at
	if sig == syscall.SIGUSR2 {
		// Slurm's warning before the time limit (--signal=B:USR2@N):
		// there is time to stop the steps calmly.
		why, budget = "job reached its time limit", s.grace()
		s.stop = workspace.OutcomeTimeout
	} else {
		s.cancelEnded(at)
	}
	return s.stopAll(why, workspace.StepCancelled, budget)
}

// cancelRace is how long a step killed by a signal waits for the batch
// step's own signal. On scancel and at the time limit Slurm signals every
// step and the batch step at once; srun may report first. cancelLate bounds
// the longer wait when neither noderun's cancel note nor Slurm's state
// tells yet, asking again every cancelAsk: at 1,024 tasks on a loaded
// controller, squeue missed its 1 s bound and the batch step's SIGTERM came
// seconds after the step's end, and every task read as "runner died".
const (
	cancelRace = 300 * time.Millisecond
	cancelLate = 10 * time.Second
	cancelAsk  = time.Second
)

// killedByCancel reports whether a step that just ended by a signal nobody
// here sent was part of a cancel of the whole job, and the job's signal.
// Slurm signals the nodes one by one, so the batch step's own SIGTERM may
// come later than the window; then noderun's cancel note or the job's
// state tells, else a last, longer wait for the signal.
func (s *supervisor) killedByCancel(r *stepRun, sigs <-chan os.Signal) (os.Signal, bool) {
	if r.stopped != "" {
		return nil, false
	}
	code := r.running.ExitCode()
	// On scancel of a large step, srun was seen to exit 0 while its tasks
	// still stopped, seconds before this batch step heard of the cancel;
	// and Slurm's SIGTERM reaches the tasks' children too, whose own status
	// (pytest's 2) srun then reports: a step whose ended tasks were all
	// stopped may be a cancel as well.
	switch {
	case code >= exitcode.SignalBase:
	case code == 0 && s.tasksUnfinished(r.step):
	case code != 0 && s.tasksOnlyStopped(r.step):
	default:
		return nil, false
	}
	if node, _ := nodeFailureIn(workspace.New(s.o.Spec.Workspace).StepLog(r.step.Role)); node != "" {
		return nil, false // the node failure path tells this one
	}
	// The time limit's warning (SIGUSR2) goes to this batch step only and
	// kills no step: it does not explain this end, but the caller acts on it.
	got := func(sig os.Signal) (os.Signal, bool) { return sig, sig != syscall.SIGUSR2 }
	select {
	case sig := <-sigs:
		return got(sig)
	case <-time.After(cancelRace):
	}
	late := time.After(cancelLate)
	for {
		if s.taskFailedOnItsOwn(r.step) {
			return nil, false // a rank's own signal death (OOM, a crash)
		}
		if workspace.New(s.o.Spec.Workspace).LoadCancelNote(s.o.JobID, s.started.Add(-clockSkew)) != nil {
			return syscall.SIGTERM, true
		}
		if j, ok := s.o.Starter.(JobEndReporter); ok {
			if outcome, _ := j.JobEnd(context.Background(), nil); outcome != "" {
				return syscall.SIGTERM, true
			}
		}
		select {
		case sig := <-sigs:
			return got(sig)
		case <-late:
			return nil, false
		case <-time.After(cancelAsk):
		}
	}
}

// ownRecords are the step's task records of this attempt: one per task that
// recorded anything, read one by one (the step's, not every role's).
func (s *supervisor) ownRecords(step *jobspec.Step) []*workspace.TaskRecord {
	ws := workspace.New(s.o.Spec.Workspace)
	var out []*workspace.TaskRecord
	for k := 0; k < step.Tasks; k++ {
		if rec, err := workspace.LoadTaskRecord(ws.TaskRecord(step.Role, k)); err == nil && s.owns(rec) {
			out = append(out, rec)
		}
	}
	return out
}

// taskFailedOnItsOwn reports whether a task of the step recorded an end
// that no stop caused: then the step's signal is that task's, not a cancel.
func (s *supervisor) taskFailedOnItsOwn(step *jobspec.Step) bool {
	for _, rec := range s.ownRecords(step) {
		if failedOnItsOwn(rec) {
			return true
		}
	}
	return false
}

// failedOnItsOwn reports whether rec records an end that is a failure and
// that no stop caused.
func failedOnItsOwn(rec *workspace.TaskRecord) bool {
	return rec.State != workspace.StateRunning && !rec.Stopped && (rec.State != workspace.StateExited || rec.ExitCode != 0)
}

// tasksOnlyStopped reports whether the step's tasks that recorded an end,
// one at least, were all asked to stop, and none failed on its own.
func (s *supervisor) tasksOnlyStopped(step *jobspec.Step) bool {
	stopped := false
	for _, rec := range s.ownRecords(step) {
		if failedOnItsOwn(rec) {
			return false
		}
		stopped = stopped || rec.State != workspace.StateRunning && rec.Stopped
	}
	return stopped
}

// tasksUnfinished reports whether a task of the step that recorded its
// start has not recorded its end, although its srun ended.
func (s *supervisor) tasksUnfinished(step *jobspec.Step) bool {
	for _, rec := range s.ownRecords(step) {
		if rec.State == workspace.StateRunning {
			return true
		}
	}
	return false
}

// stopAll stops every running step: a stop request, wait up to budget,
// then kill. On scancel it waits, within the same budget, for the stopped
// tasks' end records.
func (s *supervisor) stopAll(reason, outcome string, budget time.Duration) string {
	until := time.Now().Add(budget)
	deadline := time.After(budget)
	var running []*stepRun
	for _, r := range s.runs {
		if !r.ended {
			r.stopped = outcome
			running = append(running, r)
			r.running.RequestStop()
		}
	}
	if len(running) > 0 {
		s.log.Info().Str("reason", reason).Int("steps", len(running)).Dur("budget", budget).Msg("stopping steps")
	}
	for !s.allEnded() {
		select {
		case i := <-s.ended:
			s.recordEnd(s.runs[i])
		case <-deadline:
			for _, r := range running {
				if !r.ended {
					s.log.Warn().Str("role", r.step.Role).Msg("step did not stop in time: killing it")
					r.running.Kill()
				}
			}
			// Give the killed steps a moment to be reaped; record what is left.
			s.drain(200 * time.Millisecond)
			for _, r := range running {
				if !r.ended {
					r.ended = true
					r.result.End = time.Now().UTC()
					r.result.Outcome, r.result.ExitCode = outcome, exitcode.SignalBase+int(syscall.SIGKILL)
				}
			}
			return reason
		}
	}
	if s.stop == workspace.OutcomeCancelled {
		// scancel signals srun too, which may end before its tasks.
		s.awaitRecords(until)
	}
	return reason
}

func (s *supervisor) drain(d time.Duration) {
	t := time.After(d)
	for !s.allEnded() {
		select {
		case i := <-s.ended:
			s.recordEnd(s.runs[i])
		case <-t:
			return
		}
	}
}

func (s *supervisor) recordEnd(r *stepRun) {
	if r.ended {
		return
	}
	r.ended = true
	if r.result.End.IsZero() {
		r.result.End = time.Now().UTC()
	}
	r.result.ExitCode = r.running.ExitCode()
	switch {
	case r.stopped != "":
		// A step that ends after we asked it to stop ends as we asked, even
		// when its children shut down cleanly.
		r.result.Outcome = r.stopped
	case r.result.ExitCode == 0:
		r.result.Outcome = workspace.StepSucceeded
	default:
		r.result.Outcome = workspace.StepFailed
	}
	r.result.SrunExitCode = r.result.ExitCode
	cancelledCode(&r.result)
	if r.result.Outcome == workspace.StepSucceeded {
		// srun may exit 0 after it lost a node: its tasks there never ended.
		if _, line := nodeFailureIn(workspace.New(s.o.Spec.Workspace).StepLog(r.step.Role)); line != "" {
			r.result.Outcome, r.result.Error = workspace.StepFailed, strings.TrimSpace(line)
		}
	}
	if r.result.Outcome == workspace.StepFailed && r.result.Error == "" {
		s.blameRank(r)
	}
	ev := s.log.Info()
	if r.result.Outcome == workspace.StepFailed {
		ev = s.log.Warn()
	}
	ev.Str("role", r.step.Role).Int("exit_code", r.result.ExitCode).Str("outcome", r.result.Outcome).
		Dur("took", r.result.End.Sub(r.result.Start).Round(time.Millisecond)).Msg("step ended")
}

func (s *supervisor) allEnded() bool {
	for _, r := range s.runs {
		if !r.ended {
			return false
		}
	}
	return true
}

func (s *supervisor) decidingEnded() bool {
	for _, r := range s.runs {
		if r.step.Deciding && r.ended {
			return true
		}
	}
	return false
}

func (s *supervisor) cancelBudget() time.Duration {
	if s.o.CancelBudget > 0 {
		return s.o.CancelBudget
	}
	return cancelBudgetFor(s.killWait.get())
}

func (s *supervisor) grace() time.Duration {
	return s.o.Spec.Timeouts.KillGrace.D() + stopMargin
}
