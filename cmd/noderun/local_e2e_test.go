package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/slurmlab"
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
	return submitLocalIn(t, env, append([]string{"--test-root", filepath.Join(testbin.RepoRoot(t), "examples/tests")}, args...)...)
}

// submitLocalIn is submitLocal without a test root of its own.
func submitLocalIn(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	bin := testbin.Path(t)
	root := testbin.RepoRoot(t)
	ws := filepath.Join(t.TempDir(), "ws")
	argv := append([]string{"--log-format", "json", "submit", "--local", "--wait", "--workspace", ws,
		"--kill-grace", "1s", "--after-deciding", "2s"}, args...)
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
		deciding string // the role whose rank 0 keeps pytest's testcase identity
	}{
		// The README demo: every role of a disaggregated job passes.
		{name: "disaggregated passes", args: []string{"--config", "examples/trtllm/tests/scripts/perf-sanity/disaggregated/disagg-tiny.yaml"},
			roles: []string{"GEN_0", "CTX_0", "DISAGG_SERVER", "BENCHMARK"}, deciding: "BENCHMARK"},
		// One worker step across two simulated nodes; a DISAGG_SERVING_TYPE
		// left in the submitting shell must not change the workers' role.
		{name: "aggregated passes", env: []string{"DISAGG_SERVING_TYPE=BENCHMARK"}, args: []string{"--config", "examples/trtllm/tests/scripts/perf-sanity/aggregated/agg-tiny.yaml", "--server-name", "tiny_tp4", "--test-prefix", "aggr"},
			roles: []string{"WORKER"}, deciding: "WORKER"},
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
			if tc.deciding != "" {
				checkIdentity(t, ws, tc.deciding)
			}
			res, err := workspace.New(ws).LoadJobResult()
			if err != nil || (res.ExitCode != 0) != tc.wantCode || res.ExitCode != code {
				t.Errorf("job-result.json: %+v %v (exit status %d)", res, err, code)
			}
		})
	}
}

// exampleRecord is what the TensorRT-LLM stand-in's test writes for each
// pytest process: the contract clauses it found broken.
type exampleRecord struct {
	Violations      []string `json:"violations"`
	CrossViolations []string `json:"cross_violations"`
	UnderLauncher   bool     `json:"under_launcher"`
}

// TensorRT-LLM mode end to end in the local simulation: with only the CI
// environment and the test id settings, the stand-in of TensorRT-LLM's test
// (examples/trtllm) passes in the three layouts, and fails when noderun
// breaks a clause of the contract.
func TestLocalTensorRTLLM(t *testing.T) {
	if _, err := exec.LookPath("pytest"); err != nil {
		t.Skip("pytest is not installed (Debian: python3-pytest)")
	}
	root := testbin.RepoRoot(t)
	ci := []string{"TRTLLM_DIR=" + filepath.Join(root, "examples", "trtllm"), "stageName=GB200-PerfSanity-1",
		"LLM_MODELS_ROOT=" + t.TempDir(), "NVIDIA_IMEX_CHANNELS=0", "HF_TOKEN=hf_e2e_secret",
		"OPEN_SEARCH_DB_BASE_URL=http://db.invalid", "EXAMPLE_EXPECT_CI_ENV=HF_TOKEN,OPEN_SEARCH_DB_BASE_URL"}
	tests := []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		launched string   // a role whose pytest must run under the launcher
		tod      string   // the test's output directory, WS/<id bracket>
		logs     []string // role logs the runner writes there
		done     string   // the GEN done file the supervisor touches there
	}{
		{name: "disaggregated e2e", env: []string{"CONFIG_NAME=disagg-tiny", "PERF_TEST_PREFIX=disagg_upload-e2e"},
			launched: "GEN_0", tod: "disagg_upload-e2e-disagg-tiny", logs: []string{"gen_server_0.log", "ctx_server_0.log", "disagg_server.log"}, done: "gen_server_0.done"},
		{name: "disaggregated gen_only", env: []string{"CONFIG_NAME=disagg-tiny", "PERF_TEST_PREFIX=disagg_upload-gen_only"},
			launched: "GEN_0", tod: "disagg_upload-gen_only-disagg-tiny", logs: []string{"gen_server_0.log"}, done: "gen_server_0.done"},
		{name: "aggregated across 2 nodes", env: []string{"CONFIG_NAME=agg_2nodes", "PERF_TEST_PREFIX=aggr_upload"},
			args: []string{"--server-name", "tiny_tp4"}, launched: "WORKER"},
		// A --test-prefix other than $stageName breaks §3: the stand-in
		// notices and the job fails, so a change that breaks a clause fails
		// this test.
		{name: "broken clause fails", env: []string{"CONFIG_NAME=disagg-tiny", "PERF_TEST_PREFIX=disagg_upload-e2e"},
			args: []string{"--stage-name", "another-stage"}, wantCode: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, ws, out := submitLocalIn(t, append(append([]string(nil), ci...), tc.env...), tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit status %d, want %d\n%s", code, tc.wantCode, out)
			}
			recs, _ := filepath.Glob(filepath.Join(ws, "test_output", "*.json"))
			if len(recs) == 0 {
				t.Fatalf("the stand-in left no records in %s", ws)
			}
			broken := 0
			for _, f := range recs {
				var r exampleRecord
				b, err := os.ReadFile(f)
				if err == nil {
					err = json.Unmarshal(b, &r)
				}
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				broken += len(r.Violations)
				if tc.wantCode == 0 && len(r.Violations)+len(r.CrossViolations) > 0 {
					t.Errorf("%s: %v %v", filepath.Base(f), r.Violations, r.CrossViolations)
				}
				if tc.launched != "" && strings.HasPrefix(filepath.Base(f), tc.launched+".") && !r.UnderLauncher {
					t.Errorf("%s: pytest did not run under the launcher", filepath.Base(f))
				}
			}
			if tc.wantCode != 0 && broken == 0 {
				t.Errorf("the job failed, but no role recorded a broken clause:\n%s", out)
			}
			if tc.launched != "" {
				if l, _ := filepath.Glob(filepath.Join(ws, "test_output", "launcher", tc.launched+".*.json")); len(l) < 2 {
					t.Errorf("launcher records of %s: %v, want one per task (at least 2)", tc.launched, l)
				}
			}
			for _, name := range append(tc.logs, tc.done) {
				if name == "" {
					continue
				}
				if _, err := os.Stat(filepath.Join(ws, tc.tod, name)); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			spec, _ := os.ReadFile(workspace.New(ws).Spec())
			if strings.Contains(string(spec), "hf_e2e_secret") {
				t.Error("job.json holds the CI's HF_TOKEN")
			}
		})
	}
}

// startLocal starts `noderun submit --local --wait` on the disaggregated
// example with benchmarks that run a minute, and returns once BENCHMARK's
// child runs.
func startLocal(t *testing.T, args ...string) (*exec.Cmd, string, *bytes.Buffer) {
	t.Helper()
	root := testbin.RepoRoot(t)
	ws := filepath.Join(t.TempDir(), "ws")
	argv := append([]string{"--log-format", "json", "submit", "--local", "--wait", "--workspace", ws,
		"--test-root", filepath.Join(root, "examples/tests"),
		"--config", "examples/trtllm/tests/scripts/perf-sanity/disaggregated/disagg-tiny.yaml"}, args...)
	cmd := exec.Command(testbin.Path(t), argv...)
	var out bytes.Buffer
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = root, append(os.Environ(), "EXAMPLE_SLEEP=60"), &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	rec := workspace.New(ws).TaskRecord("BENCHMARK", 0)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r, err := workspace.LoadTaskRecord(rec); err == nil && r.State == workspace.StateRunning {
			return cmd, ws, &out
		}
		if time.Now().After(deadline) {
			t.Fatalf("BENCHMARK never ran\n%s", out.String())
		}
	}
}

// noProcessesLeft fails the test with every process of the workspace that
// is still there after d: each names the workspace in argv or environment.
func noProcessesLeft(t *testing.T, ws string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if left, err := slurmlab.WaitNoProcesses(ctx, ws); err != nil {
		for _, p := range left {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
			t.Errorf("outlived the job: %s", p)
		}
	}
}

// kill -9 of `submit --local` leaves nothing behind: the runners die with
// their supervisor, stopping their children as on scancel.
func TestLocalKill9LeavesNothing(t *testing.T) {
	if _, err := exec.LookPath("pytest"); err != nil {
		t.Skip("pytest is not installed (Debian: python3-pytest)")
	}
	cmd, ws, _ := startLocal(t, "--kill-grace", "1s")
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	noProcessesLeft(t, ws, 10*time.Second)
}

// Ctrl-C with the default kill grace: the supervisor waits for the runners,
// so every junit file pytest wrote is in results.xml, and nothing is left.
func TestLocalInterrupt(t *testing.T) {
	if _, err := exec.LookPath("pytest"); err != nil {
		t.Skip("pytest is not installed (Debian: python3-pytest)")
	}
	cmd, ws, out := startLocal(t)
	// Past pytest's start: a pytest interrupted while it imports writes
	// nothing. The stand-in test writes test_output/<role>.<rank>.json once
	// it runs; a fixed 3 s was too short on a loaded CI machine.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if seen, _ := filepath.Glob(filepath.Join(ws, "test_output", "*.json")); len(seen) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no task's pytest reached its test within 30 s\n%s", out.String())
		}
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	noProcessesLeft(t, ws, 5*time.Second)
	b, err := os.ReadFile(workspace.New(ws).Results())
	if err != nil {
		t.Fatalf("results.xml: %v\n%s", err, out.String())
	}
	junits, _ := filepath.Glob(filepath.Join(workspace.New(ws).ResultsDir(), "*", "*.xml"))
	if len(junits) == 0 {
		t.Errorf("pytest wrote no junit file on SIGINT\n%s", out.String())
	}
	for _, j := range junits {
		if rel := workspace.New(ws).Rel(j); strings.Contains(string(b), "no junit file ("+rel+")") {
			t.Errorf("results.xml reports %s missing, which pytest wrote", rel)
		}
	}
}
