package workspace

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

// sampleValues fill the placeholders of every entry.
var sampleValues = []string{"role", "GEN_0", "rank", "0", "node", "n1", "job", "7", "restart", "0", "step", "1"}

// ClearTestOutput removes only the test output directory of an earlier
// noderun job: a directory of that name in a foreign workspace stays.
func TestClearTestOutput(t *testing.T) {
	for _, earlierJob := range []bool{true, false} {
		ws := New(t.TempDir())
		writeFile(t, filepath.Join(ws.TestOutput("disagg-e2e-c"), "hostnames-local-0", "GEN_0"))
		if earlierJob {
			writeFile(t, ws.Spec())
		}
		if err := ws.ClearTestOutput("disagg-e2e-c"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(ws.TestOutput("disagg-e2e-c")); os.IsNotExist(err) != earlierJob {
			t.Errorf("earlier job %v: test output removed = %v", earlierJob, os.IsNotExist(err))
		}
	}
}

func TestClearOutputs(t *testing.T) {
	foreign := []string{"notes.txt", "results/theirs.txt", "logs/theirs.log", "slurm-6.out"}
	tests := []struct {
		name       string
		earlierJob bool
		wantKept   []string
	}{
		{
			// results/ and logs/ are ours once job.json says so, with
			// whatever lies in them; owner.json is the clearing submit's claim.
			name:       "earlier noderun job",
			earlierJob: true,
			wantKept:   []string{".noderun/owner.json", "bin/noderun", "job.json", "job.sbatch", "notes.txt", "slurm-6.out", "slurm-7.out", "test_list.txt", "timeout_data_step1_rank0.jsonl", "waives.txt"},
		},
		{
			// CI's $WORKSPACE may hold a results/ or logs/ of its own.
			name:     "no earlier noderun job",
			wantKept: []string{".noderun/owner.json", "bin/noderun", "job.sbatch", "logs/GEN_0/rank0.log", "logs/GEN_0/runner-rank0.log", "logs/GEN_0/srun.log", "logs/setup/n1.log", "logs/theirs.log", "notes.txt", "report.csv", "results/GEN_0/rank0.xml", "results/theirs.txt", "slurm-6.out", "slurm-7.out", "test_list.txt", "timeout_data_step1_rank0.jsonl", "waives.txt"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := New(t.TempDir())
			for _, e := range entries {
				if e.Dir || e == specFile && !tt.earlierJob {
					continue
				}
				writeFile(t, ws.path(e, sampleValues...))
			}
			for _, f := range foreign {
				writeFile(t, filepath.Join(ws.Dir, f))
			}
			removed, err := ws.ClearOutputs()
			if err != nil {
				t.Fatal(err)
			}
			if got := files(t, ws.Dir); !reflect.DeepEqual(got, tt.wantKept) {
				t.Errorf("kept %q\nwant %q", got, tt.wantKept)
			}
			for _, p := range removed {
				if _, err := os.Lstat(p); !os.IsNotExist(err) {
					t.Errorf("%s reported removed, but is there: %v", p, err)
				}
			}
		})
	}
}

// A workspace that never held anything is no error.
func TestClearOutputsEmpty(t *testing.T) {
	removed, err := New(t.TempDir()).ClearOutputs()
	if err != nil || len(removed) != 0 {
		t.Errorf("ClearOutputs = %q, %v; want nothing", removed, err)
	}
}

func writeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// files lists the regular files under dir, relative and sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}
