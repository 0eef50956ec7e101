package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/noderun/noderun/internal/golden"
	"github.com/noderun/noderun/internal/testbin"
)

// The top-level help is the first page users read.
func TestHelp(t *testing.T) {
	code, stdout, stderr := runApp(t, "--help")
	if code != 0 {
		t.Fatalf("--help: exit status %d\n%s", code, stderr)
	}
	golden.Check(t, filepath.Join("testdata", "help.golden"), []byte(stdout))
	for _, ex := range append([]string{exampleHeading}, examples...) {
		if !strings.Contains(stdout, ex) {
			t.Errorf("the help does not show %q", ex)
		}
	}
}

// Every example in `noderun --help` runs as printed, from the repository
// root, through a shell, with the built binary on PATH; only the workspace
// /tmp/ws is moved into the test's temp dir.
func TestHelpExamplesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs local jobs")
	}
	bin := testbin.Path(t)
	root := testbin.RepoRoot(t)
	for i, line := range examples {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			ws := filepath.Join(t.TempDir(), "ws")
			cmd := exec.Command("sh", "-c", strings.ReplaceAll(line, "/tmp/ws", ws))
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", line, err, out)
			}
			if !strings.Contains(string(out), "## Test results: passed") {
				t.Errorf("%s: no passing summary:\n%s", line, out)
			}
		})
	}
}
