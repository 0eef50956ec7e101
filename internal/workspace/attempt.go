package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Attempt is one run of a submission. A requeued job keeps its id and job
// ids repeat after a controller reset, so neither alone tells two runs
// apart: stop requests, the fence, setup state, task records, results and
// logs all belong to one attempt.
type Attempt struct {
	// Submission is job.json's submission id; empty in a spec written
	// before submission ids.
	Submission string
	JobID      string
	// Restart is SLURM_RESTART_COUNT: 0 for the first run.
	Restart int
}

// Key names the attempt in paths: <job>.<submission>.<restart>.
func (a Attempt) Key() string {
	parts := []string{pathSafe(a.JobID)}
	if a.Submission != "" {
		parts = append(parts, pathSafe(a.Submission))
	}
	return strings.Join(append(parts, strconv.Itoa(a.Restart)), ".")
}

// Owns reports whether rec was written in this attempt. A record without a
// submission id comes from a noderun before them and is judged by job id
// and restart count alone.
func (a Attempt) Owns(rec *TaskRecord) bool {
	return rec.Attempt == a.Restart &&
		(rec.Submission == "" || a.Submission == "" || rec.Submission == a.Submission) &&
		(rec.JobID == "" || a.JobID == "" || rec.JobID == a.JobID)
}

// pathSafe keeps s to the characters a path part may hold without surprise.
func pathSafe(s string) string {
	if s == "" {
		return "none"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// AttemptSummary is an earlier attempt as job-result.json lists it.
type AttemptSummary struct {
	Attempt    int    `json:"attempt"`
	JobID      string `json:"job_id,omitempty"`
	Submission string `json:"submission_id,omitempty"`
	// Outcome is empty when the attempt ended without writing its result.
	Outcome string    `json:"outcome,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Start   time.Time `json:"start,omitzero"`
	End     time.Time `json:"end,omitzero"`
	// Dir holds its task records, results and logs, relative to the workspace.
	Dir string `json:"dir"`
}

// attemptOutputs are what one attempt writes for itself: they move with it
// when a later attempt starts.
var attemptOutputs = []Entry{tasksDir, resultsDir, logsDir, results, summary, jobResult}

// ArchiveEarlier moves what another attempt left in the workspace (task
// records, per-task results and logs, the merged results and its
// job-result.json) under AttemptDir, so that nothing of it is merged into
// cur or taken for its output. It returns the archive, or "" when the
// workspace held nothing of another attempt.
func (l Layout) ArchiveEarlier(cur Attempt) (string, error) {
	prev, ok := attemptIn(l)
	if !ok || prev == cur {
		return "", nil
	}
	dir := l.AttemptDir(prev.Key())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("keep the outputs of attempt %d: %w", prev.Restart, err)
	}
	for _, e := range attemptOutputs {
		from := l.path(e)
		if _, err := os.Lstat(from); err != nil {
			continue
		}
		to := filepath.Join(dir, filepath.FromSlash(e.Path))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return "", fmt.Errorf("keep the outputs of attempt %d: %w", prev.Restart, err)
		}
		if err := os.Rename(from, to); err != nil {
			return "", fmt.Errorf("keep the outputs of attempt %d: %w", prev.Restart, err)
		}
	}
	return dir, nil
}

// attemptIn names the attempt whose outputs the workspace tree at l holds:
// the one its job-result.json names, else the one of its first task record.
func attemptIn(l Layout) (Attempt, bool) {
	if r, err := l.LoadJobResult(); err == nil {
		return Attempt{Submission: r.Submission, JobID: r.JobID, Restart: r.Attempt}, true
	}
	recs, _ := l.TaskRecords()
	if len(recs) == 0 {
		return Attempt{}, false
	}
	return Attempt{Submission: recs[0].Submission, JobID: recs[0].JobID, Restart: recs[0].Attempt}, true
}

// Attempts lists the earlier attempts kept in the workspace, oldest first.
func (l Layout) Attempts() ([]AttemptSummary, error) {
	root := filepath.Dir(l.AttemptDir("x"))
	dirs, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list earlier attempts: %w", err)
	}
	var out []AttemptSummary
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		kept := New(filepath.Join(root, d.Name()))
		a, ok := attemptIn(kept)
		if !ok {
			continue
		}
		s := AttemptSummary{Attempt: a.Restart, JobID: a.JobID, Submission: a.Submission, Dir: l.Rel(kept.Dir)}
		if r, err := kept.LoadJobResult(); err == nil {
			s.Outcome, s.Reason, s.Start, s.End = r.Outcome, r.Reason, r.Start, r.End
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Attempt != out[j].Attempt {
			return out[i].Attempt < out[j].Attempt
		}
		return out[i].Dir < out[j].Dir
	})
	return out, nil
}
