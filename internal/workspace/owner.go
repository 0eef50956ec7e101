package workspace

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/noderun/noderun/internal/atomicfile"
)

// Owner is WS/.noderun/owner.json: the one job a workspace belongs to.
// Submit claims it before it writes anything (without a job id), and adds
// the job id as soon as sbatch returns, so that status, logs, cancel and
// wait find the job, and a second submit into the same workspace is refused
// while this one is submitted, pends or runs.
type Owner struct {
	// JobID is empty while the submit that claimed the workspace waits for sbatch.
	JobID string `json:"job_id"`
	// SubmissionID is a random id of this submit; job ids restart after a
	// controller reset, this does not.
	SubmissionID string    `json:"submission_id"`
	Host         string    `json:"host"`
	Submitted    time.Time `json:"submitted"`
	// Local is set for `submit --local`. PID is the submitting process,
	// which for a local job runs the whole job.
	Local bool `json:"local,omitempty"`
	PID   int  `json:"pid,omitempty"`
}

// ErrOwnerChanged means owner.json no longer held the owner a caller meant
// to remove: another submit claimed the workspace meanwhile.
var ErrOwnerChanged = errors.New("the workspace was claimed by another submit meanwhile")

// Owner is WS/.noderun/owner.json.
func (l Layout) Owner() string { return l.path(ownerFile) }

// ClaimOwner makes o the workspace's owner unless it has one: of two
// submits that claim at once, exactly one wins; the other gets an error
// wrapping os.ErrExist. The record is written whole to a temp file and
// hard-linked into place, which, like O_EXCL, fails when the name exists
// (also on NFS), and no reader ever sees it half written.
func (l Layout) ClaimOwner(o *Owner) error {
	if err := os.MkdirAll(l.StateDir(), 0o755); err != nil {
		return fmt.Errorf("claim the workspace: %w", err)
	}
	tmp := l.Owner() + ".claim-" + strconv.Itoa(os.Getpid()) + "-" + o.SubmissionID
	if err := writeOwner(tmp, o); err != nil {
		return fmt.Errorf("claim the workspace: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, l.Owner()); err != nil {
		return fmt.Errorf("claim the workspace: %w", err)
	}
	return nil
}

// SaveOwner rewrites WS/.noderun/owner.json atomically, e.g. to add the
// job id to a claim.
func (l Layout) SaveOwner(o *Owner) error {
	if err := os.MkdirAll(l.StateDir(), 0o755); err != nil {
		return fmt.Errorf("record the workspace's job: %w", err)
	}
	if err := atomicfile.Write(l.Owner(), 0o644, func(w io.Writer) error { return encodeOwner(w, o) }); err != nil {
		return fmt.Errorf("record the workspace's job: %w", err)
	}
	return nil
}

// RemoveOwner removes owner.json if it still holds o (same submission and
// job), and returns ErrOwnerChanged, leaving the file, if another submit
// claimed the workspace since o was read. The file is first renamed away,
// so that it is never a newer claim that is removed.
func (l Layout) RemoveOwner(o *Owner) error {
	aside := l.Owner() + ".removed-" + strconv.Itoa(os.Getpid())
	if err := os.Rename(l.Owner(), aside); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("release the workspace: %w", err)
	}
	defer os.Remove(aside)
	got, err := loadOwner(aside)
	if err == nil && (got.SubmissionID != o.SubmissionID || got.JobID != o.JobID) {
		// Put the newer claim back; if a third one came meanwhile, it owns.
		if err := os.Link(aside, l.Owner()); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("restore %s (left as %s): %w", l.Owner(), filepath.Base(aside), err)
		}
		return ErrOwnerChanged
	}
	return nil
}

// LoadOwner reads WS/.noderun/owner.json; os.ErrNotExist when no job was
// submitted into the workspace (or it was by a noderun older than the record).
func (l Layout) LoadOwner() (*Owner, error) { return loadOwner(l.Owner()) }

func loadOwner(path string) (*Owner, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var o Owner
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return &o, nil
}

func writeOwner(path string, o *Owner) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := encodeOwner(f, o); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

func encodeOwner(w io.Writer, o *Owner) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(o)
}
