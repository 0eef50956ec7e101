package submit

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/golden"
)

// run executes `noderun submit ARGS…` as the app does and returns stdout.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout bytes.Buffer
	log := zerolog.Nop()
	env := &appenv.Env{Log: &log, Stdout: &stdout, Stderr: io.Discard}
	app := &cli.App{
		Name:           "noderun",
		Writer:         &stdout,
		ErrWriter:      io.Discard,
		ExitErrHandler: func(*cli.Context, error) {},
		Commands:       []*cli.Command{NewCommand(env)},
	}
	err := app.Run(append([]string{"noderun", "submit"}, args...))
	return stdout.String(), err
}

// The help is the flag reference users read: every flag with its env vars
// and default. A change to it is deliberate (go test -update).
func TestHelp(t *testing.T) {
	clearEnv(t)
	got, err := run(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "help.golden"), []byte(got))
	for _, name := range []string{"PERF_TEST_MODULE", "PERF_TEST_FUNCTION", "PERF_TEST_PREFIX", "CONFIG_NAME", "WORKSPACE",
		"CLUSTER_PARTITION", "CLUSTER_ACCOUNT", "TRTLLM_DIR", "--local", "--dry-run", "--wait"} {
		if !strings.Contains(got, name) {
			t.Errorf("help does not mention %s", name)
		}
	}
}

// The command is wired to the launcher: a dry run writes the workspace and
// prints the plan; a bad value exits 2.
func TestCommand(t *testing.T) {
	clearEnv(t)
	ws := filepath.Join(t.TempDir(), "ws")
	out, err := run(t, "--workspace", ws, "--config", "../../../launcher/testdata/configs/disagg-tiny.yaml", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "BENCHMARK") || !strings.Contains(out, "#SBATCH --nodes=4") {
		t.Errorf("stdout:\n%s", out)
	}
	for _, f := range []string{"job.json", "test_list.txt", "job.sbatch", "bin/noderun"} {
		if _, err := os.Stat(filepath.Join(ws, f)); err != nil {
			t.Error(err)
		}
	}
	_, err = run(t, "--workspace", ws, "--config-name", "x;touch /tmp/pwned")
	if exitcode.Of(err) != exitcode.Usage {
		t.Errorf("exit status %d (%v), want 2", exitcode.Of(err), err)
	}
}

// clearEnv unsets every variable a flag reads: urfave/cli shows a value
// found in the environment as the default, and CI sets some (WORKSPACE).
func clearEnv(t *testing.T) {
	t.Helper()
	log := zerolog.Nop()
	for _, f := range NewCommand(&appenv.Env{Log: &log}).Flags {
		ev, ok := f.(interface{ GetEnvVars() []string })
		if !ok {
			t.Fatalf("flag %T has no env vars", f)
		}
		for _, name := range ev.GetEnvVars() {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

// A value the flag parser itself rejects is a usage error as well, whether
// it came from the command line or the environment.
func TestFlagParseErrors(t *testing.T) {
	clearEnv(t)
	_, err := run(t, "--workspace", t.TempDir(), "--config-name", "x", "--kill-grace", "soon")
	if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "kill-grace") {
		t.Errorf("flag: exit %d (%v), want 2 naming kill-grace", exitcode.Of(err), err)
	}
	t.Setenv("NODERUN_STEP_TIMEOUT", "forever")
	_, err = run(t, "--workspace", t.TempDir(), "--config-name", "x")
	if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "NODERUN_STEP_TIMEOUT") {
		t.Errorf("env: exit %d (%v), want 2 naming NODERUN_STEP_TIMEOUT", exitcode.Of(err), err)
	}
}
