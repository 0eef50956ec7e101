package e2e

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/noderun/noderun/internal/slurmlab"
	"github.com/noderun/noderun/internal/testbin"
)

// labParallel is how many lab tests run at once unless -parallel says
// otherwise. They wait on Slurm, not on this machine's CPUs, so the default
// (GOMAXPROCS, 2 on a small CI machine) would serialise the one-minute
// time-limit tests; the lab (16 CPUs, 16 GPUs) holds four of these jobs at
// once and queues the rest.
const labParallel = "8"

func TestMain(m *testing.M) {
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		if err := flag.Set("test.parallel", labParallel); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: set -parallel:", err)
		}
	}
	os.Exit(testbin.Main(m))
}

// labTest is what every lab test needs: the lab, the noderun binary under
// test (built once, with the Makefile's release flags, by testbin) and the
// repository root, where the examples are.
type labTest struct {
	lab  *slurmlab.Lab
	bin  string
	root string
}

// requireLab skips the test without a lab and fails it when the binary
// cannot be built.
func requireLab(t *testing.T) labTest {
	t.Helper()
	lab := slurmlab.Require(t)
	root := testbin.RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "examples", "tests", "perf", "test_perf_sanity.py")); err != nil {
		t.Fatalf("find the example suite from the repository root %s: %v", root, err)
	}
	return labTest{lab: lab, bin: testbin.Path(t), root: root}
}
