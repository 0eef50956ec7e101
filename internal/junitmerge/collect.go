package junitmerge

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

func (b *wsBuild) loadSpec() {
	b.spec = b.o.Spec
	if b.spec == nil {
		spec, err := jobspec.Load(b.ws.Spec())
		switch {
		case err == nil:
			b.spec = spec
		case !errors.Is(err, fs.ErrNotExist):
			// Without the spec, tasks that left nothing cannot be known:
			// say so rather than merge as if all were there.
			b.o.Log.Warn().Err(err).Str("path", b.ws.Spec()).Msg("cannot read the job spec; merging what is there")
			b.note("job.json", workspaceSpec, "cannot read the job spec, so tasks that left no trace are not reported: "+err.Error())
		}
	}
	b.deciding = decidingRole(b.spec)
	if b.spec == nil {
		return
	}
	for _, st := range b.spec.Steps {
		for k := 0; k < st.Tasks; k++ {
			t := b.task(st.Role, k)
			t.expected, t.pytest = true, st.RunsPytest(k)
		}
	}
}

// loadResult finds the job's result and the roles stopped as expected.
func (b *wsBuild) loadResult() {
	b.result = b.o.Result
	if b.result == nil {
		jr, err := b.ws.LoadJobResult()
		switch {
		case err == nil:
			b.result = jr
		case !errors.Is(err, fs.ErrNotExist):
			// Stopped roles will then show as cancelled: an error, the safe side.
			b.o.Log.Warn().Err(err).Str("path", b.ws.JobResult()).Msg("cannot read the job result; no stop is treated as expected")
		}
	}
	b.stops = b.o.ExpectedStops
	if b.stops == nil {
		b.stops = map[string]bool{}
		if b.result != nil {
			b.stops = b.result.ExpectedStops()
		}
	}
}

// collect finds the task records and the junit files.
func (b *wsBuild) collect() {
	recs, errs := b.ws.TaskRecords()
	for _, err := range errs {
		b.o.Log.Warn().Err(err).Msg("cannot read a task record")
		b.note("task-records", workspaceRecord, "cannot read a task record: "+err.Error())
	}
	for _, rec := range recs {
		// A late record of an earlier attempt (its runner still stopping)
		// is not this attempt's task.
		if r := b.o.Result; r != nil && r.JobID != "" && !(workspace.Attempt{Submission: r.Submission, JobID: r.JobID, Restart: r.Attempt}).Owns(rec) {
			continue
		}
		b.task(rec.Role, rec.Rank).rec = rec
	}
	claimed := map[string]bool{}
	for _, byRank := range b.tasks {
		for _, t := range byRank {
			t.junit = b.ws.Junit(t.role, t.rank)
			if t.rec != nil && t.rec.Junit != "" {
				t.junit = b.ws.Resolve(t.rec.Junit)
			}
			claimed[filepath.Clean(t.junit)] = true
		}
	}
	root := b.ws.ResultsDir()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".xml") || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		if claimed[filepath.Clean(path)] {
			return nil
		}
		if role, rank, ok := b.ws.JunitTask(path); ok && !b.hasRecordWithOtherJunit(role, rank) {
			b.task(role, rank).junit = path
			return nil
		}
		b.extra = append(b.extra, path)
		return nil
	})
	if err != nil {
		b.o.Log.Warn().Err(err).Str("path", root).Msg("cannot list the results directory")
		b.note("results-dir", workspaceResults, "cannot list the results directory: "+err.Error())
	}
	sort.Strings(b.extra)
}

// hasRecordWithOtherJunit reports a task whose record names a junit path
// other than the usual one: a file at the usual place is then someone else's.
func (b *wsBuild) hasRecordWithOtherJunit(role string, rank int) bool {
	t, ok := b.tasks[role][rank]
	return ok && t.rec != nil && t.rec.Junit != ""
}

func (b *wsBuild) task(role string, rank int) *task {
	byRank := b.tasks[role]
	if byRank == nil {
		byRank = map[int]*task{}
		b.tasks[role] = byRank
	}
	t := byRank[rank]
	if t == nil {
		t = &task{role: role, rank: rank, junit: b.ws.Junit(role, rank)}
		byRank[rank] = t
	}
	return t
}

// roles lists the roles in the spec's step order, then the others sorted.
func (b *wsBuild) roles() []string {
	var known []string
	if b.spec != nil {
		known = b.spec.Roles()
	}
	others := map[string]bool{}
	for role := range b.tasks {
		others[role] = true
	}
	return orderRoles(known, others)
}

func (b *wsBuild) sortedTasks(role string) []*task {
	ts := make([]*task, 0, len(b.tasks[role]))
	for _, t := range b.tasks[role] {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].rank < ts[j].rank })
	return ts
}
