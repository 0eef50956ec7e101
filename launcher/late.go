package launcher

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/noderun/noderun/internal/jobreport"
	"github.com/noderun/noderun/internal/junitmerge"
	"github.com/noderun/noderun/internal/workspace"
)

// mergeLate merges again, with the job's own result, when task records or
// junit files landed after the job merged (after scancel at scale runners
// may record their ends after the batch step's budget ran out), or when
// it showed tasks still stopping, which Slurm has killed since. The
// outcome and root cause stay the job's; results.xml, the summary and the
// report then show every task as it ended. It returns how many files
// were late.
func (l *Launcher) mergeLate(p *Prepared, res *workspace.JobResult) int {
	ws := p.Workspace
	merged, err := os.Stat(ws.Results())
	if err != nil {
		return 0 // the job merged nothing: the result is the follower's to explain
	}
	late := newerFiles(ws.TasksDir(), merged.ModTime()) + newerFiles(ws.ResultsDir(), merged.ModTime())
	if late == 0 && !stillStopping(ws) {
		return 0
	}
	doc, rep := junitmerge.BuildWorkspace(ws, junitmerge.Options{Spec: p.Spec, Result: res, JobEnded: true, Log: l.o.Log})
	if err := jobreport.Write(ws, doc, rep); err != nil {
		l.o.Log.Warn().Err(err).Int("files", late).Msg("could not merge the task records and junit files that landed after the job merged")
		return 0
	}
	l.o.Log.Info().Int("files", late).Str("results", ws.Results()).Msg("merged task records and junit files that landed after the job merged")
	return late
}

// stillStopping reports whether the job's results.xml shows a task still
// stopping: once the job ended, it was killed, and the results should say so.
func stillStopping(ws workspace.Layout) bool {
	b, err := os.ReadFile(ws.Results())
	return err == nil && bytes.Contains(b, []byte(`type="`+junitmerge.TypeStillStopping+`"`))
}

// newerFiles counts the regular files under dir changed after t.
func newerFiles(dir string, t time.Time) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().After(t) {
			n++
		}
		return nil
	})
	return n
}
