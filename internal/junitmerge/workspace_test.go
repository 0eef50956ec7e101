package junitmerge

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// testWorkspace builds a job workspace the way `noderun run` leaves it.
type testWorkspace struct {
	t     *testing.T
	ws    workspace.Layout
	spec  *jobspec.Spec
	stops map[string]bool
	// result is the job's result the merge is given; nil: none.
	result *workspace.JobResult
	// jobEnded is Options.JobEnded.
	jobEnded bool
}

func step(role string, tasks int, pytest bool) jobspec.Step {
	kind := jobspec.KindWorker
	if role == jobspec.RoleBenchmark {
		kind = jobspec.KindBenchmark
	}
	return jobspec.Step{
		Role: role, Kind: kind, Nodes: 1, Tasks: tasks, TasksPerNode: tasks,
		Deciding: role == jobspec.RoleBenchmark, GPUMode: jobspec.GPUModeNone,
		Command: jobspec.Command{Argv: []string{"pytest"}}, Pytest: pytest,
	}
}

func newTestWorkspace(t *testing.T, steps ...jobspec.Step) *testWorkspace {
	ws := workspace.New(t.TempDir())
	w := &testWorkspace{t: t, ws: ws}
	if len(steps) > 0 {
		w.spec = &jobspec.Spec{Version: jobspec.Version, Workspace: ws.Dir, Nodes: 1, Steps: steps}
	}
	return w
}

func (w *testWorkspace) opts() Options {
	// Not the process's environment: a secret there must not change a test.
	return Options{Spec: w.spec, ExpectedStops: w.stops, Result: w.result, JobEnded: w.jobEnded, Now: fixedNow, Environ: []string{}}
}

var t0 = time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC)

type recMod func(*workspace.TaskRecord)

func withSignal(sig string) recMod  { return func(r *workspace.TaskRecord) { r.Signal = sig } }
func withError(msg string) recMod   { return func(r *workspace.TaskRecord) { r.Error = msg } }
func timedOut() recMod              { return func(r *workspace.TaskRecord) { r.TimedOut = true } }
func stopped() recMod               { return func(r *workspace.TaskRecord) { r.Stopped = true } }
func withoutJunit() recMod          { return func(r *workspace.TaskRecord) { r.Junit = "-" } }
func withJunitPath(p string) recMod { return func(r *workspace.TaskRecord) { r.Junit = p } }

// rec is a record as the runner writes it at the end of a task.
func rec(role string, rank int, state string, code int, mods ...recMod) *workspace.TaskRecord {
	r := &workspace.TaskRecord{
		Role: role, Rank: rank, Host: fmt.Sprintf("node-%d", rank), Node: fmt.Sprintf("node-%d", rank),
		JobID: "42", Step: "42.0", State: state, ExitCode: code,
		Start: t0, End: t0.Add(90 * time.Second),
	}
	if state == workspace.StateRunning {
		r.End = time.Time{}
	}
	for _, m := range mods {
		m(r)
	}
	return r
}

// record saves r, filling Log and Junit as the runner does: Junit only when
// the step runs pytest ("-" in r.Junit means the step does not).
func (w *testWorkspace) record(r *workspace.TaskRecord) {
	w.t.Helper()
	if r.Log == "" {
		r.Log = w.ws.TaskLog(r.Role, r.Rank)
	}
	switch {
	case r.Junit == "-":
		r.Junit = ""
	case r.Junit == "":
		r.Junit = w.ws.Junit(r.Role, r.Rank)
	}
	if err := w.ws.SaveTaskRecord(r); err != nil {
		w.t.Fatal(err)
	}
}

func (w *testWorkspace) write(path, content string) {
	w.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *testWorkspace) junit(role string, rank int, content string) {
	w.write(w.ws.Junit(role, rank), content)
}

func (w *testWorkspace) log(role string, rank int, content string) {
	w.write(w.ws.TaskLog(role, rank), content)
}

const (
	junitPass = `<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="0" skipped="0" tests="2" time="1.5" timestamp="2025-03-04T05:00:01" hostname="from-file"><testcase classname="t" name="test_a" time="0.5"/><testcase classname="t" name="test_b" time="1.0"/></testsuite></testsuites>`
	junitFail = `<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="1" skipped="0" tests="2" time="1.5"><testcase classname="t" name="test_a" time="0.5"/><testcase classname="t" name="test_b" time="1.0"><failure message="boom">trace</failure></testcase></testsuite></testsuites>`
	// junitFailThenSkip reads as a skip in go-junit, which keeps only the
	// last result element of a testcase.
	junitFailThenSkip = `<testsuites><testsuite name="pytest" tests="1" failures="1" errors="0"><testcase classname="t" name="test_c"><failure message="real failure"/><skipped message="later skip"/></testcase></testsuite></testsuites>`
)

// TestMergeWorkspaceWritesAtomically checks the two files and that a
// second merge replaces them without leaving temporary files behind.
func TestMergeWorkspaceWritesAtomically(t *testing.T) {
	w := newTestWorkspace(t, step("GEN_0", 1, true))
	w.record(rec("GEN_0", 0, "exited", 1))
	for i := 0; i < 2; i++ {
		if _, err := MergeWorkspace(w.ws, w.opts()); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(w.ws.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".results") || strings.HasPrefix(e.Name(), ".summary") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
	validateSchema(t, w.ws.Results())
	md, err := os.ReadFile(w.ws.Summary())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "FAILED") || !strings.Contains(string(md), "noderun.task.Exit") && !strings.Contains(string(md), "exited with status 1") {
		t.Errorf("summary.md does not report the failure:\n%s", md)
	}
}

// TestSyntheticErrorCarriesLogTail checks the last lines of the log, and
// only those, reach the error's body, with colour codes removed.
func TestSyntheticErrorCarriesLogTail(t *testing.T) {
	w := newTestWorkspace(t, step("GEN_0", 1, true))
	w.record(rec("GEN_0", 0, "exited", 3))
	var log strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&log, "\x1b[32mline %03d\x1b[0m\n", i)
	}
	w.log("GEN_0", 0, log.String())
	opts := w.opts()
	opts.LogTailLines = 5
	doc, _ := BuildWorkspace(w.ws, opts)
	cs := findCases(t, doc, "task")
	if len(cs) != 1 || cs[0].Error == nil {
		t.Fatalf("want one error, got %s", describe(cs))
	}
	body := cs[0].Error.Body
	for i := 96; i <= 100; i++ {
		if !strings.Contains(body, fmt.Sprintf("line %03d", i)) {
			t.Errorf("tail lacks line %d:\n%s", i, body)
		}
	}
	if strings.Contains(body, "line 095") || strings.Contains(body, "\x1b") {
		t.Errorf("tail has more than 5 lines or colour codes:\n%s", body)
	}
	if !strings.Contains(body, "last 5 lines of logs/GEN_0/rank0.log") {
		t.Errorf("tail should name the log relative to the workspace:\n%s", body)
	}
}

// A record an earlier attempt's runner wrote late is not the current
// attempt's task: the task shows as missing, not as the old one's result.
func TestMergeIgnoresAnEarlierAttempt(t *testing.T) {
	st := step("GEN_0", 1, true)
	w := newTestWorkspace(t, st)
	w.record(rec("GEN_0", 0, "exited", 7, func(r *workspace.TaskRecord) { r.JobID, r.Attempt = "42", 0 }))
	o := w.opts()
	o.Result = &workspace.JobResult{JobID: "42", Attempt: 1}
	doc, _ := BuildWorkspace(w.ws, o)
	_, data := writeDoc(t, doc)
	if strings.Contains(string(data), "status 7") {
		t.Errorf("attempt 0's record was merged into attempt 1:\n%s", data)
	}
	o.Result.Attempt = 0
	doc, _ = BuildWorkspace(w.ws, o)
	if _, data = writeDoc(t, doc); !strings.Contains(string(data), "status 7") {
		t.Errorf("the current attempt's record is missing:\n%s", data)
	}
}
