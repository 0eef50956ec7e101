package e2e

import (
	"strconv"
	"strings"

	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// checkPassedTask checks a task that ran its test to a pass: the record
// shows a clean exit, its suite holds the test id's one passing testcase.
func (j *labJob) checkPassedTask(spec *jobspec.Spec, k taskKey, rec *workspace.TaskRecord, r *results) {
	j.t.Helper()
	if rec != nil && (rec.State != workspace.StateExited || rec.ExitCode != 0 || rec.Stopped || rec.TimedOut) {
		j.t.Errorf("task %s: record state=%s exit=%d stopped=%v timed_out=%v, want a clean exit 0",
			k, rec.State, rec.ExitCode, rec.Stopped, rec.TimedOut)
	}
	s := r.byTask[k]
	if s == nil {
		return
	}
	// pytest names the testcase by the part after "::": test_e2e[...].
	_, want, _ := strings.Cut(spec.Job.TestID, "::")
	if c := s.counts(); c != (counts{tests: 1}) || s.Cases[0].Name != want {
		j.t.Errorf("task %s: suite %s has %+v, want the one passing testcase %s", k, s.Name, c, want)
	}
}

// checkView checks what a task saw against its record and the env contract
// (docs/ARCHITECTURE.md "Roles and steps"): workers of a multi-node job keep Slurm's variables (MPI needs
// them), the server and the benchmark see none but SLURM_PROCID; the GPUs
// the child saw are the ones the record names.
func (j *labJob) checkView(spec *jobspec.Spec, st *jobspec.Step, k taskKey, rec *workspace.TaskRecord) {
	j.t.Helper()
	v := j.view(k)
	if v == nil || rec == nil {
		return
	}
	if len(v.Violations) > 0 {
		j.t.Errorf("task %s: the example test found the env contract broken: %q", k, v.Violations)
	}
	if v.Role != k.role || v.Rank != k.rank {
		j.t.Errorf("task %s: the test saw itself as %s rank %d", k, v.Role, v.Rank)
	}
	if deref(v.Node) != rec.Node {
		j.t.Errorf("task %s: the test ran on node %s, the record says %s", k, deref(v.Node), rec.Node)
	}
	if deref(v.SlurmProcID) != strconv.Itoa(k.rank) {
		j.t.Errorf("task %s: SLURM_PROCID=%s, want %d", k, deref(v.SlurmProcID), k.rank)
	}
	if st.Kind == jobspec.KindWorker && spec.Nodes > 1 {
		if deref(v.SlurmdNodename) != rec.Node {
			j.t.Errorf("task %s: worker saw SLURMD_NODENAME=%s, want %s", k, deref(v.SlurmdNodename), rec.Node)
		}
		if want := strconv.Itoa(k.rank % st.TasksPerNode); deref(v.SlurmLocalID) != want {
			j.t.Errorf("task %s: worker saw SLURM_LOCALID=%s, want %s", k, deref(v.SlurmLocalID), want)
		}
	} else if v.SlurmdNodename != nil || v.SlurmLocalID != nil {
		j.t.Errorf("task %s (%s): saw SLURMD_NODENAME=%s SLURM_LOCALID=%s, want Slurm's variables removed",
			k, st.Kind, deref(v.SlurmdNodename), deref(v.SlurmLocalID))
	}
	switch st.GPUMode {
	case jobspec.GPUModeNode:
		// Each task sees its node's GPUs of the job (gpus_per_node).
		if len(rec.GPUs) != spec.GPU.PerNode || deref(v.CUDAVisible) != strings.Join(rec.GPUs, ",") {
			j.t.Errorf("task %s: record GPUs %q, the child saw CUDA_VISIBLE_DEVICES=%s; want the node's %d GPUs in both",
				k, rec.GPUs, deref(v.CUDAVisible), spec.GPU.PerNode)
		}
	case jobspec.GPUModeNone:
		if len(rec.GPUs) != 0 || deref(v.CUDAVisible) != "" || !oneOf(deref(v.NvidiaVisible), "none", "void") {
			j.t.Errorf("task %s: record GPUs %q, the child saw CUDA_VISIBLE_DEVICES=%s NVIDIA_VISIBLE_DEVICES=%s; want no GPU",
				k, rec.GPUs, deref(v.CUDAVisible), deref(v.NvidiaVisible))
		}
	}
}

func oneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// checkStoppedTask checks a task that the job's end cut short (scancel, time
// limit, or another role's failure): its runner recorded that it was asked
// to stop, and its suite carries an error that says so.
func (j *labJob) checkStoppedTask(k taskKey, rec *workspace.TaskRecord, r *results) {
	j.t.Helper()
	if rec != nil && !rec.Stopped {
		j.t.Errorf("task %s: record state=%s exit=%d stopped=false, want stopped=true (the job stopped it)", k, rec.State, rec.ExitCode)
	}
	probs := r.problems(k)
	if len(probs) == 0 {
		j.t.Errorf("task %s: no failure or error in its suite, want the stop", k)
	}
	for _, p := range probs {
		if strings.Contains(p.Message, "runner died") {
			j.t.Errorf("task %s: %s", k, p.Message)
		}
	}
}
