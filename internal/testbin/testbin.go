// Package testbin builds the noderun binary once per test process, with
// `make build`, for tests that must run the real binary
// (signals, the local simulation, the GPU-less NVML path, real Slurm). It
// also finds the repository root, for every test that needs files there.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	dir     string
	once    sync.Once
	path    string
	errOnce error
)

// Main runs the tests of a package that uses Path, in a temporary directory
// for the binary that is removed afterwards. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }
func Main(m *testing.M) int {
	d, err := os.MkdirTemp("", "noderun-testbin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testbin:", err)
		return 1
	}
	dir = d
	defer os.RemoveAll(d)
	return m.Run()
}

// Path returns the built binary, building it on first use. It skips the
// test when there is no go command, and fails it when the build fails.
func Path(tb testing.TB) string {
	tb.Helper()
	if dir == "" {
		tb.Fatal("testbin.Path needs TestMain to call testbin.Main")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("no go command to build noderun with")
	}
	if _, err := exec.LookPath("make"); err != nil {
		tb.Skip("no make command to build noderun with (make build)")
	}
	root := RepoRoot(tb)
	once.Do(func() { path, errOnce = build(goBin, root) })
	if errOnce != nil {
		tb.Fatal(errOnce)
	}
	return path
}

func build(goBin, root string) (string, error) {
	bin := filepath.Join(dir, "noderun")
	cmd := exec.Command("make", "--no-print-directory", "-s", "build", "BIN="+bin, "GO="+goBin)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make build: %v\n%s", err, out)
	}
	return bin, nil
}

// RepoRoot returns the repository root: the nearest directory at or above
// the working directory (go test runs in the package's directory) that holds
// go.mod. It fails tb when there is none.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatalf("find the repository root: %v", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			tb.Fatalf("find the repository root: no go.mod at or above %s", wd)
			return ""
		}
	}
}
