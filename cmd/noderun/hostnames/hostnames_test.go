package hostnames

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/golden"
)

// runApp runs `noderun hostnames args...` through a minimal app wired like
// cmd/noderun's: errors come back from Run, nothing exits.
func runApp(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	log := zerolog.Nop()
	env := &appenv.Env{Log: &log, Stdout: &out, Stderr: &errOut}
	app := &cli.App{
		Name:           "noderun",
		Writer:         &out,
		ErrWriter:      &errOut,
		ExitErrHandler: func(*cli.Context, error) {},
		Commands:       []*cli.Command{NewCommand(env)},
	}
	err = app.Run(append([]string{"noderun", "hostnames"}, args...))
	return out.String(), errOut.String(), err
}

func TestHostnames(t *testing.T) {
	cases := []struct {
		args     []string
		stdout   string
		code     int
		errParts []string
		why      string
	}{
		{[]string{"gpu[01-03,7]"}, "gpu01\ngpu02\ngpu03\ngpu7\n", exitcode.OK, nil, "one name per line, padding kept"},
		{[]string{"r[1-2]n[1-2],login"}, "r1n1\nr1n2\nr2n1\nr2n2\nlogin\n", exitcode.OK, nil, "several groups and plain names"},
		{[]string{"--", "-[1-2]"}, "-1\n-2\n", exitcode.OK, nil, "after --, a name starting with '-' is not a flag"},
		{[]string{"-[1-2]"}, "", exitcode.Usage, []string{"flag provided but not defined"}, "without --, it is an unknown flag: a usage error"},
		{nil, "", exitcode.Usage, []string{"exactly one hostlist expression, got 0"}, "no expression"},
		{[]string{"n1", "n2"}, "", exitcode.Usage, []string{"got 2 arguments", "quote it"}, "two arguments, e.g. an unquoted list split by the shell"},
		{[]string{"n[5-1]"}, "", exitcode.Usage, []string{"column 3", "reversed", "\n  n[5-1]\n    ^"}, "the caret points at the range"},
		{[]string{"gpu[01-"}, "", exitcode.Usage, []string{"column 4", "never closed", "\n  gpu[01-\n     ^"}, "the caret points at the unclosed bracket"},
		{[]string{""}, "", exitcode.Usage, []string{"names no host"}, "an empty expression, e.g. an unset variable"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, _, err := runApp(t, tc.args...)
			if got := exitcode.Of(err); got != tc.code {
				t.Errorf("exit status %d, want %d; err %v (%s)", got, tc.code, err, tc.why)
			}
			if stdout != tc.stdout {
				t.Errorf("stdout %q, want %q (%s)", stdout, tc.stdout, tc.why)
			}
			for _, p := range tc.errParts {
				if err == nil || !strings.Contains(err.Error(), p) {
					t.Errorf("error %v lacks %q (%s)", err, p, tc.why)
				}
			}
		})
	}
}

// The help text is part of the interface; review changes with -update.
func TestHelpGolden(t *testing.T) {
	stdout, _, err := runApp(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "help.golden"), []byte(stdout))
}

func TestCaretOnLongExpression(t *testing.T) {
	// A long node list with its typo at the end: the excerpt around the
	// caret keeps the caret under the bad character.
	expr := strings.Repeat("node1,", 100) + "n[9-1]"
	_, _, err := runApp(t, expr)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) < 3 {
		t.Fatalf("no caret lines in %q", err)
	}
	line, caret := lines[len(lines)-2], lines[len(lines)-1]
	col := strings.Index(caret, "^")
	if col < 0 || col+4 > len(line) || line[col-1:col+4] != "[9-1]" {
		t.Errorf("caret at %d does not point at the range:\n%s\n%s", col, line, caret)
	}
	if len(line) > 200 {
		t.Errorf("the excerpt is %d characters long", len(line))
	}
}
