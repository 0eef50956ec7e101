package workspace

import (
	"fmt"
	"os"
	"strings"
)

// ClearOutputs removes the outputs and state an earlier job left at the top
// of the workspace, so that a follower never reads a stale verdict, and
// returns the paths removed. Inputs are left for submit to rewrite, and
// slurm-<job>.out never passes for another job's. Common names go only when
// job.json shows an earlier noderun job: CI's $WORKSPACE may hold its own.
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

// ClearTestOutput removes the test's output directory of an earlier job
// with the same test id: its coordination files (hostnames, server
// addresses, "Done") would be taken for this job's. Only a workspace that
// held a noderun job before is touched.
func (l Layout) ClearTestOutput(param string) error {
	if _, err := os.Stat(l.Spec()); err != nil {
		return nil
	}
	if err := os.RemoveAll(l.TestOutput(param)); err != nil {
		return fmt.Errorf("remove the test output of an earlier job: %w", err)
	}
	return nil
}

// clearable reports whether ClearOutputs removes e.
func clearable(e Entry, earlierJob bool) bool {
	top := !strings.ContainsAny(e.Path, "/<")
	return top && e.Kind != KindInput && (!e.Common || earlierJob)
}
