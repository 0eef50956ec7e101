package launcher

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/workspace"
)

// claimScheduler looks at the workspace's owner while sbatch "runs".
type claimScheduler struct {
	*fakeScheduler
	during func()
}

func (s *claimScheduler) Submit(ctx context.Context, script string) (string, error) {
	s.during()
	return s.fakeScheduler.Submit(ctx, script)
}

// The workspace is claimed before it is written and while sbatch runs; the
// claim stays when a job runs or may run, and goes when none was submitted.
func TestSubmitClaimsWorkspace(t *testing.T) {
	for _, tc := range []struct {
		name      string
		submitErr error
		wantOwner string // job id in owner.json afterwards; "-" for none
	}{
		// Why: the job id joins the claim once sbatch has answered.
		{"submitted", nil, "42"},
		// Why: a refused job leaves the workspace free for the next submit.
		{"refused", errors.New("sbatch refused the job: Invalid account"), "-"},
		// Why: a job that may run keeps the workspace, so that it is not cleared under it.
		{"unknown", ErrSubmitUnknown, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ws := workspace.New(f.path("ws"))
			fs := &fakeScheduler{id: "42", submitErr: tc.submitErr}
			f.sched = &claimScheduler{fakeScheduler: fs, during: func() {
				o, err := ws.LoadOwner()
				if err != nil || o.JobID != "" || o.SubmissionID != "feedc0defeedc0de" || o.PID != os.Getpid() {
					t.Errorf("owner while sbatch runs: %+v, %v; want this submit's claim", o, err)
				}
			}}
			err := f.run("--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml"))
			if (err == nil) != (tc.submitErr == nil) {
				t.Fatalf("submit: %v", err)
			}
			o, err := ws.LoadOwner()
			switch {
			case tc.wantOwner == "-":
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("owner %+v, %v; want none", o, err)
				}
			case err != nil || o.JobID != tc.wantOwner:
				t.Errorf("owner %+v, %v; want job id %q", o, err, tc.wantOwner)
			}
		})
	}
}

// A submit that finds the workspace claimed by another one that waits for
// sbatch is refused (exit 2), naming it, and touches nothing.
func TestSubmitIntoClaimedWorkspace(t *testing.T) {
	f := newFixture(t)
	ws := workspace.New(f.path("ws"))
	writeFile(t, ws.Spec(), "theirs", 0o644)
	if err := ws.ClaimOwner(&workspace.Owner{SubmissionID: "0123456789abcdef", Host: "login1", PID: 4711}); err != nil {
		t.Fatal(err)
	}
	err := f.run("--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml"))
	if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "claimed by submission 0123456789abcdef (process 4711 on login1") {
		t.Fatalf("submit: %v (exit %d), want exit 2 naming the claim", err, exitcode.Of(err))
	}
	if b, _ := os.ReadFile(ws.Spec()); string(b) != "theirs" {
		t.Errorf("job.json rewritten: %q", b)
	}
	if o, err := ws.LoadOwner(); err != nil || o.SubmissionID != "0123456789abcdef" {
		t.Errorf("owner %+v, %v; want the other claim kept", o, err)
	}
	if s := f.sched.(*fakeScheduler); len(s.submitted) != 0 {
		t.Errorf("submitted %q", s.submitted)
	}
}
