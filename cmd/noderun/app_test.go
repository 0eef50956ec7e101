package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/noderun/noderun/internal/exitcode"
)

// runApp drives the app as main does and returns the exit status and stderr
// with main's error line.
func runApp(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := NewApp(Options{Stdout: &stdout, Stderr: &stderr, Version: "v1.2.3, revision abc"}).Run(append([]string{"noderun"}, args...))
	if err != nil && !isSilent(err) {
		stderr.WriteString("noderun: " + err.Error() + "\n")
	}
	return exitcode.Of(err), stdout.String(), stderr.String()
}

// Every usage error of every subcommand exits 2, whichever layer finds it:
// urfave/cli (unknown command or flag, bad value), a Before hook, or an Action.
// The message names what is wrong.
func TestUsageErrors(t *testing.T) {
	t.Setenv("NODERUN_SPEC", "")
	t.Setenv("NODERUN_RUN_ROLE", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},         // urfave/cli would exit 3
		{[]string{"help", "bogus"}, `unknown command "bogus"`}, // the same through `help`
		{[]string{"--bogus"}, "-bogus"},
		{[]string{"--log-format", "xml", "gpus"}, "unknown log format"},
		{[]string{"run"}, "--spec (or NODERUN_SPEC) is required"}, // urfave/cli's Required would exit 1
		{[]string{"job"}, "--spec (or NODERUN_SPEC) is required"},
		{[]string{"run", "--spec", "x.json"}, "--role"},
		{[]string{"run", "--bogus"}, "-bogus"},
		{[]string{"job", "--spec", "/nonexistent/job.json"}, "job.json"},
		{[]string{"submit", "--kill-grace", "soon"}, "kill-grace"},
		{[]string{"submit"}, "--workspace"},
		{[]string{"merge"}, "nothing to merge"},
		{[]string{"gpus", "--mode", "all"}, "--mode"},
		{[]string{"hostnames"}, "exactly one hostlist"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runApp(t, tc.args...)
			if code != exitcode.Usage {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, exitcode.Usage, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, stderr)
			}
		})
	}
}

// --version prints what main found in the build info.
func TestVersionFlag(t *testing.T) {
	code, stdout, _ := runApp(t, "--version")
	if code != 0 || stdout != "noderun version v1.2.3, revision abc\n" {
		t.Errorf("--version: status %d, output %q", code, stdout)
	}
}

func TestBuildVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, "unknown (no build information)"},
		// go build in a git checkout: the pseudo-version and the revision.
		{"stamped", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20261130101912-cde4cc7deea1"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "cde4cc7deea1"}, {Key: "vcs.modified", Value: "false"}}},
			true, "v0.0.0-20261130101912-cde4cc7deea1, revision cde4cc7deea1, go1.26.0"},
		{"modified", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "cde4cc7deea1"}, {Key: "vcs.modified", Value: "true"}}},
			true, "(devel), revision cde4cc7deea1 with local changes, go1.26.0"},
		// -buildvcs=false, a git worktree, or a source tarball.
		{"unstamped", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			true, "(devel), revision unknown (built without VCS information), go1.26.0"},
	} {
		if got := buildVersion(tc.info, tc.ok); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
