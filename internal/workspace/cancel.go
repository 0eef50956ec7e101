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
	By   string    `json:"by"`
	Why  string    `json:"why"`
	Time time.Time `json:"time"`
}

// CancelNote is WS/.noderun/cancel.json.
func (l Layout) CancelNote() string { return l.path(cancelNote) }

// String says who cancelled and why: "root@vm (noderun cancel)".
func (n *CancelNote) String() string { return fmt.Sprintf("%s (%s)", n.By, n.Why) }

// WriteCancelNote records that this process, run by this user on this
// host, cancels the job, and why.
func (l Layout) WriteCancelNote(why string) error {
	name := "uid " + fmt.Sprint(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	n := CancelNote{By: name + "@" + host, Why: why, Time: time.Now().UTC()}
	return atomicfile.Write(l.CancelNote(), 0o644, func(w io.Writer) error { return json.NewEncoder(w).Encode(n) })
}

// LoadCancelNote reads the cancel note written at or after since; nil when
// there is none that recent (an earlier job's).
func (l Layout) LoadCancelNote(since time.Time) *CancelNote {
	b, err := os.ReadFile(l.CancelNote())
	if err != nil {
		return nil
	}
	var n CancelNote
	if json.Unmarshal(b, &n) != nil || n.Time.Before(since) {
		return nil
	}
	return &n
}
