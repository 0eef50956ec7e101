package workspace

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/noderun/noderun/internal/atomicfile"
)

// Owner is WS/.noderun/owner.json: the one job a workspace belongs to.
// Submit writes it as soon as sbatch returns (before the job runs), so that
// status, logs, cancel and wait find the job, and a second submit into the
// same workspace can be refused while this one pends or runs.
type Owner struct {
	JobID string `json:"job_id"`
	// SubmissionID is a random id of this submit; job ids restart after a
	// controller reset, this does not.
	SubmissionID string    `json:"submission_id"`
	Host         string    `json:"host"`
	Submitted    time.Time `json:"submitted"`
	// Local is set for `submit --local`; PID is then the submitting process,
	// which runs the whole job.
	Local bool `json:"local,omitempty"`
	PID   int  `json:"pid,omitempty"`
}

// Owner is WS/.noderun/owner.json.
func (l Layout) Owner() string { return l.path(ownerFile) }

// SaveOwner writes WS/.noderun/owner.json atomically.
func (l Layout) SaveOwner(o *Owner) error {
	if err := os.MkdirAll(l.StateDir(), 0o755); err != nil {
		return fmt.Errorf("record the workspace's job: %w", err)
	}
	if err := atomicfile.Write(l.Owner(), 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(o)
	}); err != nil {
		return fmt.Errorf("record the workspace's job: %w", err)
	}
	return nil
}

// LoadOwner reads WS/.noderun/owner.json; os.ErrNotExist when no job was
// submitted into the workspace (or it was by a noderun older than the record).
func (l Layout) LoadOwner() (*Owner, error) {
	b, err := os.ReadFile(l.Owner())
	if err != nil {
		return nil, err
	}
	var o Owner
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("read %s: %w", l.Owner(), err)
	}
	return &o, nil
}
