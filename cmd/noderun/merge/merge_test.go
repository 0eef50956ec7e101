package merge

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/golden"
	"github.com/noderun/noderun/internal/workspace"
)

const (
	passing = `<testsuites><testsuite name="pytest" tests="1" failures="0" errors="0"><testcase classname="t" name="ok"/></testsuite></testsuites>`
	failing = `<testsuites><testsuite name="pytest" tests="1" failures="1" errors="0"><testcase classname="t" name="bad"><failure message="boom"/></testcase></testsuite></testsuites>`
)

// run drives `noderun merge ARGS...` through an app shaped like
// cmd/noderun's (errors come back, nothing exits) and returns the exit
// status main would use and what went to stdout.
func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	log := zerolog.Nop()
	env := &appenv.Env{Log: &log, Stdout: &stdout, Stderr: &stderr}
	app := &cli.App{
		Name:           "noderun",
		Writer:         &stdout,
		ErrWriter:      &stderr,
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   exitcode.OnUsageError,
		Commands:       []*cli.Command{NewCommand(env)},
	}
	err := app.Run(append([]string{"noderun", "merge"}, args...))
	if err != nil {
		t.Logf("error: %v", err)
	}
	return exitcode.Of(err), stdout.String()
}

// unsetenv removes name for the test and restores it afterwards.
func unsetenv(t *testing.T, name string) {
	t.Setenv(name, "")
	os.Unsetenv(name)
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// newWorkspace makes a workspace with one finished GEN_0 task and its junit.
func newWorkspace(t *testing.T, junit string, exit int) string {
	t.Helper()
	ws := workspace.New(t.TempDir())
	now := time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC)
	rec := &workspace.TaskRecord{Role: "GEN_0", Rank: 0, Host: "n1", State: workspace.StateExited, ExitCode: exit,
		Start: now, End: now.Add(time.Minute), Junit: ws.Junit("GEN_0", 0), Log: ws.TaskLog("GEN_0", 0)}
	if err := ws.SaveTaskRecord(rec); err != nil {
		t.Fatal(err)
	}
	writeFile(t, ws.Junit("GEN_0", 0), junit)
	return ws.Dir
}

func TestMergeCommand(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "in", "GEN_0", "rank0.xml"), passing)
	bad := writeFile(t, filepath.Join(dir, "bad", "rank0.xml"), failing)
	out := filepath.Join(dir, "out", "merged.xml")
	passWS := newWorkspace(t, passing, 0)
	failWS := newWorkspace(t, failing, 1)

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want int
		// wrote is a file that must exist afterwards, and be junit.
		wrote string
	}{
		// Why: usage errors exit 2 and say what to do.
		{name: "neither mode", args: nil, want: exitcode.Usage},
		{name: "both modes", args: []string{"--workspace", passWS, "-o", out, good}, want: exitcode.Usage},
		{name: "paths with --workspace", args: []string{"--workspace", passWS, good}, want: exitcode.Usage},
		{name: "-o without paths", args: []string{"-o", out}, want: exitcode.Usage},
		{name: "-o with a missing path", args: []string{"-o", out, filepath.Join(dir, "nope.xml")}, want: exitcode.Usage},
		{name: "workspace that is not a directory", args: []string{"--workspace", good}, want: exitcode.Usage},
		{name: "negative log tail", args: []string{"--log-tail", "-1", "--workspace", passWS}, want: exitcode.Usage},
		{name: "unknown flag", args: []string{"--bogus"}, want: exitcode.Usage},
		// Why: the verdict is the exit status.
		{name: "files that pass", args: []string{"-o", out, filepath.Join(dir, "in")}, want: exitcode.OK, wrote: out},
		{name: "files that fail", args: []string{"-o", out, good, bad}, want: exitcode.Failure, wrote: out},
		{name: "workspace that passes", args: []string{"--workspace", passWS}, want: exitcode.OK, wrote: filepath.Join(passWS, "results.xml")},
		{name: "workspace that fails", args: []string{"-w", failWS}, want: exitcode.Failure, wrote: filepath.Join(failWS, "summary.md")},
		// Why: CI passes the workspace through the environment.
		{name: "NODERUN_WORKSPACE", env: map[string]string{"NODERUN_WORKSPACE": passWS}, want: exitcode.OK},
		{name: "WORKSPACE", env: map[string]string{"WORKSPACE": failWS}, want: exitcode.Failure},
		// Why: Jenkins sets WORKSPACE for every build; it must not turn an
		// explicit -o merge into a usage error.
		{name: "-o beside Jenkins' WORKSPACE", env: map[string]string{"WORKSPACE": failWS}, args: []string{"-o", out, good}, want: exitcode.OK, wrote: out},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			unsetenv(t, "NODERUN_WORKSPACE")
			unsetenv(t, "WORKSPACE")
			unsetenv(t, "NODERUN_MERGE_LOG_TAIL")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			os.RemoveAll(filepath.Dir(out))
			code, stdout := run(t, tc.args...)
			if code != tc.want {
				t.Fatalf("exit status %d, want %d", code, tc.want)
			}
			if tc.want != exitcode.Usage && !strings.Contains(stdout, "TOTAL") {
				t.Errorf("no summary table on stdout:\n%s", stdout)
			}
			if tc.wrote != "" {
				data, err := os.ReadFile(tc.wrote)
				if err != nil {
					t.Fatal(err)
				}
				if strings.HasSuffix(tc.wrote, ".xml") {
					var doc struct {
						Tests int `xml:"tests,attr"`
					}
					if err := xml.Unmarshal(data, &doc); err != nil || doc.Tests == 0 {
						t.Errorf("%s: not merged junit (%v): %s", tc.wrote, err, data)
					}
				}
			}
		})
	}
}

// TestMergeHelp keeps the help text under review (go test -update).
func TestMergeHelp(t *testing.T) {
	code, stdout := run(t, "--help")
	if code != exitcode.OK {
		t.Fatalf("exit status %d", code)
	}
	golden.Check(t, filepath.Join("testdata", "help.golden"), []byte(stdout))
}
