package job

import (
	"testing"

	"github.com/noderun/noderun/internal/workspace"
)

// A job writes into a workspace only when the workspace is its own: no
// owner record yet (the job started before submit wrote it), or the record
// of its own submission and job id.
func TestOwnsWorkspace(t *testing.T) {
	tests := []struct {
		name  string
		owner *workspace.Owner // nil: no record
		ok    bool
	}{
		{"no record yet", nil, true},
		{"its own", &workspace.Owner{JobID: "42", SubmissionID: "s1"}, true},
		{"another submission", &workspace.Owner{JobID: "43", SubmissionID: "s2"}, false},
		// Job ids restart after a controller reset: the same number in
		// another submission is another job.
		{"same id, another submission", &workspace.Owner{JobID: "42", SubmissionID: "s2"}, false},
		{"its submission, another job", &workspace.Owner{JobID: "41", SubmissionID: "s1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := workspace.New(t.TempDir())
			if tt.owner != nil {
				if err := ws.SaveOwner(tt.owner); err != nil {
					t.Fatal(err)
				}
			}
			if err := ownsWorkspace(ws, "s1", "42"); (err == nil) != tt.ok {
				t.Errorf("ownsWorkspace = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
