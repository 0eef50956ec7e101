package workspace

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ClearOutputs removes the outputs and state an earlier job left at the top
// of the workspace, so that a follower never reads a stale verdict, and
// returns the paths removed. Inputs are left for submit to rewrite, and
// slurm-<job>.out never passes for another job's. Common names go only when
// job.json shows an earlier noderun job: CI's $WORKSPACE may hold its own.
// owner.json stays: it is the claim of the submit that clears.
func (l Layout) ClearOutputs() (removed []string, err error) {
	_, err = os.Stat(l.Spec())
	earlierJob := err == nil
	for _, e := range entries {
		if !clearable(e, earlierJob) {
			continue
		}
		paths := []string{l.path(e)}
		if e == stateDir {
			paths = l.stateEntries()
		}
		for _, p := range paths {
			if _, err := os.Lstat(p); err != nil {
				continue
			}
			if err := os.RemoveAll(p); err != nil {
				return removed, fmt.Errorf("remove output of an earlier job: %w", err)
			}
			removed = append(removed, p)
		}
	}
	return removed, nil
}

// stateEntries are the paths in WS/.noderun but owner.json and the temp
// files of a claim in progress.
func (l Layout) stateEntries() []string {
	des, _ := os.ReadDir(l.StateDir())
	var paths []string
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), filepath.Base(l.Owner())) {
			paths = append(paths, filepath.Join(l.StateDir(), de.Name()))
		}
	}
	return paths
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
