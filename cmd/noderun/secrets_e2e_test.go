package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/noderun/noderun/internal/testbin"
	"github.com/noderun/noderun/internal/workspace"
)

// TestLocalSecretsStayOut plants secrets everywhere a user can put one —
// the submitting environment, --setup, --pytest-arg and the config's env —
// runs a real local job with debug logs, and searches noderun's output and
// every file of the workspace for the values, but job.json (the one file
// that must hold them, mode 0600) and what the test itself wrote.
func TestLocalSecretsStayOut(t *testing.T) {
	if _, err := exec.LookPath("pytest"); err != nil {
		t.Skip("pytest is not installed (Debian: python3-pytest)")
	}
	const (
		envSecret    = "envsecret-HF-7f3a9c"
		setupSecret  = "setupsecret-41d2e8"
		pytestSecret = "pyargsecret-0b5c17"
		configSecret = "cfgsecret-9e6d44"
	)
	root := testbin.RepoRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "examples/trtllm/tests/scripts/perf-sanity/disaggregated/disagg-tiny.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(src), `server_env_var: "EXAMPLE_SERVER_FLAG=1"`,
		`server_env_var: "EXAMPLE_SERVER_FLAG=1 EXAMPLE_PASSWORD=`+configSecret+`"`, 1)
	if cfg == string(src) {
		t.Fatal("the example config changed: no server_env_var line to add a secret to")
	}
	config := filepath.Join(t.TempDir(), "disagg-tiny.yaml")
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	code, ws, out := submitLocal(t, []string{"HF_TOKEN=" + envSecret, "NODERUN_LOG_LEVEL=debug"},
		"--config", config,
		"--setup", "env SETUP_TOKEN="+setupSecret+" true",
		"--pytest-arg=-oAPI_TOKEN="+pytestSecret)
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, out)
	}
	secrets := []string{envSecret, setupSecret, pytestSecret, configSecret}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("noderun's output holds the secret %s", s)
		}
	}
	l := workspace.New(ws)
	spec, err := os.Stat(l.Spec())
	if err != nil {
		t.Fatal(err)
	}
	if spec.Mode().Perm() != 0o600 {
		t.Errorf("job.json has mode %v, want 0600: it holds the job's secrets", spec.Mode().Perm())
	}
	searched := 0
	err = filepath.WalkDir(ws, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == l.Spec() {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		switch rel := l.Rel(path); {
		case strings.HasPrefix(rel, "bin/"):
			return nil // the noderun binary
		case strings.HasPrefix(rel, "test_output/"):
			// The example test's own records of the env it saw: the
			// child's files, not noderun's.
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		searched++
		for _, s := range secrets {
			if i := bytes.Index(data, []byte(s)); i >= 0 {
				line := data[bytes.LastIndexByte(data[:i], '\n')+1:]
				if k := bytes.IndexByte(line, '\n'); k >= 0 {
					line = line[:k]
				}
				t.Errorf("%s holds the secret %s: %.300s", l.Rel(path), s, line)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if searched < 10 {
		t.Errorf("only %d files searched: the job left less than it should", searched)
	}
	for _, rec := range mustRecords(t, l) {
		info, err := os.Stat(l.TaskRecord(rec.Role, rec.Rank))
		if err == nil && info.Mode().Perm() != 0o600 {
			t.Errorf("task record %s/%d has mode %v, want 0600", rec.Role, rec.Rank, info.Mode().Perm())
		}
	}
}

func mustRecords(t *testing.T, l workspace.Layout) []*workspace.TaskRecord {
	t.Helper()
	recs, errs := l.TaskRecords()
	if len(errs) > 0 || len(recs) == 0 {
		t.Fatalf("task records: %d, %v", len(recs), errs)
	}
	return recs
}
