package noderun

import (
	"testing"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/workspace"
)

func TestDecideOutcome(t *testing.T) {
	failed := &workspace.TaskRecord{Role: "GEN_0", State: workspace.StateExited, ExitCode: 3}
	setup := &workspace.TaskRecord{Role: "GEN_0", State: workspace.StateFailedToStart, ExitCode: exitcode.SetupFailed}
	precheck := &workspace.TaskRecord{Role: "GEN_0", State: workspace.StateFailedToStart, ExitCode: exitcode.GPUPrecheck}
	fence := &workspace.TaskRecord{Role: "GEN_0", State: workspace.StateFailedToStart, ExitCode: exitcode.FenceTimeout}
	tests := []struct {
		name  string
		facts outcomeFacts
		want  string
	}{
		{"nothing failed", outcomeFacts{}, workspace.OutcomePassed},
		// Why: a step may pass while its tests fail (pytest exit 0 with xfail strict, a lost file).
		{"tests failed", outcomeFacts{testsFailed: true}, workspace.OutcomeFailed},
		{"a task failed", outcomeFacts{cause: failed, stepsFailed: true}, workspace.OutcomeFailed},
		{"setup failed", outcomeFacts{cause: setup}, workspace.OutcomeSetupFailed},
		{"precheck failed", outcomeFacts{cause: precheck}, workspace.OutcomePrecheckFailed},
		// Why: a task that never ran its child for another reason could not start.
		{"fence timeout", outcomeFacts{cause: fence}, workspace.OutcomeStartFailed},
		// Why: the stop of a cancelled job fails every step; that is no failure of its own.
		{"cancelled", outcomeFacts{stop: workspace.OutcomeCancelled, stepsFailed: true, testsFailed: true}, workspace.OutcomeCancelled},
		{"timeout", outcomeFacts{stop: workspace.OutcomeTimeout, testsFailed: true}, workspace.OutcomeTimeout},
		// Why: a task that failed on its own before the cancel is the story.
		{"failure before the cancel", outcomeFacts{stop: workspace.OutcomeCancelled, cause: failed}, workspace.OutcomeFailed},
		// Why: a lost node makes tasks on other nodes fail (NCCL); the node is the cause.
		{"node failure", outcomeFacts{stop: workspace.OutcomeNodeFailure, cause: failed}, workspace.OutcomeNodeFailure},
		{"start failure", outcomeFacts{stop: workspace.OutcomeStartFailed, stepsFailed: true}, workspace.OutcomeStartFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := decideOutcome(tc.facts); got != tc.want {
				t.Errorf("decideOutcome = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestSlurmJobEnd(t *testing.T) {
	tests := []struct{ squeue, want string }{
		{"TIMEOUT|TimeLimit|0:00", workspace.OutcomeTimeout},
		// Why: while the job completes, squeue shows COMPLETING, not TIMEOUT.
		{"COMPLETING|TimeLimit|0:00", workspace.OutcomeTimeout},
		{"COMPLETING|None|0:00\n", workspace.OutcomeTimeout},
		{"COMPLETING|None|4:31", workspace.OutcomeCancelled},
		{"CANCELLED|None|4:31", workspace.OutcomeCancelled},
		// Why: preemption stops the job from outside, as scancel does.
		{"PREEMPTED|None|4:31", workspace.OutcomeCancelled},
		{"NODE_FAIL|NodeDown|3:00", workspace.OutcomeNodeFailure},
		{"COMPLETING|NodeDown|3:00", workspace.OutcomeNodeFailure},
		{"RUNNING|None|3:00", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := slurmJobEnd(tc.squeue); got != tc.want {
			t.Errorf("slurmJobEnd(%q) = %q, want %q", tc.squeue, got, tc.want)
		}
	}
}

func TestTaskStatusGPUFault(t *testing.T) {
	faulted := &workspace.GPUSummary{Faults: []string{"XID 79 on GPU 0 (GPU-0)"}}
	for _, tc := range []struct {
		name   string
		rec    workspace.TaskRecord
		faults string
		want   string
	}{
		// The runner failed a passing task for the fault.
		{"fail", workspace.TaskRecord{State: workspace.StateExited, ExitCode: exitcode.GPUFault, GPU: faulted}, "fail",
			"failed by a GPU fault, XID 79 on GPU 0 (GPU-0), with --gpu-faults fail (exit status 77)"},
		// Under warn a 77 is the child's own status, whatever the GPUs did.
		{"warn", workspace.TaskRecord{State: workspace.StateExited, ExitCode: exitcode.GPUFault, GPU: faulted}, "warn",
			"exited with status 77"},
		// The default is warn.
		{"default", workspace.TaskRecord{State: workspace.StateExited, ExitCode: exitcode.GPUFault, GPU: faulted}, "",
			"exited with status 77"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := taskStatus(&tc.rec, tc.faults); got != tc.want {
				t.Errorf("taskStatus = %q, want %q", got, tc.want)
			}
		})
	}
}
