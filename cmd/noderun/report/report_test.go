package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/workspace"
)

func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	log := zerolog.Nop()
	env := &appenv.Env{Log: &log, Stdout: &stdout, Stderr: &stderr}
	app := &cli.App{
		Name: "noderun", Writer: &stdout, ErrWriter: &stderr,
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   exitcode.OnUsageError,
		Commands:       []*cli.Command{NewCommand(env)},
	}
	err := app.Run(append([]string{"noderun", "report"}, args...))
	if err != nil {
		t.Logf("error: %v", err)
	}
	return exitcode.Of(err), stdout.String()
}

func TestReportRebuildsPageAndSummaryOnly(t *testing.T) {
	t.Setenv("NODERUN_WORKSPACE", "")
	t.Setenv("WORKSPACE", "")
	ws := workspace.New(t.TempDir())
	junit := ws.Junit("BENCHMARK", 0)
	if err := os.MkdirAll(filepath.Dir(junit), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(junit, []byte(`<testsuites><testsuite name="pytest" tests="1"><testcase classname="t" name="ok"/></testsuite></testsuites>`), 0o644); err != nil {
		t.Fatal(err)
	}
	// The job's own results.xml stays as it is.
	if err := os.WriteFile(ws.Results(), []byte("the job's"), 0o644); err != nil {
		t.Fatal(err)
	}
	// While the job runs (no job-result.json yet) only the page is written:
	// the summary would call the running tasks lost.
	code, out := run(t, "--workspace", ws.Dir)
	if code != 0 || !strings.Contains(out, "has not ended") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	if _, err := os.Stat(ws.Summary()); err == nil {
		t.Error("report wrote summary.md for a job that has not ended")
	}
	if err := ws.SaveJobResult(&workspace.JobResult{JobID: "5", Outcome: workspace.OutcomePassed, Verdict: "passed"}); err != nil {
		t.Fatal(err)
	}
	code, out = run(t, "--workspace", ws.Dir)
	if code != 0 || !strings.Contains(out, ws.Report()) || !strings.Contains(out, ws.Summary()) {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	page, err := os.ReadFile(ws.Report())
	if err != nil || !strings.Contains(string(page), "<svg") {
		t.Errorf("report.html: %v\n%.300s", err, page)
	}
	if b, _ := os.ReadFile(ws.Results()); string(b) != "the job's" {
		t.Error("report rewrote results.xml")
	}
	if _, err := os.Stat(ws.Summary()); err != nil {
		t.Errorf("no summary: %v", err)
	}
}

func TestReportUsageErrors(t *testing.T) {
	t.Setenv("NODERUN_WORKSPACE", "")
	t.Setenv("WORKSPACE", "")
	empty := t.TempDir()
	for _, args := range [][]string{nil, {"--workspace", empty}, {"--bogus"}} {
		if code, _ := run(t, args...); code != exitcode.Usage {
			t.Errorf("%q: exit %d, want %d", args, code, exitcode.Usage)
		}
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("a refused report wrote into the directory: %v", entries)
	}
}
