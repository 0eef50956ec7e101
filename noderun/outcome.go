package noderun

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/junitmerge"
	"github.com/noderun/noderun/internal/workspace"
)

// outcomeFacts are what the supervisor knows when it names the outcome.
type outcomeFacts struct {
	// stop is what stopped the job from outside, or a step srun could not
	// start: OutcomeTimeout, OutcomeCancelled, OutcomeNodeFailure,
	// OutcomeStartFailed; "" when the job ran to its end or a task failed.
	stop string
	// cause is the first task that failed on its own before any such stop.
	cause *workspace.TaskRecord
	// stepsFailed: a step neither succeeded nor was stopped as expected.
	stepsFailed bool
	// testsFailed: the merged results hold failures or errors.
	testsFailed bool
}

// decideOutcome names the outcome. A node failure wins over the task
// failures it causes; a task that failed on its own before the job was
// stopped from outside is the story; else what stopped the job is.
func decideOutcome(f outcomeFacts) string {
	switch {
	case f.stop == workspace.OutcomeNodeFailure:
		return f.stop
	case f.cause != nil:
		return taskOutcome(f.cause)
	case f.stop != "":
		return f.stop
	case f.stepsFailed || f.testsFailed:
		return workspace.OutcomeFailed
	}
	return workspace.OutcomePassed
}

// taskOutcome is the job's outcome when rec is its root cause.
func taskOutcome(rec *workspace.TaskRecord) string {
	if rec.State != workspace.StateFailedToStart {
		return workspace.OutcomeFailed
	}
	switch rec.ExitCode {
	case exitcode.SetupFailed:
		return workspace.OutcomeSetupFailed
	case exitcode.GPUPrecheck:
		return workspace.OutcomePrecheckFailed
	}
	return workspace.OutcomeStartFailed
}

// taskStatus says how a task ended: "exited with status 3". faults is the
// spec's gpu.faults: only under fail can a GPU fault be why a task failed.
func taskStatus(rec *workspace.TaskRecord, faults string) string {
	switch {
	case rec.State == workspace.StateFailedToStart:
		return fmt.Sprintf("failed to start (exit status %d)", rec.ExitCode)
	case rec.TimedOut || rec.State == workspace.StateTimedOut:
		return fmt.Sprintf("hit the step timeout (exit status %d)", rec.ExitCode)
	case rec.Signal != "" && rec.State == workspace.StateSignaled:
		return fmt.Sprintf("was killed by %s (exit status %d)", rec.Signal, rec.ExitCode)
	case rec.ExitCode == exitcode.GPUFault && rec.GPU != nil && len(rec.GPU.Faults) > 0 && failsOnGPUFault(faults):
		return fmt.Sprintf("failed by a GPU fault, %s, with --gpu-faults fail (exit status %d)", rec.GPU.Faults[0], rec.ExitCode)
	}
	return fmt.Sprintf("exited with status %d", rec.ExitCode)
}

// nodeFailureLine is srun's report of a lost node.
var nodeFailureLine = regexp.MustCompile(`(?i)node failure on ([^\s,:]+)`)

// nodeFailureIn finds srun's report of a node failure in a step's srun log:
// the node and the line.
func nodeFailureIn(path string) (node, line string) {
	f, err := os.Open(path)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := nodeFailureLine.FindStringSubmatch(sc.Text()); m != nil {
			return m[1], sc.Text()
		}
	}
	return "", ""
}

// blameRank gives a failed step the status of its rank that failed on its
// own first, not srun's: srun reports 143 when it ended the other ranks.
func (s *supervisor) blameRank(r *stepRun) {
	r.result.Error = fmt.Sprintf("srun exited with status %d", r.result.SrunExitCode)
	rec := workspace.FirstFailure(s.records(r.step.Role), time.Time{})
	if rec == nil {
		return
	}
	rank := rec.Rank
	r.result.ExitCode, r.result.Rank = rec.ExitCode, &rank
	r.result.Error = fmt.Sprintf("rank %d on %s %s", rec.Rank, orUnknown(rec.Node), taskStatus(rec, s.o.Spec.GPU.Faults))
}

// clockSkew is how far a node's clock may be behind the batch step's when
// a record's start is compared with the supervisor's.
const clockSkew = 2 * time.Second

// records reads the task records of this attempt, of one role or ("")
// all. Records of a noderun without attempts are told apart by time:
// those started before this supervisor are an earlier attempt's.
func (s *supervisor) records(role string) []*workspace.TaskRecord {
	recs, errs := workspace.New(s.o.Spec.Workspace).TaskRecords()
	for _, err := range errs {
		s.log.Warn().Err(err).Msg("cannot read a task record")
	}
	var out []*workspace.TaskRecord
	for _, rec := range recs {
		if (role == "" || rec.Role == role) && s.owns(rec) {
			out = append(out, rec)
		}
	}
	return out
}

// owns reports whether rec is of this attempt and not left from before
// this supervisor started.
func (s *supervisor) owns(rec *workspace.TaskRecord) bool {
	earlier := !rec.Start.IsZero() && rec.Start.Before(s.started.Add(-clockSkew))
	return s.o.Attempt().Owns(rec) && !earlier
}

// explainStop asks Slurm why it ended a job that got SIGTERM: scancel,
// the time limit and a node failure look alike from inside.
func (s *supervisor) explainStop(ctx context.Context, reason string) string {
	reason = s.askSlurm(ctx, reason)
	if s.stop == workspace.OutcomeCancelled {
		// Slurm does not tell who ran scancel; noderun's own cancel says.
		if n := workspace.New(s.o.Spec.Workspace).LoadCancelNote(s.o.JobID, s.started.Add(-clockSkew)); n != nil {
			reason += "; cancelled by " + n.String()
		}
	}
	return reason
}

func (s *supervisor) askSlurm(ctx context.Context, reason string) string {
	j, ok := s.o.Starter.(JobEndReporter)
	if s.stop != workspace.OutcomeCancelled || !ok {
		return reason
	}
	switch outcome, node := j.JobEnd(ctx, s.o.Nodes); outcome {
	case workspace.OutcomeTimeout:
		s.stop, reason = outcome, "job reached its time limit (Slurm ended it)"
	case workspace.OutcomeNodeFailure:
		s.stop, s.failedNode = outcome, node
		reason = "a node of the job failed (Slurm ended it)"
		if node != "" {
			reason = fmt.Sprintf("node %s failed (Slurm ended the job)", node)
		}
	}
	return reason
}

// blame finds the root cause before the merge, so that results.xml can say
// of each stopped task whose failure it was stopped for, and gives result a
// first outcome for the same purpose; decide names the final one.
func (s *supervisor) blame(result *workspace.JobResult) {
	ws := workspace.New(s.o.Spec.Workspace)
	cutoff := time.Time{}
	if s.stop != "" {
		cutoff = s.stopAt.Add(-signalSkew)
	}
	s.cause = workspace.FirstFailure(s.records(""), cutoff)
	for _, r := range s.runs {
		if r.result.Outcome == workspace.StepFailed || r.result.Outcome == workspace.StepNotStarted {
			if s.failedStep == nil || r.result.End.Before(s.failedStep.result.End) {
				s.failedStep = r
			}
		}
	}
	switch {
	case s.stop == workspace.OutcomeNodeFailure:
		result.RootCause, result.FailedNode = s.nodeCause(ws), s.failedNode
	case s.cause != nil:
		result.RootCause = junitmerge.DescribeCause(ws, s.cause)
	case s.stop == workspace.OutcomeStartFailed && s.stopStep != nil:
		result.RootCause = s.stepCause(ws, s.stopStep, "")
	case s.stop == "" && s.failedStep != nil:
		result.RootCause = s.stepCause(ws, s.failedStep, "")
	}
	result.Outcome = decideOutcome(s.facts(false))
}

func (s *supervisor) facts(testsFailed bool) outcomeFacts {
	return outcomeFacts{stop: s.stop, cause: s.cause, stepsFailed: s.failedStep != nil, testsFailed: testsFailed}
}

// decide names the outcome, the reason and the job's exit status, once the
// merge told whether the results hold failures.
func (s *supervisor) decide(result *workspace.JobResult, reason string, testsFailed bool) {
	result.Outcome = decideOutcome(s.facts(testsFailed))
	result.ExitCode = workspace.OutcomeExitCode(result.Outcome)
	switch {
	case result.Outcome == workspace.OutcomePassed:
		reason = ""
	case s.cause != nil && s.stop != workspace.OutcomeNodeFailure:
		// The root cause, not the step whose srun happened to end first.
		reason = fmt.Sprintf("%s rank %d on %s %s", s.cause.Role, s.cause.Rank, orUnknown(s.cause.Node), taskStatus(s.cause, s.o.Spec.GPU.Faults))
	case reason != "":
	case s.failedStep != nil:
		reason = fmt.Sprintf("step %s %s (%s)", s.failedStep.step.Role, s.failedStep.result.Outcome, s.failedStep.result.Error)
	default:
		reason = "the merged results hold failures or errors"
	}
	result.Reason = reason
}

// nodeCause is the root cause of a node failure: the step whose srun saw
// it, else (Slurm told of it) a step with a task lost on the node, on the
// node. Nil when neither is known: the reason names the node if Slurm did.
func (s *supervisor) nodeCause(ws workspace.Layout) *workspace.RootCause {
	r := s.stopStep
	if r == nil && s.failedNode != "" {
		r = s.lostOn(s.failedNode)
	}
	if r == nil {
		return nil
	}
	c := s.stepCause(ws, r, s.failedNode)
	c.Node, c.FirstError = s.failedNode, s.nodeLine
	if c.FirstError == "" {
		c.FirstError = fmt.Sprintf("node %s failed while the task ran (Slurm ended the job)", s.failedNode)
	}
	return c
}

// stepCause is the root cause when no task failed on its own: the step
// srun could not start, or whose srun failed while no rank recorded a
// failure (its runners died). It names a rank left running, on node when
// one is given, if there is one.
func (s *supervisor) stepCause(ws workspace.Layout, r *stepRun, node string) *workspace.RootCause {
	c := &workspace.RootCause{Role: r.step.Role, ExitCode: r.result.ExitCode, End: r.result.End, FirstError: r.result.Error}
	for _, rec := range s.records(r.step.Role) {
		if rec.State == workspace.StateRunning && (node == "" || rec.Node == node) {
			rank := rec.Rank
			c.Rank, c.Node = &rank, rec.Node
			c.Log = ws.Rel(ws.Resolve(rec.Log))
			break
		}
	}
	if log := ws.StepLog(r.step.Role); c.Log == "" && fileExists(log) {
		c.Log = ws.Rel(log)
		if e := junitmerge.FirstError(log); e != "" && r.result.Outcome != workspace.StepNotStarted {
			c.FirstError = e
		}
	}
	return c
}

// lostOn is the first step with a task on node whose runner never recorded
// its end: it was lost with the node.
func (s *supervisor) lostOn(node string) *stepRun {
	for _, r := range s.runs {
		for _, rec := range s.records(r.step.Role) {
			if rec.State == workspace.StateRunning && rec.Node == node {
				return r
			}
		}
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown node"
	}
	return s
}
