package junitmerge

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/noderun/noderun/internal/golden"
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
