package workspace

import (
	"fmt"
	"os"
	"strings"
)

// ClearOutputs removes what an earlier job left in the workspace, so that a
// new job's follower never reads a stale verdict, and returns the paths it
// removed. It removes the outputs and state at the top of the workspace,
// with these exceptions: inputs, which submit writes anew; entries named
// after their job (slurm-<job>.out), which never pass for another job's;
// and Common names, which go only when job.json shows an earlier noderun
// job, since a directory of that name may otherwise be someone else's.
func (l Layout) ClearOutputs() (removed []string, err error) {
	_, err = os.Stat(l.Spec())
	earlierJob := err == nil
	for _, e := range entries {
		if !clearable(e, earlierJob) {
			continue
		}
		p := l.path(e)
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return removed, fmt.Errorf("remove output of an earlier job: %w", err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}

// clearable reports whether ClearOutputs removes e.
func clearable(e Entry, earlierJob bool) bool {
	top := !strings.ContainsAny(e.Path, "/<")
	return top && e.Kind != KindInput && (!e.Common || earlierJob)
}
