package junitmerge

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/noderun/noderun/internal/atomicfile"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// MergeWorkspace merges a job workspace's task records and junit files into
// WS/results.xml and WS/summary.md, both written atomically, and returns the
// summary. Problems with the results themselves become testcases, not
// errors: the returned error is only about writing the two files.
func MergeWorkspace(ws workspace.Layout, o Options) (*Report, error) {
	doc, rep := BuildWorkspace(ws, o)
	return rep, WriteWorkspace(ws, doc, rep)
}

// WriteWorkspace writes what BuildWorkspace built: WS/results.xml and
// WS/summary.md, atomically.
func WriteWorkspace(ws workspace.Layout, doc *Document, rep *Report) error {
	if err := atomicfile.Write(ws.Results(), 0o644, doc.Write); err != nil {
		return fmt.Errorf("write merged results: %w", err)
	}
	return WriteSummary(ws, rep)
}

// WriteSummary writes WS/summary.md, atomically.
func WriteSummary(ws workspace.Layout, rep *Report) error {
	if err := atomicfile.Write(ws.Summary(), 0o644, rep.WriteMarkdown); err != nil {
		return fmt.Errorf("write results summary: %w", err)
	}
	return nil
}

// BuildWorkspace is MergeWorkspace without writing: the merged document and
// its summary.
func BuildWorkspace(ws workspace.Layout, o Options) (*Document, *Report) {
	o = o.withDefaults()
	b := &wsBuild{ws: ws, o: o, tasks: map[string]map[int]*task{}}
	b.loadSpec()
	b.loadResult()
	b.collect()
	b.markStops()
	b.markStopping()
	if why := b.jobEnd(); why != "" {
		for _, byRank := range b.tasks {
			for _, t := range byRank {
				t.jobEnd = "; the job: " + why
			}
		}
	}

	// Read every junit file at once, in parallel: tasks' and the others.
	var paths []string
	var order []*task
	for _, role := range b.roles() {
		for _, t := range b.sortedTasks(role) {
			order = append(order, t)
			paths = append(paths, t.junit)
		}
	}
	paths = append(paths, b.extra...)
	results := ingestFiles(paths)
	for i, t := range order {
		t.in = results[i]
	}

	var suites []*Suite
	roles := b.roles()
	for _, role := range roles {
		suites = append(suites, b.roleSuites(role)...)
	}
	for i, path := range b.extra {
		rel, _ := filepath.Rel(ws.ResultsDir(), path)
		suites = append(suites, fileSuites(strings.TrimSuffix(filepath.ToSlash(rel), ".xml"), b.ws.Rel(path), results[len(order)+i], o)...)
	}
	if len(suites) == 0 && len(b.notes) == 0 {
		b.note("results", workspaceEmpty, "the workspace holds no job spec, no task records and no junit files: nothing ran here, or this is not a job workspace ("+ws.Dir+")")
	}
	if len(b.notes) > 0 {
		suites = append(suites, &Suite{Name: "noderun", Cases: b.notes, role: "noderun"})
	}
	b.hideSecrets(suites)
	others := map[string]bool{}
	for _, s := range suites {
		others[s.role] = true
	}
	doc, rep := assemble(suites, orderRoles(roles, others), o.Now())
	b.complete(rep)
	return doc, rep
}

// wsBuild holds what BuildWorkspace gathers.
type wsBuild struct {
	ws       workspace.Layout
	o        Options
	spec     *jobspec.Spec
	stops    map[string]bool
	result   *workspace.JobResult // nil when unknown
	cause    *task                // the root cause's task, if it is one of these
	others   map[string][]string  // other failing tasks by cause, for the summary
	order    []string             // the causes of others, as first seen
	deciding string
	tasks    map[string]map[int]*task
	extra    []string // junit files under results/ that belong to no task
	notes    []*Case  // problems of the workspace itself
}

// task is one (role, rank) the merge knows of, from the spec, a record or a file.
type task struct {
	role     string
	rank     int
	expected bool // the spec lists it
	pytest   bool // the spec's step runs pytest
	rec      *workspace.TaskRecord
	junit    string // the junit path to read
	in       ingested
	// stoppedBecause says why a task that was asked to stop was stopped,
	// when the job knows: "stopped because GEN_0 rank 1 failed".
	stoppedBecause string
	// jobEnd is "; <why the job ended>" for a task that left no end, when
	// no task is to blame (wsBuild.jobEnd).
	jobEnd string
	// lostOn is the failed node a task was lost with: its runner never
	// recorded an end there.
	lostOn string
	// stopping: its step was cancelled and its runner had not recorded its
	// end yet when the job merged (markStopping).
	stopping bool
	// jobEnded: the merge runs after Slurm ended the job (Options.JobEnded).
	jobEnded bool
}

func (b *wsBuild) note(name, typ, msg string) {
	b.notes = append(b.notes, syntheticCase("noderun.workspace", name, problem{typ: typ, message: msg}, false, 0))
}
