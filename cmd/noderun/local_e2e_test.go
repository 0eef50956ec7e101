package main

import (
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/noderun/noderun/internal/testbin"
	"github.com/noderun/noderun/internal/workspace"
)

// results is the part of results.xml these tests look at.
type results struct {
	Suites []struct {
		Name  string `xml:"name,attr"`
		Cases []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readResults(t *testing.T, ws string) results {
	t.Helper()
	b, err := os.ReadFile(workspace.New(ws).Results())
	if err != nil {
		t.Fatalf("results.xml: %v", err)
	}
	var r results
	if err := xml.Unmarshal(b, &r); err != nil {
		t.Fatalf("results.xml does not parse: %v", err)
	}
	return r
}

// submitLocal runs `noderun submit --local --wait` on an example config, as
// the README demo does, and returns the exit status and the workspace.
func submitLocal(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	bin := testbin.Path(t)
	root := testbin.RepoRoot(t)
	ws := filepath.Join(t.TempDir(), "ws")
	argv := append([]string{"--log-format", "json", "submit", "--local", "--wait", "--workspace", ws,
		"--test-root", filepath.Join(root, "examples/tests"), "--kill-grace", "1s", "--after-deciding", "2s"}, args...)
	cmd := exec.Command(bin, argv...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, ws, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), ws, string(out)
	}
	t.Fatalf("run noderun: %v", err)
	return 0, "", ""
}

// roleCases counts, per role (the suite name's first part), testcases and
// those that failed or errored.
func roleCases(r results) (cases, bad map[string]int) {
	cases, bad = map[string]int{}, map[string]int{}
	for _, s := range r.Suites {
		role, _, _ := strings.Cut(s.Name, "/")
		for _, c := range s.Cases {
			cases[role]++
			if c.Failure != nil || c.Error != nil {
				bad[role]++
			}
		}
	}
	return cases, bad
}

func TestLocalJobs(t *testing.T) {
	if _, err := exec.LookPath("pytest"); err != nil {
		t.Skip("pytest is not installed (Debian: python3-pytest)")
	}
	tests := []struct {
		name     string
		env      []string
		args     []string
		wantCode bool // non-zero exit expected
		roles    []string
		badRole  string // the role whose results must hold the failure
		badText  string // text the failure or error must contain
		testID   string // expected test id in test_list.txt and in the tasks' pytest argv
	}{
		// The README demo: every role of a disaggregated job passes.
		{name: "disaggregated passes", args: []string{"--config", "examples/trtllm/tests/scripts/perf-sanity/disaggregated/disagg-tiny.yaml"},
			roles: []string{"GEN_0", "CTX_0", "DISAGG_SERVER", "BENCHMARK"}},
		// One worker step across two simulated nodes; a DISAGG_SERVING_TYPE
		// left in the submitting shell must not change the workers' role.
		{name: "aggregated passes", env: []string{"DISAGG_SERVING_TYPE=BENCHMARK"}, args: []string{"--config", "examples/trtllm/tests/scripts/perf-sanity/aggregated/agg-tiny.yaml", "--server-name", "tiny_tp4", "--test-prefix", "aggr"},
			roles: []string{"WORKER"}},
		// The benchmark's failure is the job's verdict and is in results.xml.
		{name: "failing benchmark", env: []string{"EXAMPLE_FAIL_BENCHMARK=1"}, args: []string{"--config", "examples/trtllm/tests/scripts/perf-sanity/disaggregated/disagg-tiny.yaml"},
			wantCode: true, roles: []string{"BENCHMARK"}, badRole: "BENCHMARK", badText: "EXAMPLE_FAIL_BENCHMARK"},
		// A worker that dies without junit becomes an error with its log tail.
		{name: "crashed worker", env: []string{"EXAMPLE_CRASH_ROLE=CTX_0"}, args: []string{"--config", "examples/trtllm/tests/scripts/perf-sanity/disaggregated/disagg-tiny.yaml"},
			wantCode: true, roles: []string{"CTX_0", "GEN_0"}, badRole: "CTX_0", badText: "exit"},
		// The seed's request: a custom module and prefix reach pytest's argv.
		{name: "custom prefix", env: []string{"PERF_TEST_PREFIX=custom_test"}, args: []string{"--config", "examples/trtllm/tests/scripts/perf-sanity/disaggregated/disagg-tiny.yaml"},
			roles: []string{"BENCHMARK"}, testID: "perf/test_perf_sanity.py::test_e2e[custom_test-disagg-tiny]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, ws, out := submitLocal(t, tc.env, tc.args...)
			if (code != 0) != tc.wantCode {
				t.Fatalf("exit status %d, want non-zero=%v\n%s", code, tc.wantCode, out)
			}
			cases, bad := roleCases(readResults(t, ws))
			for _, role := range tc.roles {
				if cases[role] == 0 {
					t.Errorf("no testcases for role %s in results.xml (have %v)", role, cases)
				}
			}
			if tc.badRole == "" {
				if len(bad) != 0 {
					t.Errorf("failures in a passing job: %v", bad)
				}
			} else {
				if bad[tc.badRole] == 0 {
					t.Errorf("no failure or error for %s in results.xml: %v", tc.badRole, bad)
				}
				b, _ := os.ReadFile(workspace.New(ws).Results())
				if !strings.Contains(string(b), tc.badText) {
					t.Errorf("results.xml lacks %q", tc.badText)
				}
			}
			if tc.testID != "" {
				l := workspace.New(ws)
				list, _ := os.ReadFile(l.TestList())
				log, _ := os.ReadFile(l.TaskLog("BENCHMARK", 0))
				if string(list) != tc.testID+"\n" || !strings.Contains(string(log), `"`+tc.testID+`"`) {
					t.Errorf("test id %q: test_list.txt %q, benchmark log:\n%s", tc.testID, list, log)
				}
			}
			res, err := workspace.New(ws).LoadJobResult()
			if err != nil || (res.ExitCode != 0) != tc.wantCode || res.ExitCode != code {
				t.Errorf("job-result.json: %+v %v (exit status %d)", res, err, code)
			}
		})
	}
}
