package junitmerge

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/golden"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// copyTree copies testdata into a temporary directory, so the merge writes
// nothing into the source tree.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestGoldenWorkspace merges the fixed workspace in testdata/workspace: a
// disaggregated job whose BENCHMARK failed (a real pytest file), one GEN
// rank stopped after it as expected, one that segfaulted mid-write, a CTX
// step that never started, and a server without pytest. The records name
// absolute paths, as the runner writes them.
func TestGoldenWorkspace(t *testing.T) {
	dir := copyTree(t, filepath.Join("testdata", "workspace"))
	ws := workspace.New(dir)
	recs, errs := ws.TaskRecords()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, r := range recs {
		r.Log = filepath.Join(dir, r.Log)
		if r.Junit != "" {
			r.Junit = filepath.Join(dir, r.Junit)
		}
		if err := ws.SaveTaskRecord(r); err != nil {
			t.Fatal(err)
		}
	}

	rep, err := MergeWorkspace(ws, Options{Now: fixedNow, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Failed() {
		t.Error("the workspace holds failures; the report says it does not")
	}
	results, err := os.ReadFile(ws.Results())
	if err != nil {
		t.Fatal(err)
	}
	summary, err := os.ReadFile(ws.Summary())
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "workspace.results.xml.golden"), results)
	golden.Check(t, filepath.Join("testdata", "workspace.summary.md.golden"), summary)
	golden.Check(t, filepath.Join("testdata", "workspace.table.golden"), table.Bytes())
	parseBack(t, results)
	validateSchema(t, ws.Results())
}

// TestGoldenRootCause is the case: GEN_0 rank 1 exits 3, srun stops
// GEN_0 rank 0 (143) and the supervisor the other roles. The summary leads
// with the outcome and GEN_0 rank 1, gives wall times rather than summed
// rank times, and groups the four stopped tasks under their cause, which
// results.xml names too.
func TestGoldenRootCause(t *testing.T) {
	w := newTestWorkspace(t, step("GEN_0", 2, true), step("CTX_0", 1, true), step(jobspec.RoleDisaggServer, 1, false), step(jobspec.RoleBenchmark, 1, true))
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ended := func(s int) recMod { return func(r *workspace.TaskRecord) { r.End = at(s) } }
	started := func(s int) recMod { return func(r *workspace.TaskRecord) { r.Start = at(s) } }
	cause := rec("GEN_0", 1, workspace.StateExited, 3, ended(5))
	w.log("GEN_0", 1, "collected 1 item\n>       assert load_model() is not None\nE       RuntimeError: NCCL error: unhandled system error\n\nnoderun: child ended: state=exited exit=3\n")
	w.record(cause)
	w.record(rec("GEN_0", 0, workspace.StateSignaled, 143, withSignal("SIGTERM"), stopped(), ended(6)))
	w.record(rec("CTX_0", 0, workspace.StateSignaled, 130, withSignal("SIGINT"), stopped(), ended(7)))
	w.record(rec(jobspec.RoleDisaggServer, 0, workspace.StateSignaled, 130, withSignal("SIGINT"), stopped(), ended(7), withoutJunit()))
	w.record(rec(jobspec.RoleBenchmark, 0, workspace.StateSignaled, 130, withSignal("SIGINT"), stopped(), started(2), ended(8)))
	result := &workspace.JobResult{
		JobID: "42", Outcome: workspace.OutcomeFailed, Verdict: "failed", ExitCode: 1,
		Reason:    "step GEN_0 failed: rank 1 on node-1 exited with status 3",
		RootCause: DescribeCause(w.ws, cause), Start: t0, End: at(9),
	}
	opts := w.opts()
	opts.Result = result
	rep, err := MergeWorkspace(w.ws, opts)
	if err != nil {
		t.Fatal(err)
	}
	summary, err := os.ReadFile(w.ws.Summary())
	if err != nil {
		t.Fatal(err)
	}
	results, err := os.ReadFile(w.ws.Results())
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "rootcause.summary.md.golden"), summary)
	golden.Check(t, filepath.Join("testdata", "rootcause.table.golden"), table.Bytes())
	if n := bytes.Count(results, []byte("stopped because GEN_0 rank 1 failed")); n < 4 {
		t.Errorf("results.xml names the cause of %d stopped tasks, want 4:\n%s", n, results)
	}
}
