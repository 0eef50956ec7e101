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
