// Package slurmenv knows the Slurm environment of one task: it reads the
// SLURM_* variables that srun sets (FromEnv), writes them for the local
// simulation (Task.Environ), and expands and compresses hostlist
// expressions without scontrol (Expand, Compress), which is often missing
// inside containers.
package slurmenv

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrNotInSlurm means the process is not a Slurm task at all: neither
// SLURM_JOB_ID nor SLURM_PROCID is set. FromEnv wraps it so that callers can
// tell "started outside srun" (run it under srun, or use submit --local)
// from "started by a Slurm that set something odd".
var ErrNotInSlurm = errors.New("not a Slurm task: SLURM_JOB_ID and SLURM_PROCID are both unset")

// The variables FromEnv reads and Environ writes.
const (
	envJobID        = "SLURM_JOB_ID"
	envStepID       = "SLURM_STEP_ID"
	envProcID       = "SLURM_PROCID"
	envLocalID      = "SLURM_LOCALID"
	envNodeID       = "SLURM_NODEID"
	envNodeName     = "SLURMD_NODENAME"
	envJobNodeList  = "SLURM_JOB_NODELIST"
	envStepNodeList = "SLURM_STEP_NODELIST"
	envNTasks       = "SLURM_NTASKS"
	envStepNumTasks = "SLURM_STEP_NUM_TASKS"
	envJobNumNodes  = "SLURM_JOB_NUM_NODES"
	envStepNumNodes = "SLURM_STEP_NUM_NODES"
	envRestartCount = "SLURM_RESTART_COUNT"
)

// Task is one task of a Slurm job step, as srun describes it to the task
// through its environment.
type Task struct {
	// JobID is the job's id (SLURM_JOB_ID), decimal digits. A requeued job
	// keeps its id; RestartCount tells the runs apart.
	JobID string
	// StepID is the step's id within the job (SLURM_STEP_ID), decimal digits.
	StepID string
	// ProcID is the task's rank in the step, 0 to NTasks-1 (SLURM_PROCID).
	ProcID int
	// LocalID is the task's rank among the step's tasks on this node
	// (SLURM_LOCALID).
	LocalID int
	// NodeID is the index of this node in the step's node list (SLURM_NODEID).
	NodeID int
	// NodeName is the Slurm name of this node (SLURMD_NODENAME), the name
	// node lists use, which may differ from the host name.
	NodeName string
	// JobNodeList is the job's nodes as a hostlist expression
	// (SLURM_JOB_NODELIST); Expand turns it into names.
	JobNodeList string
	// StepNodeList is the step's nodes as a hostlist expression
	// (SLURM_STEP_NODELIST).
	StepNodeList string
	// NTasks is the number of tasks in the step (SLURM_STEP_NUM_TASKS, or
	// SLURM_NTASKS when that is not set).
	NTasks int
	// JobNumNodes is the number of nodes of the job (SLURM_JOB_NUM_NODES),
	// not of the step.
	JobNumNodes int
	// RestartCount is how often the job was requeued (SLURM_RESTART_COUNT;
	// Slurm sets it only after a requeue, so unset means 0). Anything keyed
	// by job id, such as a per-node setup lock, must include it, or a
	// requeued job finds the lock of its previous run.
	RestartCount int
}

// FromEnv reads the task's description from the environment; lookup is
// os.LookupEnv in production. Every variable that is missing or malformed is
// reported, each naming the variable and its value, joined into one error.
// When neither SLURM_JOB_ID nor SLURM_PROCID is set the error wraps
// ErrNotInSlurm.
func FromEnv(lookup func(string) (string, bool)) (Task, error) {
	_, hasJob := lookup(envJobID)
	_, hasProc := lookup(envProcID)
	if !hasJob && !hasProc {
		return Task{}, fmt.Errorf("read Slurm task environment: %w", ErrNotInSlurm)
	}
	r := envReader{lookup: lookup}
	t := Task{
		JobID:        r.id(envJobID),
		StepID:       r.id(envStepID),
		ProcID:       r.nonNegative(envProcID),
		LocalID:      r.nonNegative(envLocalID),
		NodeID:       r.nonNegative(envNodeID),
		NodeName:     r.nonEmpty(envNodeName),
		JobNodeList:  r.nonEmpty(envJobNodeList),
		StepNodeList: r.nonEmpty(envStepNodeList),
		JobNumNodes:  r.positive(envJobNumNodes),
	}
	jobNodes := r.nodes(envJobNodeList, t.JobNodeList)
	stepNodes := r.nodes(envStepNodeList, t.StepNodeList)

	// Inside a step SLURM_NTASKS may still be the job's count (sbatch -n)
	// when srun was given its own -n, so the step's own variable wins.
	stepTasks, hasStepTasks := r.optionalPositive(envStepNumTasks)
	jobTasks, hasJobTasks := r.optionalPositive(envNTasks)
	ntasksFrom := envStepNumTasks
	switch {
	case hasStepTasks:
		t.NTasks = stepTasks
	case hasJobTasks:
		t.NTasks, ntasksFrom = jobTasks, envNTasks
	case !r.present(envStepNumTasks) && !r.present(envNTasks):
		r.fail(fmt.Errorf("neither %s nor %s is set; srun sets them for every task", envStepNumTasks, envNTasks))
	}

	if v, ok := lookup(envRestartCount); ok {
		t.RestartCount = r.parse(envRestartCount, v, 0)
	}

	// Cross-checks, only between values that parsed: a fake environment
	// that contradicts itself (the local simulation's, or a hand-written
	// one) should fail here rather than put two ranks on one GPU.
	if t.NTasks > 0 && r.ok(envProcID) && t.ProcID >= t.NTasks {
		r.fail(fmt.Errorf("%s=%d is not below the step's task count %d (%s)", envProcID, t.ProcID, t.NTasks, ntasksFrom))
	}
	if t.NTasks > 0 && r.ok(envLocalID) && t.LocalID >= t.NTasks {
		r.fail(fmt.Errorf("%s=%d is not below the step's task count %d (%s)", envLocalID, t.LocalID, t.NTasks, ntasksFrom))
	}
	if stepNodes != nil && r.ok(envNodeID) && t.NodeID >= len(stepNodes) {
		r.fail(fmt.Errorf("%s=%d but %s=%q names %d node(s)", envNodeID, t.NodeID, envStepNodeList, t.StepNodeList, len(stepNodes)))
	}
	if jobNodes != nil && t.JobNumNodes > 0 && t.JobNumNodes != len(jobNodes) {
		r.fail(fmt.Errorf("%s=%d but %s=%q names %d node(s)", envJobNumNodes, t.JobNumNodes, envJobNodeList, t.JobNodeList, len(jobNodes)))
	}

	if len(r.errs) > 0 {
		return Task{}, fmt.Errorf("read Slurm task environment: %w", errors.Join(r.errs...))
	}
	return t, nil
}

// RestartCount reads SLURM_RESTART_COUNT as the batch step sees it: 0 when
// the job was never requeued (Slurm sets it only after a requeue).
func RestartCount(lookup func(string) (string, bool)) (int, error) {
	v, ok := lookup(envRestartCount)
	if !ok {
		return 0, nil
	}
	r := envReader{lookup: lookup}
	n := r.parse(envRestartCount, v, 0)
	return n, errors.Join(r.errs...)
}

// Environ returns the SLURM_* entries ("NAME=value") that describe t, the
// inverse of FromEnv: the local simulation starts each task with them.
// Besides the variables FromEnv reads it sets SLURM_STEP_NUM_NODES (the
// number of names in StepNodeList; left out when that list does not
// expand), which srun sets as well. SLURM_RESTART_COUNT is only set when
// RestartCount > 0, as Slurm only sets it after a requeue.
func (t Task) Environ() []string {
	itoa := strconv.Itoa
	env := []string{
		envJobID + "=" + t.JobID,
		envStepID + "=" + t.StepID,
		envProcID + "=" + itoa(t.ProcID),
		envLocalID + "=" + itoa(t.LocalID),
		envNodeID + "=" + itoa(t.NodeID),
		envNodeName + "=" + t.NodeName,
		envJobNodeList + "=" + t.JobNodeList,
		envStepNodeList + "=" + t.StepNodeList,
		envNTasks + "=" + itoa(t.NTasks),
		envStepNumTasks + "=" + itoa(t.NTasks),
		envJobNumNodes + "=" + itoa(t.JobNumNodes),
	}
	if nodes, err := Expand(t.StepNodeList); err == nil {
		env = append(env, envStepNumNodes+"="+itoa(len(nodes)))
	}
	if t.RestartCount > 0 {
		env = append(env, envRestartCount+"="+itoa(t.RestartCount))
	}
	return env
}

// envReader reads variables and collects every problem, so that one run
// shows all that is wrong with an environment instead of the first thing.
type envReader struct {
	lookup func(string) (string, bool)
	errs   []error
	bad    map[string]bool // variables already reported
}

func (r *envReader) fail(err error) { r.errs = append(r.errs, err) }

func (r *envReader) failVar(name string, err error) {
	if r.bad == nil {
		r.bad = map[string]bool{}
	}
	r.bad[name] = true
	r.fail(err)
}

// ok reports whether name was read without a problem.
func (r *envReader) ok(name string) bool { return !r.bad[name] }

func (r *envReader) present(name string) bool {
	_, ok := r.lookup(name)
	return ok
}

// get returns the value of a required variable.
func (r *envReader) get(name string) (string, bool) {
	v, ok := r.lookup(name)
	if !ok {
		r.failVar(name, fmt.Errorf("%s is not set; srun sets it for every task", name))
	}
	return v, ok
}

func (r *envReader) nonEmpty(name string) string {
	v, ok := r.get(name)
	if ok && v == "" {
		r.failVar(name, fmt.Errorf("%s=%q: must not be empty", name, v))
	}
	return v
}

// id reads a job or step id: Slurm's ids are decimal numbers, and they end
// up in file and lock names, so nothing else is let through.
func (r *envReader) id(name string) string {
	v, ok := r.get(name)
	if ok && !isDigits(v) {
		r.failVar(name, fmt.Errorf("%s=%q: not a decimal id", name, v))
	}
	return v
}

func (r *envReader) nonNegative(name string) int {
	v, ok := r.get(name)
	if !ok {
		return 0
	}
	return r.parse(name, v, 0)
}

func (r *envReader) positive(name string) int {
	v, ok := r.get(name)
	if !ok {
		return 0
	}
	return r.parse(name, v, 1)
}

// optionalPositive reads a variable that may be unset; ok is true only when
// it is set and valid.
func (r *envReader) optionalPositive(name string) (int, bool) {
	v, set := r.lookup(name)
	if !set {
		return 0, false
	}
	n := r.parse(name, v, 1)
	return n, r.ok(name)
}

// parse reads a decimal integer no smaller than least (0 or 1). Only plain
// digits are accepted: strconv.Atoi would also take "+3", and a value Slurm
// never writes is better reported than guessed at.
func (r *envReader) parse(name, v string, least int) int {
	what := "a non-negative integer"
	if least > 0 {
		what = "a positive integer"
	}
	n, err := strconv.Atoi(v)
	if !isDigits(v) || err != nil || n < least {
		r.failVar(name, fmt.Errorf("%s=%q: not %s", name, v, what))
		return 0
	}
	return n
}

// nodes expands a node list that was read without a problem; nil otherwise.
func (r *envReader) nodes(name, expr string) []string {
	if !r.ok(name) { // missing or empty: already reported
		return nil
	}
	nodes, err := Expand(expr)
	if err != nil {
		r.failVar(name, fmt.Errorf("%s: %w", name, err))
		return nil
	}
	return nodes
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
