package launcher

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
)

// fixture runs `submit` through a cli app built from Request.Flags, as
// cmd/noderun does, with the outside world replaced.
type fixture struct {
	root   string
	exe    string
	stdout bytes.Buffer
	sched  Scheduler
	local  LocalRunner
	term   bool
	sleeps []time.Duration
	// sleepErr is what Sleep returns, e.g. a cancelled context.
	sleepErr error
	// sleepHook runs after each recorded sleep.
	sleepHook func()
	// sigs are the follower's signals (buffered: a test sends before it runs).
	sigs chan os.Signal
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clearEnv(t)
	f := &fixture{root: t.TempDir(), sigs: make(chan os.Signal, 2)}
	// The "binary" copied to WS/bin/noderun prints its arguments, so the
	// stub can be executed to see what its exec line passes.
	f.exe = filepath.Join(f.root, "fake-noderun")
	writeFile(t, f.exe, "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n", 0o755)
	for _, c := range []string{"disagg-tiny.yaml", "gen-only-no-context.yaml", "aggr-tiny.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata/configs", c))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(f.root, "configs", c), string(data), 0o644)
	}
	return f
}

func (f *fixture) path(p ...string) string { return filepath.Join(append([]string{f.root}, p...)...) }

func (f *fixture) launcher() *Launcher {
	if f.sched == nil {
		// Never the machine's own Slurm: a dry run would ask it.
		f.sched = &fakeScheduler{id: "42"}
	}
	return New(Options{
		Log:        zerolog.Nop(),
		Stdout:     &f.stdout,
		Scheduler:  f.sched,
		Local:      f.local,
		Executable: func() (string, error) { return f.exe, nil },
		Sleep: func(ctx context.Context, d time.Duration) error {
			f.sleeps = append(f.sleeps, d)
			if f.sleepHook != nil {
				f.sleepHook()
			}
			return f.sleepErr
		},
		IsTerminal:   func(io.Writer) bool { return f.term },
		Signals:      f.sigs,
		SubmissionID: func() string { return "feedc0defeedc0de" },
	})
}

// run executes `noderun submit ARGS…` and returns its error.
func (f *fixture) run(args ...string) error {
	var req Request
	l := f.launcher()
	app := &cli.App{
		Name:           "noderun",
		Writer:         io.Discard,
		ErrWriter:      io.Discard,
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{{
			Name:   "submit",
			Flags:  req.Flags(),
			Action: func(c *cli.Context) error { return l.Submit(c.Context, req) },
		}},
	}
	return app.Run(append([]string{"noderun", "submit"}, args...))
}

// stable replaces the temporary root so that outputs can be compared with
// golden files.
func (f *fixture) stable(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte(f.root), []byte("/ROOT"))
}

// clearEnv unsets every variable a submit flag reads, so that the test
// machine's environment (a CI's WORKSPACE, say) cannot leak in.
func clearEnv(t *testing.T) {
	t.Helper()
	var req Request
	for _, fl := range req.Flags() {
		var envs []string
		switch fl := fl.(type) {
		case *cli.StringFlag:
			envs = fl.EnvVars
		case *cli.BoolFlag:
			envs = fl.EnvVars
		case *cli.IntFlag:
			envs = fl.EnvVars
		case *cli.DurationFlag:
			envs = fl.EnvVars
		case *cli.GenericFlag:
			envs = fl.EnvVars
		default:
			t.Fatalf("clearEnv: unknown flag type %T", fl)
		}
		for _, e := range envs {
			t.Setenv(e, "")
			os.Unsetenv(e)
		}
	}
}

func writeFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}

// listDir returns the names under dir, recursively, for "nothing written" checks.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir {
			names = append(names, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	return names
}
