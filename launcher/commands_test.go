package launcher

import (
	"slices"
	"testing"

	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// The stage CSV, coverage and periodic junit belong to the deciding role:
// other roles' lines lose them, with their values, as TensorRT-LLM's CI
// drops them; everything else stays in order.
func TestWithoutStageOutputs(t *testing.T) {
	args := []string{"-k", "x", "--csv=/a.csv", "--cov", "pkg", "--cov-report=xml", "--periodic-junit",
		"--periodic-batch-size", "1", "--maxfail=1", "--csv", "/b.csv", "-x"}
	want := []string{"-k", "x", "--maxfail=1", "-x"}
	if got := withoutStageOutputs(args); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// In a one-node job no launcher wraps the workers, so TensorRT-LLM runs
// pytest on step rank 0 only by giving each worker step one task; a
// multi-node job keeps a task per GPU under the launcher.
func TestTRTLLMWorkerTasks(t *testing.T) {
	for _, tc := range []struct {
		name, config, prefix string
		tasks                int
		launched             bool
	}{
		{"one node", "gen-only-no-context", "disagg-gen_only", 1, false},
		{"two nodes", "disagg-tiny", "disagg-e2e", 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			t.Setenv("stageName", "S1")
			if err := f.run("--workspace", f.path("ws"), "--config", f.path("configs", tc.config+".yaml"), "--trtllm-dir", f.path("trt"),
				"--test-prefix", tc.prefix, "--dry-run"); err != nil {
				t.Fatal(err)
			}
			spec, err := jobspec.Load(workspace.New(f.path("ws")).Spec())
			if err != nil {
				t.Fatal(err)
			}
			gen, _ := spec.Step("GEN_0")
			if gen.Tasks != tc.tasks || (len(gen.Launcher) > 0) != tc.launched {
				t.Errorf("GEN_0: %d tasks, launcher %q; want %d tasks, launched %v", gen.Tasks, gen.Launcher, tc.tasks, tc.launched)
			}
		})
	}
}
