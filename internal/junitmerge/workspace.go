package junitmerge

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
	if err := atomicfile.Write(ws.Results(), 0o644, doc.Write); err != nil {
		return rep, fmt.Errorf("write merged results: %w", err)
	}
	if err := atomicfile.Write(ws.Summary(), 0o644, rep.WriteMarkdown); err != nil {
		return rep, fmt.Errorf("write results summary: %w", err)
	}
	return rep, nil
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
}

// BuildWorkspace is MergeWorkspace without writing: the merged document and
// its summary.
func BuildWorkspace(ws workspace.Layout, o Options) (*Document, *Report) {
	o = o.withDefaults()
	b := &wsBuild{ws: ws, o: o, tasks: map[string]map[int]*task{}}
	b.loadSpec()
	b.loadStops()
	b.collect()

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
		b.note("results", "noderun.workspace.Empty", "the workspace holds no job spec, no task records and no junit files: nothing ran here, or this is not a job workspace ("+ws.Dir+")")
	}
	if len(b.notes) > 0 {
		suites = append(suites, &Suite{Name: "noderun", Cases: b.notes, role: "noderun"})
	}
	others := map[string]bool{}
	for _, s := range suites {
		others[s.role] = true
	}
	return assemble(suites, orderRoles(roles, others), o.Now())
}

// wsBuild holds what BuildWorkspace gathers.
type wsBuild struct {
	ws       workspace.Layout
	o        Options
	spec     *jobspec.Spec
	stops    map[string]bool
	deciding string
	tasks    map[string]map[int]*task
	extra    []string // junit files under results/ that belong to no task
	notes    []*Case  // problems of the workspace itself
}

func (b *wsBuild) note(name, typ, msg string) {
	b.notes = append(b.notes, syntheticCase("noderun.workspace", name, problem{typ: typ, message: msg}, false, 0))
}

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
			b.note("job.json", "noderun.workspace.Spec", "cannot read the job spec, so tasks that left no trace are not reported: "+err.Error())
		}
	}
	b.deciding = decidingRole(b.spec)
	if b.spec == nil {
		return
	}
	for _, st := range b.spec.Steps {
		for k := 0; k < st.Tasks; k++ {
			t := b.task(st.Role, k)
			t.expected, t.pytest = true, st.Pytest
		}
	}
}

func (b *wsBuild) loadStops() {
	b.stops = b.o.ExpectedStops
	if b.stops != nil {
		return
	}
	b.stops = map[string]bool{}
	jr, err := b.ws.LoadJobResult()
	switch {
	case err == nil:
		b.stops = jr.ExpectedStops()
	case !errors.Is(err, fs.ErrNotExist):
		// Stopped roles will then show as cancelled: an error, the safe side.
		b.o.Log.Warn().Err(err).Str("path", b.ws.JobResult()).Msg("cannot read the job result; no stop is treated as expected")
	}
}

// collect finds the task records and the junit files.
func (b *wsBuild) collect() {
	recs, errs := b.ws.TaskRecords()
	for _, err := range errs {
		b.o.Log.Warn().Err(err).Msg("cannot read a task record")
		b.note("task-records", "noderun.workspace.Record", "cannot read a task record: "+err.Error())
	}
	for _, rec := range recs {
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
		b.note("results-dir", "noderun.workspace.Results", "cannot list the results directory: "+err.Error())
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

// roleSuites builds the suites of one role: one per rank, or a single
// synthetic one when the role left nothing at all.
func (b *wsBuild) roleSuites(role string) []*Suite {
	tasks := b.sortedTasks(role)
	if len(tasks) == 0 {
		return nil
	}
	anything := false
	for _, t := range tasks {
		if t.rec != nil || !t.in.missing {
			anything = true
			break
		}
	}
	if !anything {
		return []*Suite{b.silentRole(role, len(tasks))}
	}
	var out []*Suite
	for _, t := range tasks {
		out = append(out, b.taskSuites(t)...)
	}
	return out
}

// silentRole stands for a role none of whose tasks left a record or a file.
func (b *wsBuild) silentRole(role string, n int) *Suite {
	p := problem{
		typ:     "noderun.role.NoResults",
		message: fmt.Sprintf("role %s produced no results: none of its %d task(s) left a task record or a junit file (the step never started?)", role, n),
		logPath: existing(b.ws.StepLog(role)),
	}
	p.logName = b.ws.Rel(p.logPath)
	skip := b.stops[role]
	if skip {
		p.typ, p.message = "noderun.role.StoppedAfterDeciding", "stopped after "+b.deciding+" finished"
	}
	return &Suite{Name: role, role: role, Cases: []*Case{syntheticCase("noderun."+role, "results", p, skip, b.o.LogTailLines)}}
}

// taskSuites builds the suites of one task: its junit file's suites, named
// after the task, plus synthetic testcases for what went wrong.
func (b *wsBuild) taskSuites(t *task) []*Suite {
	rec, in := t.rec, t.in
	base := t.role + "/rank" + strconv.Itoa(t.rank)
	host := ""
	switch {
	case rec != nil && rec.Host != "":
		host = rec.Host
	case rec != nil && rec.Node != "":
		host = rec.Node
	case len(in.suites) > 0:
		host = in.suites[0].Hostname
	}
	if host != "" {
		base += "@" + host
	}
	suites := in.suites
	nameSuites(suites, base)

	classname := "noderun." + t.role + ".rank" + strconv.Itoa(t.rank)
	synth := b.taskCases(t, classname)
	if len(synth) > 0 {
		if len(suites) == 1 {
			suites[0].Cases = append(suites[0].Cases, synth...)
		} else {
			s := &Suite{Name: base, Cases: synth}
			if rec != nil {
				s.Time = Seconds(rec.Duration())
			}
			suites = append([]*Suite{s}, suites...)
		}
	}
	props := b.taskProperties(t, host)
	for _, s := range suites {
		s.role = t.role
		if host != "" {
			s.Hostname = cleanText(host)
		}
		if s.Timestamp == "" && rec != nil && !rec.Start.IsZero() {
			s.Timestamp = rec.Start.UTC().Format("2006-01-02T15:04:05")
		}
		if s.Properties == nil {
			s.Properties = &Properties{}
		}
		s.Properties.Property = append(s.Properties.Property, props...)
	}
	return suites
}

// taskCases decides which synthetic testcases a task needs.
func (b *wsBuild) taskCases(t *task, classname string) []*Case {
	rec, in := t.rec, t.in
	expectJunit := t.pytest
	if rec != nil {
		expectJunit = rec.Junit != ""
	}
	logPath := b.logPath(t)
	logName := b.ws.Rel(logPath)
	tail := b.o.LogTailLines
	junitRel := b.ws.Rel(t.junit)

	if b.stoppedAsExpected(t) {
		switch {
		case in.missing || in.broken != nil && len(in.suites) == 0:
			// Stopped before pytest wrote (all of) its file: expected.
			p := problem{typ: "noderun.task.StoppedAfterDeciding", message: "stopped after " + b.deciding + " finished", logPath: logPath, logName: logName}
			if !in.missing {
				p.details = append(p.details, junitRel+": "+in.broken.Message)
			}
			return []*Case{syntheticCase(classname, "task", p, true, tail)}
		case in.broken != nil:
			// Failures the file holds but go-junit lost are still failures.
			return []*Case{syntheticCase(classname, "junit", problem{typ: in.broken.Type, message: junitRel + ": " + in.broken.Message}, false, tail)}
		}
		return nil
	}

	var cases []*Case
	taskFailed := func(typ, msg string) {
		p := problem{typ: typ, message: msg, details: b.recordDetails(rec), logPath: logPath, logName: logName}
		cases = append(cases, syntheticCase(classname, "task", p, false, tail))
	}
	junitFailing := false
	for _, s := range in.suites {
		for _, c := range s.Cases {
			if st := c.Status(); st == StatusFailed || st == StatusError {
				junitFailing = true
			}
		}
	}
	noJunit := ""
	if in.missing && expectJunit {
		noJunit = "; it left no junit file (" + junitRel + ")"
	}
	switch {
	case rec == nil:
		if t.expected {
			taskFailed("noderun.task.NoRecord", "no task record: the runner never started on its node, or was killed before it wrote one"+noJunit)
		}
	case rec.State == workspace.StateRunning:
		taskFailed("noderun.task.RunnerDied", "the runner died before recording an end"+noJunit)
	case rec.State == workspace.StateFailedToStart:
		msg := "failed to start"
		if rec.Error != "" {
			msg += ": " + rec.Error
		}
		taskFailed("noderun.task.FailedToStart", msg)
	case rec.TimedOut || rec.State == workspace.StateTimedOut:
		msg := "timed out and was stopped"
		if d := rec.Duration(); d > 0 {
			msg = fmt.Sprintf("timed out after %s and was stopped", d.Round(time.Second))
		}
		taskFailed("noderun.task.Timeout", msg+noJunit)
	case rec.Stopped:
		taskFailed("noderun.task.Cancelled", "cancelled: asked to stop (job cancelled or stopped) before it ended"+noJunit)
	case rec.State == workspace.StateSignaled:
		taskFailed("noderun.task.Signal", fmt.Sprintf("killed by signal %s (exit status %d)", orUnknown(rec.Signal), rec.ExitCode)+noJunit)
	case rec.State == workspace.StateExited && rec.ExitCode != 0:
		switch {
		case in.missing:
			taskFailed("noderun.task.Exit", fmt.Sprintf("exited with status %d", rec.ExitCode)+noJunit)
		case in.broken == nil && !junitFailing:
			// pytest's status 2-5 (interrupted, internal error, usage, no
			// tests) come with a junit file that shows nothing wrong.
			taskFailed("noderun.task.Exit", fmt.Sprintf("exited with status %d, but its junit file records no failure or error", rec.ExitCode))
		}
	case rec.State != workspace.StateExited:
		taskFailed("noderun.task.State", "ended in an unknown state "+strconv.Quote(rec.State))
	case in.missing && expectJunit:
		taskFailed("noderun.junit.Missing", "exited 0 but wrote no junit file ("+junitRel+")")
	}
	if in.broken != nil && !in.missing {
		p := problem{typ: in.broken.Type, message: junitRel + ": " + in.broken.Message, logPath: logPath, logName: logName}
		if in.broken.Type == brokenLost || len(cases) > 0 {
			// The log explains a crash, not a file go-junit misread; and
			// the task's own error already shows it.
			p.logPath = ""
		}
		cases = append(cases, syntheticCase(classname, "junit", p, false, tail))
	}
	if len(cases) == 0 && len(in.suites) == 0 {
		// A task without junit (a server, or a rank that does not run
		// pytest) that ended well: one passing testcase keeps it visible.
		cases = append(cases, &Case{Name: "task", Classname: cleanText(classname), Time: Seconds(recDuration(rec))})
	}
	return cases
}

// stoppedAsExpected reports a task of a role stopped after the deciding step
// that did not end on its own with a failure or a timeout first.
func (b *wsBuild) stoppedAsExpected(t *task) bool {
	if !b.stops[t.role] {
		return false
	}
	rec := t.rec
	timedOut := rec != nil && (rec.TimedOut || rec.State == workspace.StateTimedOut)
	return rec == nil || !timedOut && (rec.Stopped || rec.State == workspace.StateRunning)
}

func (b *wsBuild) logPath(t *task) string {
	if t.rec != nil && t.rec.Log != "" {
		return b.ws.Resolve(t.rec.Log)
	}
	return existing(b.ws.TaskLog(t.role, t.rank))
}

// recordDetails are the facts of a record worth reading next to a failure.
func (b *wsBuild) recordDetails(rec *workspace.TaskRecord) []string {
	if rec == nil {
		return nil
	}
	d := []string{
		"host: " + orUnknown(rec.Host) + "  node: " + orUnknown(rec.Node),
		"state: " + rec.State + "  exit status: " + strconv.Itoa(rec.ExitCode),
	}
	if rec.Signal != "" {
		d = append(d, "signal: "+rec.Signal)
	}
	if len(rec.GPUs) > 0 {
		d = append(d, "gpus: "+strings.Join(rec.GPUs, ","))
	}
	if rec.PID != 0 {
		d = append(d, "pid: "+strconv.Itoa(rec.PID))
	}
	if !rec.Start.IsZero() {
		d = append(d, "start: "+rec.Start.UTC().Format(time.RFC3339))
	}
	if !rec.End.IsZero() {
		d = append(d, "end: "+rec.End.UTC().Format(time.RFC3339))
	}
	if rec.Error != "" {
		d = append(d, "error: "+rec.Error)
	}
	return d
}

// taskProperties describe the task on each of its suites, so that Jenkins
// shows where a rank ran.
func (b *wsBuild) taskProperties(t *task, host string) []Property {
	props := []Property{
		{Name: "noderun.role", Value: cleanText(t.role)},
		{Name: "noderun.rank", Value: strconv.Itoa(t.rank)},
	}
	if host != "" {
		props = append(props, Property{Name: "noderun.host", Value: cleanText(host)})
	}
	if rec := t.rec; rec != nil {
		props = append(props,
			Property{Name: "noderun.state", Value: cleanText(rec.State)},
			Property{Name: "noderun.exit_code", Value: strconv.Itoa(rec.ExitCode)})
		if len(rec.GPUs) > 0 {
			props = append(props, Property{Name: "noderun.gpus", Value: cleanText(strings.Join(rec.GPUs, ","))})
		}
	}
	if !t.in.missing {
		props = append(props, Property{Name: "noderun.junit", Value: cleanText(b.ws.Rel(t.junit))})
	}
	return props
}

func recDuration(rec *workspace.TaskRecord) time.Duration {
	if rec == nil {
		return 0
	}
	return rec.Duration()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// existing returns path if a file is there, "" otherwise.
func existing(path string) string {
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	return path
}

// nameSuites gives the suites of one file names of their own: base for a
// file with one suite (pytest names every suite "pytest"), base/<name>
// for each of several.
func nameSuites(suites []*Suite, base string) {
	if len(suites) == 1 {
		suites[0].Name = base
		return
	}
	for _, s := range suites {
		s.Name = base + "/" + s.Name
	}
}
