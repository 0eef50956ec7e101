package workspace

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/noderun/noderun/internal/atomicfile"
)

// CancelNote is WS/.noderun/cancel.json: who cancelled the job through
// noderun. Slurm 22.05 tells a job nobody who ran scancel (not the batch
// step's signal, not scontrol show job; sacct only with accounting), so the
// follower writes this before it runs scancel and the result names it.
type CancelNote struct {
	// JobID is the job cancelled: a note never names the canceller of another.
	JobID string    `json:"job_id"`
	By    string    `json:"by"`
	Why   string    `json:"why"`
	Time  time.Time `json:"time"`
}

// CancelNote is WS/.noderun/cancel.json.
func (l Layout) CancelNote() string { return l.path(cancelNote) }

// String says who cancelled and why: "root@vm (noderun cancel)".
func (n *CancelNote) String() string { return fmt.Sprintf("%s (%s)", n.By, n.Why) }

// WriteCancelNote records that this process, run by this user on this
// host, cancels job jobID, and why.
func (l Layout) WriteCancelNote(jobID, why string) error {
	name := "uid " + fmt.Sprint(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	n := CancelNote{JobID: jobID, By: name + "@" + host, Why: why, Time: time.Now().UTC()}
	return atomicfile.Write(l.CancelNote(), 0o644, func(w io.Writer) error { return json.NewEncoder(w).Encode(n) })
}

// RemoveCancelNote takes back the note of a cancel that did not happen
// (scancel failed), so that a later cancel by someone else is not put on
// this one's account.
func (l Layout) RemoveCancelNote() error {
	if err := os.Remove(l.CancelNote()); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// LoadCancelNote reads the note of job jobID's cancel written at or after
// since; nil when there is none (another job's, an earlier one's).
func (l Layout) LoadCancelNote(jobID string, since time.Time) *CancelNote {
	b, err := os.ReadFile(l.CancelNote())
	if err != nil {
		return nil
	}
	var n CancelNote
	if json.Unmarshal(b, &n) != nil || n.JobID != jobID || n.Time.Before(since) {
		return nil
	}
	return &n
}
