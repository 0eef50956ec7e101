package workspace

import (
	"fmt"
	"testing"
	"time"
)

func TestFirstFailure(t *testing.T) {
	t0 := time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	exited := func(role string, rank, code, end int) *TaskRecord {
		return &TaskRecord{Role: role, Rank: rank, State: StateExited, ExitCode: code, Start: t0, End: at(end)}
	}
	stoppedBy := func(r *TaskRecord, sig string, code int) *TaskRecord {
		r.State, r.Signal, r.ExitCode, r.Stopped = StateSignaled, sig, code, true
		return r
	}
	tests := []struct {
		name   string
		recs   []*TaskRecord
		before time.Time
		want   string // "role/rank", "" for none
	}{
		{
			// Why: the case. srun ends rank 0 with SIGTERM (143) when
			// rank 1 exits 3; even when rank 0's record ends first, it was
			// stopped and is not the cause.
			name: "the 143 from srun stopping other ranks is not the cause",
			recs: []*TaskRecord{stoppedBy(exited("GEN_0", 0, 0, 4), "SIGTERM", 143), exited("GEN_0", 1, 3, 5)},
			want: "GEN_0/1",
		},
		{
			// Why: failures are listed in role order elsewhere; the cause is
			// the first by end time, whatever its role.
			name: "first by end time, not role order",
			recs: []*TaskRecord{exited("BENCHMARK", 0, 1, 20), exited("CTX_0", 0, 2, 9), exited("GEN_0", 0, 3, 12)},
			want: "CTX_0/0",
		},
		{
			// Why: a runner that died left no end to order by.
			name: "a record left running is no cause",
			recs: []*TaskRecord{{Role: "GEN_0", Rank: 0, State: StateRunning, Start: t0}, exited("CTX_0", 0, 1, 30)},
			want: "CTX_0/0",
		},
		{
			// Why: a task the step timeout stopped failed on its own.
			name: "a step timeout is a cause",
			recs: []*TaskRecord{{Role: "GEN_0", Rank: 0, State: StateTimedOut, TimedOut: true, ExitCode: 124, Start: t0, End: at(7)}},
			want: "GEN_0/0",
		},
		{
			// Why: once Slurm signals every task (scancel, time limit), how
			// each ends says nothing of the job.
			name:   "tasks that ended after the job's stop are left out",
			recs:   []*TaskRecord{exited("GEN_0", 0, 1, 50)},
			before: at(40),
			want:   "",
		},
		{
			name: "passed and stopped tasks give none",
			recs: []*TaskRecord{exited("GEN_0", 0, 0, 5), stoppedBy(exited("CTX_0", 0, 0, 6), "SIGINT", 130)},
			want: "",
		},
		{
			// Why: a tie is broken the same way every time.
			name: "a tie goes to role, then rank",
			recs: []*TaskRecord{exited("GEN_0", 1, 1, 5), exited("GEN_0", 0, 1, 5)},
			want: "GEN_0/0",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if r := FirstFailure(tc.recs, tc.before); r != nil {
				got = fmt.Sprintf("%s/%d", r.Role, r.Rank)
			}
			if got != tc.want {
				t.Errorf("FirstFailure = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOutcomeExitCode(t *testing.T) {
	// Why: README's table is the contract; every outcome has its own code
	// and none is 2 (usage) or a code `run` uses.
	seen := map[int]string{}
	for _, o := range []string{OutcomePassed, OutcomeFailed, OutcomeTimeout, OutcomeCancelled, OutcomeNodeFailure,
		OutcomeSetupFailed, OutcomePrecheckFailed, OutcomeStartFailed} {
		c := OutcomeExitCode(o)
		if prev, ok := seen[c]; ok {
			t.Errorf("%s and %s share exit status %d", o, prev, c)
		}
		seen[c] = o
		if c == 2 || c >= 70 && c <= 75 || c >= 124 {
			t.Errorf("%s: exit status %d clashes with another meaning", o, c)
		}
	}
	if OutcomeExitCode(OutcomePassed) != 0 || OutcomeExitCode(OutcomeFailed) != 1 || OutcomeExitCode("bogus") != 1 {
		t.Error("passed must be 0, failed and unknown outcomes 1")
	}
}
