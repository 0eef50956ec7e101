package launcher

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/golden"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

func TestSubmitGolden(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		// args get ROOT replaced by the fixture's temporary root.
		args []string
	}{
		// A disaggregated e2e config with every Slurm and pytest knob set:
		// commas in --srun-arg stay in one argument, sbatch values get quoted.
		{"disagg-e2e", nil, []string{
			"--workspace", "ROOT/ws", "--config", "ROOT/configs/disagg-tiny.yaml", "--test-root", "ROOT/defs",
			"--mpi", "pmix", "--partition", "batch", "--account", "perf", "--job-name", "perf run #1 'tiny'",
			"--pytest-arg=-v", "--pytest-arg=--output-dir=ROOT/out", "--srun-arg=--container-mounts=/a:/a,/b:/b",
			"--sbatch-arg=--exclusive", "--sbatch-arg=--constraint=a|b", "--setup", `bash install.sh "--opt=a b"`,
			"--dry-run",
		}},
		// No CTX servers, one GEN; the config found by name in --config-dir;
		// no GPU gres on this cluster.
		{"gen-only-no-context", nil, []string{
			"--workspace", "ROOT/ws", "--config-name", "gen-only-no-context", "--config-dir", "ROOT/configs",
			"--test-root", "ROOT/defs", "--no-gres-gpus", "--time", "10", "--dry-run",
		}},
		// Aggregated: the server name ends the test id; no DISAGG_SERVING_TYPE.
		{"aggr-server", nil, []string{
			"--workspace", "ROOT/ws", "--config", "ROOT/configs/aggr-tiny.yaml", "--server-name", "tiny_tp4",
			"--test-prefix", "aggr_upload", "--test-root", "ROOT/defs", "--dry-run",
		}},
		// The seed's request, entirely from CI's environment: module and
		// prefix from PERF_TEST_*, the config found through TRTLLM_DIR, and
		// the test root defaulting to TRTLLM_DIR/tests/integration/defs. A
		// custom prefix is a plain pytest suite's: plain mode, asked for.
		{"custom-prefix", map[string]string{
			"PERF_TEST_MODULE":  "perf/test_perf_enhanced.py",
			"PERF_TEST_PREFIX":  "custom_test",
			"CONFIG_NAME":       "disagg-tiny",
			"TRTLLM_DIR":        "ROOT/trtllm",
			"WORKSPACE":         "ROOT/ws",
			"NODERUN_DRY_RUN":   "true",
			"NODERUN_TEST_MODE": "plain",
		}, nil},
		// TensorRT-LLM mode from CI's environment alone: TRTLLM_DIR turns it
		// on; the prefix defaults to the form the test reads for an e2e
		// config; the launcher on the multi-node workers, the conftest's
		// options, role logs under TOD.
		{"trtllm-e2e", map[string]string{
			"CONFIG_NAME":     "disagg-tiny",
			"TRTLLM_DIR":      "ROOT/trtllm",
			"WORKSPACE":       "ROOT/ws",
			"NODERUN_DRY_RUN": "true",
			"stageName":       "GB200-8_GPUs-PyTorch-PerfSanity-1",
		}, nil},
		// gen_only in TensorRT-LLM mode: the GEN servers' queue size from the
		// first concurrency, a waives file copied, splits passed on.
		{"trtllm-gen-only", map[string]string{"stageName": "S1"}, []string{
			"--workspace", "ROOT/ws", "--config", "ROOT/configs/disagg-tiny.yaml", "--test-prefix", "disagg_upload-gen_only",
			"--trtllm-dir", "ROOT/trtllm", "--waives-file", "ROOT/configs/waives.txt", "--splits", "2", "--group", "2",
			"--pytest-timeout", "60", "--dry-run",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			data, _ := os.ReadFile(f.path("configs", "disagg-tiny.yaml"))
			writeFile(t, f.path("trtllm/tests/scripts/perf-sanity/disaggregated/disagg-tiny.yaml"), string(data), 0o644)
			writeFile(t, f.path("configs/waives.txt"), "perf/test_perf_sanity.py::test_e2e[x] SKIP (reason)\n", 0o644)
			for k, v := range tt.env {
				t.Setenv(k, strings.ReplaceAll(v, "ROOT", f.root))
			}
			var args []string
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "ROOT", f.root))
			}
			if err := f.run(args...); err != nil {
				t.Fatalf("submit: %v", err)
			}
			ws := workspace.New(f.path("ws"))
			files := []string{ws.Spec(), ws.TestList(), ws.Sbatch()}
			if _, err := os.Stat(ws.Waives()); err == nil {
				files = append(files, ws.Waives())
			}
			for _, file := range files {
				got, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				golden.Check(t, filepath.Join("testdata", "golden", tt.name, filepath.Base(file)), f.stable(got))
			}
			golden.Check(t, filepath.Join("testdata", "golden", tt.name, "stdout.txt"), f.stable(f.stdout.Bytes()))
			if _, err := jobspec.Load(ws.Spec()); err != nil {
				t.Errorf("written spec does not load: %v", err)
			}
			for _, file := range []string{ws.Sbatch(), ws.Binary()} {
				if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o755 {
					t.Errorf("%s: mode %v, err %v; want 0755", file, fi.Mode(), err)
				}
			}
		})
	}
}

// The seed's case, checked directly rather than only through golden files:
// the configured id is in the test list and is pytest's last argument in
// every role.
func TestSubmitCustomTestID(t *testing.T) {
	f := newFixture(t)
	t.Setenv("PERF_TEST_MODULE", "perf/test_perf_enhanced.py")
	t.Setenv("PERF_TEST_PREFIX", "custom_test")
	if err := f.run("--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml"), "--dry-run"); err != nil {
		t.Fatal(err)
	}
	const want = "perf/test_perf_enhanced.py::test_e2e[custom_test-disagg-tiny]"
	ws := workspace.New(f.path("ws"))
	list, _ := os.ReadFile(ws.TestList())
	if string(list) != want+"\n" {
		t.Errorf("test_list.txt = %q, want %q", list, want+"\n")
	}
	spec, err := jobspec.Load(ws.Spec())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range spec.Steps {
		argv := s.Command.Argv
		if argv[0] != "pytest" || argv[len(argv)-1] != want {
			t.Errorf("%s: argv %q, want pytest … %s", s.Role, argv, want)
		}
	}
}

// Same inputs, same bytes: the files depend on nothing but the request.
func TestSubmitDeterministic(t *testing.T) {
	f := newFixture(t)
	args := []string{"--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml"), "--test-root", f.path("defs"),
		"--srun-arg=--x=1", "--sbatch-arg=--exclusive", "--dry-run"}
	ws := workspace.New(f.path("ws"))
	read := func() [][]byte {
		var out [][]byte
		for _, p := range []string{ws.Spec(), ws.TestList(), ws.Sbatch()} {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return append(out, bytes.Clone(f.stdout.Bytes()))
	}
	if err := f.run(args...); err != nil {
		t.Fatal(err)
	}
	first := read()
	f.stdout.Reset()
	if err := f.run(args...); err != nil {
		t.Fatal(err)
	}
	for i, b := range read() {
		if !bytes.Equal(b, first[i]) {
			t.Errorf("output %d differs between two runs:\n%s\n---\n%s", i, first[i], b)
		}
	}
}

// A value that would run a command is refused before anything is written,
// with exit status 2 and a message that names the flag, its environment
// variables and the character; and nothing runs it.
func TestSubmitInjectionRefused(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"config name flag", nil, []string{"--config-name", "x;touch PWNED"},
			`--config-name (env NODERUN_CONFIG_NAME or CONFIG_NAME): ";" is not allowed in a config name: x;touch PWNED`},
		{"config name from CI env", map[string]string{"CONFIG_NAME": "x;touch PWNED"}, nil,
			`--config-name (env NODERUN_CONFIG_NAME or CONFIG_NAME): ";" is not allowed in a config name`},
		{"prefix closing the bracket", map[string]string{"PERF_TEST_PREFIX": "a]$(touch PWNED)"}, []string{"--config-name", "disagg-tiny"},
			`--test-prefix (env NODERUN_TEST_PREFIX or PERF_TEST_PREFIX): "]" is not allowed in a test prefix`},
		{"module with backtick", map[string]string{"PERF_TEST_MODULE": "perf/`touch PWNED`.py"}, []string{"--config-name", "disagg-tiny"},
			"--test-module (env NODERUN_TEST_MODULE or PERF_TEST_MODULE): \"`\" is not allowed in a test module"},
		{"absolute module", nil, []string{"--config-name", "disagg-tiny", "--test-module", "/tmp/x.py"},
			"--test-module (env NODERUN_TEST_MODULE or PERF_TEST_MODULE): an absolute path is not allowed"},
		{"function with space", nil, []string{"--config-name", "disagg-tiny", "--test-function", "test_e2e or 1"},
			`--test-function (env NODERUN_TEST_FUNCTION or PERF_TEST_FUNCTION): " " is not allowed in a test function`},
		{"server name with quote", nil, []string{"--config", "ROOT/configs/aggr-tiny.yaml", "--server-name", "a'b"},
			`--server-name (env NODERUN_SERVER_NAME): "'" is not allowed in a server name`},
		{"config env command substitution", nil, []string{"--config", "ROOT/bad.yaml"},
			`bad.yaml:6: environment.worker_env_var: command substitution is not allowed in "\"B=$(touch PWNED)\""`},
		{"setup with command substitution", nil, []string{"--config-name", "disagg-tiny", "--setup", "sh -c $(touch PWNED)"},
			"--setup (env NODERUN_SETUP): command substitution is not allowed"},
		{"pytest args env with expansion", map[string]string{"NODERUN_PYTEST_ARGS": "-k $(touch PWNED)"}, []string{"--config-name", "disagg-tiny"},
			"--pytest-arg (env NODERUN_PYTEST_ARGS): command substitution is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			pwned := f.path("PWNED")
			writeFile(t, f.path("bad.yaml"), "hardware:\n  gpus_per_node: 1\n  num_ctx_servers: 1\n  num_gen_servers: 1\nenvironment:\n  worker_env_var: A=1 \"B=$(touch "+pwned+")\"\nworker_config: {gen: {}, ctx: {}}\n", 0o644)
			r := strings.NewReplacer("ROOT", f.root, "PWNED", pwned)
			for k, v := range tt.env {
				t.Setenv(k, r.Replace(v))
			}
			args := []string{"--workspace", f.path("ws"), "--config-dir", f.path("configs")}
			for _, a := range tt.args {
				args = append(args, r.Replace(a))
			}
			err := f.run(args...)
			if got := exitcode.Of(err); got != exitcode.Usage {
				t.Fatalf("exit status %d (%v), want %d", got, err, exitcode.Usage)
			}
			if want := r.Replace(tt.want); !strings.Contains(err.Error(), want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, want)
			}
			if _, err := os.Stat(f.path("ws")); !os.IsNotExist(err) {
				t.Errorf("workspace was created: %v", listDir(t, f.path("ws")))
			}
			if _, err := os.Stat(pwned); !os.IsNotExist(err) {
				t.Errorf("%s exists: something ran the injected command", pwned)
			}
		})
	}
}

// --dry-run shows each role's argv and environment for review in CI logs:
// secret-looking values there are hidden, while the spec keeps them for the child.
func TestDryRunRolesRedactSecrets(t *testing.T) {
	f := newFixture(t)
	cfg := f.path("c.yaml")
	writeFile(t, cfg, "hardware: {gpus_per_node: 2, num_ctx_servers: 1, num_gen_servers: 1}\n"+
		"environment:\n  worker_env_var: HF_TOKEN=hf_abc PROXY=http://u:pw@proxy:1\nworker_config: {gen: {}, ctx: {}}\n", 0o644)
	t.Setenv("stageName", "S1")
	if err := f.run("--workspace", f.path("ws"), "--config", cfg, "--trtllm-dir", f.path("trt"), "--pytest-arg=--hf-token=hf_xyz", "--dry-run"); err != nil {
		t.Fatal(err)
	}
	out := f.stdout.String()
	for _, leak := range []string{"hf_abc", "hf_xyz", "u:pw"} {
		if strings.Contains(out, leak) {
			t.Errorf("dry-run output shows %q:\n%s", leak, out)
		}
	}
	for _, want := range []string{"HF_TOKEN=<redacted>", "--hf-token=<redacted>", "PROXY=http://<redacted>@proxy:1", "GEN_0 (worker, 1 task(s))"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
}

// A single-quoted $(…) in a config is a literal value: it is accepted, it
// reaches the job spec as text, and nothing runs it.
func TestSubmitLiteralEnvValue(t *testing.T) {
	f := newFixture(t)
	pwned := f.path("PWNED")
	cfg := f.path("lit.yaml")
	writeFile(t, cfg, "hardware: {gpus_per_node: 1, num_ctx_servers: 1, num_gen_servers: 1}\n"+
		"environment:\n  worker_env_var: A='$(touch "+pwned+")' B='`touch "+pwned+"`'\nworker_config: {gen: {}, ctx: {}}\n", 0o644)
	if err := f.run("--workspace", f.path("ws"), "--config", cfg, "--dry-run"); err != nil {
		t.Fatal(err)
	}
	spec, err := jobspec.Load(workspace.New(f.path("ws")).Spec())
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := spec.Step("GEN_0")
	want := []jobspec.EnvVar{{Name: "A", Value: "$(touch " + pwned + ")"}, {Name: "B", Value: "`touch " + pwned + "`"}}
	if !slices.Equal(gen.Command.Env, want) {
		t.Errorf("GEN_0 env = %v, want %v", gen.Command.Env, want)
	}
	// The stub is the only shell text submit writes; run it.
	out, err := exec.Command("bash", f.path("ws/job.sbatch")).CombinedOutput()
	if err != nil {
		t.Fatalf("run stub: %v\n%s", err, out)
	}
	if _, err := os.Stat(pwned); !os.IsNotExist(err) {
		t.Errorf("%s exists: a literal value was run", pwned)
	}
}

// The stub hands the workspace paths to the binary unchanged, whatever
// characters they hold: every value is quoted by a library.
func TestStubQuotesWorkspace(t *testing.T) {
	f := newFixture(t)
	pwned := f.path("PWNED")
	ws := f.path("my ws $(touch " + pwned + ") 'q' \"d\" ;x `y`")
	if err := f.run("--workspace", ws, "--config", f.path("configs/disagg-tiny.yaml"), "--dry-run"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", filepath.Join(ws, "job.sbatch")).CombinedOutput()
	if err != nil {
		t.Fatalf("run stub: %v\n%s", err, out)
	}
	want := "job\n--spec\n" + filepath.Join(ws, "job.json") + "\n"
	if string(out) != want {
		t.Errorf("the stub passed\n%q\nwant\n%q", out, want)
	}
	if _, err := os.Stat(pwned); !os.IsNotExist(err) {
		t.Errorf("%s exists: the stub ran part of a path", pwned)
	}
}

// NODERUN_* beats the name CI uses, and the command line beats both.
func TestSubmitEnvPrecedence(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"CI name alone", map[string]string{"PERF_TEST_PREFIX": "ci"}, nil, "m.py::f[ci-disagg-tiny]"},
		{"NODERUN_ beats PERF_TEST_", map[string]string{"PERF_TEST_PREFIX": "ci", "NODERUN_TEST_PREFIX": "nr"}, nil, "m.py::f[nr-disagg-tiny]"},
		{"flag beats both", map[string]string{"PERF_TEST_PREFIX": "ci", "NODERUN_TEST_PREFIX": "nr"}, []string{"--test-prefix", "flag"}, "m.py::f[flag-disagg-tiny]"},
		// An empty CI variable means the default, as before noderun.
		{"empty means default", map[string]string{"PERF_TEST_PREFIX": ""}, nil, "m.py::f[disagg_upload-disagg-tiny]"},
		{"config name", map[string]string{"CONFIG_NAME": "gen-only-no-context", "NODERUN_CONFIG_NAME": "disagg-tiny"}, nil, "m.py::f[disagg_upload-disagg-tiny]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			t.Setenv("PERF_TEST_MODULE", "m.py")
			t.Setenv("PERF_TEST_FUNCTION", "f")
			if _, ok := tt.env["CONFIG_NAME"]; !ok {
				t.Setenv("CONFIG_NAME", "disagg-tiny")
			}
			args := append([]string{"--workspace", f.path("ws"), "--config-dir", f.path("configs"), "--dry-run"}, tt.args...)
			if err := f.run(args...); err != nil {
				t.Fatal(err)
			}
			list, _ := os.ReadFile(f.path("ws/test_list.txt"))
			if strings.TrimSpace(string(list)) != tt.want {
				t.Errorf("test id %q, want %q", list, tt.want)
			}
		})
	}
}

// Validation problems other than injection: each names its flag or its
// file:line and says what to do; exit 2; nothing written.
func TestSubmitValidation(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no workspace", []string{"--config-name", "disagg-tiny"}, "--workspace (env NODERUN_WORKSPACE or WORKSPACE): is required"},
		{"no config", []string{"--workspace", "ROOT/ws"}, "no config given: set --config (env NODERUN_CONFIG) or --config-name"},
		{"config not found", []string{"--workspace", "ROOT/ws", "--config-name", "nope"}, `config "nope" not found: looked for nope.yaml in ROOT/configs`},
		{"config name without dir", []string{"--workspace", "ROOT/ws", "--config-name", "x", "--config-dir", ""}, "needs a directory to look in"},
		{"server name missing", []string{"--workspace", "ROOT/ws", "--config-name", "aggr-tiny"},
			"--server-name (env NODERUN_SERVER_NAME): is required for the aggregated config ROOT/configs/aggr-tiny.yaml: choose one of tiny_tp1, tiny_tp4"},
		{"server name unknown", []string{"--workspace", "ROOT/ws", "--config-name", "aggr-tiny", "--server-name", "big"},
			`no server "big" in ROOT/configs/aggr-tiny.yaml: choose one of tiny_tp1, tiny_tp4`},
		{"server name on disaggregated", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--server-name", "x"},
			"applies only to aggregated configs"},
		{"bad precheck", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--gpu-precheck", "maybe"},
			`--gpu-precheck (env NODERUN_GPU_PRECHECK): "maybe": use fail, warn or off`},
		{"bad time", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--time", "2h"}, `--time (env NODERUN_TIME): "2h" is not a Slurm time`},
		{"sbatch arg not an option", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--sbatch-arg", "exclusive"}, "is not an sbatch option"},
		{"sbatch arg with newline", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--sbatch-arg", "--comment=a\nb"}, `"\n" is not allowed`},
		{"percent in workspace", []string{"--workspace", "ROOT/ws%j", "--config-name", "disagg-tiny"}, `"%" is not allowed in the workspace path`},
		{"partition with space", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--partition", "a b"}, `--partition (env NODERUN_PARTITION or CLUSTER_PARTITION): " " is not allowed`},
		{"relative node-local dir", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--node-local-dir", "tmp"}, "must be an absolute path"},
		{"negative timeout", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--kill-grace", "-1s"}, "--kill-grace (env NODERUN_KILL_GRACE): -1s is negative"},
		// A limit of 0 failed every setup with "did not finish within 0s"
		// (exit 72), while --step-timeout 0 meant none: 0 is now refused
		// where it would end the wait before it starts.
		{"zero setup timeout", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--setup-timeout", "0s"},
			"--setup-timeout (env NODERUN_SETUP_TIMEOUT): 0 would end the wait before it starts: give a positive duration, at most 24h"},
		{"zero fence timeout", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--fence-timeout", "0"},
			"--fence-timeout (env NODERUN_FENCE_TIMEOUT): 0 would end the wait before it starts"},
		// A stop that never ends.
		{"kill grace too long", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--kill-grace", "100000h"},
			"--kill-grace (env NODERUN_KILL_GRACE): 100000h is longer than the most it may be, 10m: a value that long is a typo"},
		{"step timeout too long", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--step-timeout", "8760h"},
			"--step-timeout (env NODERUN_STEP_TIMEOUT): 8760h is longer than the most it may be, 168h"},
		{"after deciding too long", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--after-deciding", "90m"},
			"--after-deciding (env NODERUN_AFTER_DECIDING): 1h30m is longer than the most it may be, 1h"},
		{"stagger negative", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--stagger", "-5s"},
			"--stagger (env NODERUN_STAGGER): -5s is negative"},
		{"max nodes zero", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--max-nodes", "0"},
			"--max-nodes (env NODERUN_MAX_NODES): 0: give a bound of at least 1"},
		{"max gpus per node negative", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--max-gpus-per-node", "-1"},
			"--max-gpus-per-node (env NODERUN_MAX_GPUS_PER_NODE): -1: give a bound of at least 1"},
		{"local gpus without local", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--local-gpus", "2"}, "only applies with --local"},
		// No argument, environment entry or path can carry a NUL through
		// execve; each is refused where the user wrote it.
		{"NUL in a pytest arg", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--pytest-arg", "-k\x00x"},
			`--pytest-arg (env NODERUN_PYTEST_ARGS): "-k\x00x" contains a NUL byte, which no argument can carry`},
		{"NUL in an srun arg", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--srun-arg", "--x=\x00"},
			`--srun-arg (env NODERUN_SRUN_ARGS): "--x=\x00" contains a NUL byte`},
		{"NUL in an sbatch arg", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--sbatch-arg", "--comment=\x00"},
			`--sbatch-arg (env NODERUN_SBATCH_ARGS): "--comment=\x00" contains a NUL byte`},
		{"NUL in a setup word", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--setup", "bash in\x00stall.sh"},
			`--setup (env NODERUN_SETUP): a NUL byte is not allowed in "in\x00stall.sh"`},
		{"NUL in the pytest command", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--pytest", "py\x00test"},
			`--pytest (env NODERUN_PYTEST): "py\x00test" contains a NUL byte, which no argument or path can carry`},
		{"NUL in the node-local dir", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--node-local-dir", "/a\x00b"},
			`--node-local-dir (env NODERUN_NODE_LOCAL_DIR): "/a\x00b" contains a NUL byte`},
		{"bad mpi", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--mpi", "pmix;x"}, "is not an MPI type"},
		// TensorRT-LLM mode: the conftest's --test-prefix is the stage name.
		{"trtllm without stage", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--trtllm-dir", "ROOT/trt", "--stage-name", ""},
			"--stage-name (env NODERUN_STAGE_NAME or stageName): is required in TensorRT-LLM mode"},
		{"trtllm mode without a launcher", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--test-mode", "trtllm", "--stage-name", "s"},
			"--trtllm-dir (env NODERUN_TRTLLM_DIR or TRTLLM_DIR): is needed in TensorRT-LLM mode for the launcher"},
		// trtllm-llmapi-launch re-splits its arguments on spaces.
		{"space in a launched argument", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--trtllm-dir", "ROOT/trt", "--stage-name", "s", "--pytest-arg", "-k a b"},
			`"-k a b" in GEN_0's command line contains white space, which the launcher splits apart`},
		{"group beyond splits", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--trtllm-dir", "ROOT/trt", "--stage-name", "s", "--splits", "2", "--group", "3"},
			"group 3 of 2 splits"},
		// The test reads the layout and mode from the id.
		{"trtllm custom prefix", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--trtllm-dir", "ROOT/trt", "--stage-name", "s", "--test-prefix", "custom_test"},
			`"custom_test": TensorRT-LLM's test reads a disaggregated id as disagg[_upload]-e2e or disagg[_upload]-gen_only`},
		{"trtllm aggregated prefix on a disaggregated config", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--trtllm-dir", "ROOT/trt", "--stage-name", "s", "--test-prefix", "aggr_upload"},
			"reads a disaggregated id as"},
		{"trtllm disaggregated prefix on an aggregated config", []string{"--workspace", "ROOT/ws", "--config-name", "aggr-tiny", "--server-name", "tiny_tp4", "--trtllm-dir", "ROOT/trt", "--stage-name", "s", "--test-prefix", "disagg_upload-e2e"},
			"reads an aggregated id as aggr or aggr_upload"},
		{"trtllm ctx_only", []string{"--workspace", "ROOT/ws", "--config-name", "aggr-tiny", "--server-name", "tiny_tp4", "--trtllm-dir", "ROOT/trt", "--stage-name", "s", "--test-prefix", "aggr-ctx_only"},
			"ctx_only runs a disaggregated config with the aggregated launch, which noderun does not plan yet"},
		{"gen_only without a concurrency", []string{"--workspace", "ROOT/ws", "--config-name", "no-concurrency", "--trtllm-dir", "ROOT/trt", "--stage-name", "s", "--test-prefix", "disagg-gen_only"},
			"benchmark.concurrency_list: gen_only sizes the GEN servers' request queues by the first concurrency"},
		{"launcher in plain mode", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--launcher", "/x"},
			"--launcher (env NODERUN_LAUNCHER): only applies in TensorRT-LLM mode"},
		{"bad test mode", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--test-mode", "trt"}, `"trt": use auto, trtllm or plain`},
		// --local runs on this host, so a test root missing here is missing
		// on the "nodes" too: said at submit, not as pytest not found (126).
		{"missing test root with --local", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--local", "--test-root", "ROOT/nope"},
			"): test root ROOT/nope does not exist"},
		{"missing derived test root with --local", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--local", "--trtllm-dir", "ROOT/nope", "--stage-name", "s"},
			"derived from TRTLLM_DIR"},
		{"test root is a file", []string{"--workspace", "ROOT/ws", "--config-name", "disagg-tiny", "--test-root", "ROOT/configs/disagg-tiny.yaml"},
			"is not a directory"},
		// Several problems at once are all reported.
		{"all at once", []string{"--config-name", "disagg-tiny", "--test-function", "a b", "--gpu-precheck", "x"}, "--workspace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			writeFile(t, f.path("configs/no-concurrency.yaml"), "hardware: {gpus_per_node: 2, num_ctx_servers: 1, num_gen_servers: 1}\nworker_config: {gen: {}, ctx: {}}\n", 0o644)
			args := []string{"--config-dir", f.path("configs")}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "ROOT", f.root))
			}
			err := f.run(args...)
			if exitcode.Of(err) != exitcode.Usage {
				t.Fatalf("exit status %d (%v), want 2", exitcode.Of(err), err)
			}
			if want := strings.ReplaceAll(tt.want, "ROOT", f.root); !strings.Contains(err.Error(), want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, want)
			}
			for _, d := range []string{"ws", "ws%j"} {
				if _, err := os.Stat(f.path(d)); !os.IsNotExist(err) {
					t.Errorf("%s was created", d)
				}
			}
		})
	}
	t.Run("all at once reports each", func(t *testing.T) {
		f := newFixture(t)
		err := f.run("--config-dir", f.path("configs"), "--config-name", "disagg-tiny", "--test-function", "a b", "--gpu-precheck", "x")
		for _, want := range []string{"--workspace", "--test-function", "--gpu-precheck"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not mention %s", err, want)
			}
		}
	})
}

// Where 0 has a meaning it is accepted and reaches the spec as 0: no step
// limit, no grace, no wait after the deciding step, no stagger. The longest
// value each flag takes is accepted too.
func TestSubmitDurationBounds(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want jobspec.Timeouts
	}{
		{"zero where it means none", []string{"--step-timeout", "0", "--kill-grace", "0", "--after-deciding", "0", "--stagger", "0"},
			jobspec.Timeouts{Setup: jobspec.Duration(DefaultSetupTimeout), Fence: jobspec.Duration(DefaultFenceTimeout)}},
		{"at the maxima", []string{"--setup-timeout", "24h", "--fence-timeout", "24h", "--step-timeout", "168h", "--kill-grace", "10m", "--after-deciding", "1h", "--stagger", "1h"},
			jobspec.Timeouts{Setup: jobspec.Duration(24 * time.Hour), Fence: jobspec.Duration(24 * time.Hour), Step: jobspec.Duration(168 * time.Hour),
				KillGrace: jobspec.Duration(10 * time.Minute), AfterDeciding: jobspec.Duration(time.Hour), Stagger: jobspec.Duration(time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			args := append([]string{"--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml"), "--dry-run"}, tt.args...)
			if err := f.run(args...); err != nil {
				t.Fatal(err)
			}
			spec, err := jobspec.Load(f.path("ws/job.json"))
			if err != nil {
				t.Fatal(err)
			}
			if spec.Timeouts != tt.want {
				t.Errorf("timeouts %+v, want %+v", spec.Timeouts, tt.want)
			}
		})
	}
}

// Every duration flag has a rule, so that its 0 and its maximum are
// documented in the help and checked by the one validation.
func TestDurationFlagsHaveRules(t *testing.T) {
	var req Request
	for _, fl := range req.Flags() {
		if d, ok := fl.(*cli.DurationFlag); ok {
			if _, ok := durationRules[d.Name]; !ok {
				t.Errorf("--%s has no entry in durationRules", d.Name)
			}
		}
	}
}

// A config of more nodes than --max-nodes is refused before anything is
// written, naming the flag; the flag's environment variable raises it.
func TestSubmitMaxNodes(t *testing.T) {
	const big = "hardware: {gpus_per_node: 2, num_ctx_servers: 1, num_gen_servers: 600}\nworker_config: {gen: {tensor_parallel_size: 2}, ctx: {}}\n"
	f := newFixture(t)
	writeFile(t, f.path("big.yaml"), big, 0o644)
	args := []string{"--workspace", f.path("ws"), "--config", f.path("big.yaml"), "--dry-run"}
	err := f.run(args...)
	if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "the job needs 601 nodes, more than --max-nodes (env NODERUN_MAX_NODES) allows (512)") {
		t.Fatalf("exit status %d (%v), want 2 naming --max-nodes", exitcode.Of(err), err)
	}
	if _, err := os.Stat(f.path("ws")); !os.IsNotExist(err) {
		t.Errorf("workspace was created")
	}
	t.Setenv("NODERUN_MAX_NODES", "601")
	if err := f.run(args...); err != nil {
		t.Fatalf("with NODERUN_MAX_NODES=601: %v", err)
	}
}

func TestSubmitLocal(t *testing.T) {
	t.Run("not wired", func(t *testing.T) {
		f := newFixture(t)
		err := f.run("--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml"), "--local")
		if !errors.Is(err, ErrLocalNotWired) || exitcode.Of(err) != exitcode.Submit {
			t.Fatalf("err = %v (exit %d), want ErrLocalNotWired", err, exitcode.Of(err))
		}
		if _, err := os.Stat(f.path("ws")); !os.IsNotExist(err) {
			t.Errorf("workspace written although --local cannot run")
		}
	})
	tests := []struct {
		name     string
		args     []string
		wantGPUs int
	}{
		// The simulated nodes get hardware.gpus_per_node fake GPUs by default…
		{"default GPUs", nil, 2},
		// …or what --local-gpus says.
		{"local gpus", []string{"--local-gpus", "8"}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			var gotSpec string
			var gotGPUs int
			f.local = func(ctx context.Context, specPath string, gpus int) (int, error) {
				gotSpec, gotGPUs = specPath, gpus
				ws := workspace.New(filepath.Dir(specPath))
				if _, err := jobspec.Load(specPath); err != nil {
					t.Errorf("local runner got an unreadable spec: %v", err)
				}
				writeFile(t, ws.Summary(), "# local summary\n", 0o644)
				return exitcode.JobSetupFailed, ws.SaveJobResult(&workspace.JobResult{Outcome: workspace.OutcomeSetupFailed, Verdict: "failed", ExitCode: exitcode.JobSetupFailed})
			}
			err := f.run(append([]string{"--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml"), "--local"}, tt.args...)...)
			if exitcode.Of(err) != exitcode.JobSetupFailed {
				t.Errorf("exit status %d (%v), want %d from job-result.json's outcome", exitcode.Of(err), err, exitcode.JobSetupFailed)
			}
			if gotSpec != f.path("ws/job.json") || gotGPUs != tt.wantGPUs {
				t.Errorf("runner got %s with %d GPUs, want %s with %d", gotSpec, gotGPUs, f.path("ws/job.json"), tt.wantGPUs)
			}
			if !strings.Contains(f.stdout.String(), "# local summary") {
				t.Errorf("summary not printed: %q", f.stdout.String())
			}
		})
	}
}

// A stale verdict from an earlier job in the same workspace must never be
// read as this job's.
func TestSubmitClearsEarlierOutputs(t *testing.T) {
	f := newFixture(t)
	ws := workspace.New(f.path("ws"))
	args := []string{"--workspace", ws.Dir, "--config", f.path("configs/disagg-tiny.yaml"), "--dry-run"}
	if err := f.run(args...); err != nil {
		t.Fatal(err)
	}
	stale := []string{ws.JobResult(), ws.Summary(), ws.Results(), ws.TaskRecord("GEN_0", 0), ws.Junit("GEN_0", 0),
		ws.TaskLog("GEN_0", 0), ws.RunnerLog("GEN_0", 0), ws.StepLog("GEN_0"), ws.SetupLog("n1"), ws.StopFile("1", "GEN_0")}
	for _, p := range stale {
		writeFile(t, p, "old", 0o644)
	}
	// The old job's Slurm output is named after it, and the other file is not ours.
	keep := []string{ws.BatchOutput("1"), filepath.Join(ws.Dir, "notes.txt")}
	for _, p := range keep {
		writeFile(t, p, "old job output", 0o644)
	}
	if err := f.run(args...); err != nil {
		t.Fatal(err)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived a new submit", p)
		}
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}

// In a directory that never held a noderun job, results/ and logs/ may be
// someone else's (CI's $WORKSPACE): only noderun's own files go.
func TestSubmitKeepsForeignDirectories(t *testing.T) {
	f := newFixture(t)
	foreign := []string{f.path("ws/results/theirs.txt"), f.path("ws/logs/theirs.log")}
	for _, p := range foreign {
		writeFile(t, p, "not ours", 0o644)
	}
	if err := f.run("--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml"), "--dry-run"); err != nil {
		t.Fatal(err)
	}
	for _, p := range foreign {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}

// Upstream names the benchmark mode in the test id and keeps the YAML at
// e2e; the plan follows the id.
func TestSubmitModeFromPrefix(t *testing.T) {
	f := newFixture(t)
	if err := f.run("--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml"),
		"--test-prefix", "disagg_upload-gen_only_no_context", "--dry-run"); err != nil {
		t.Fatal(err)
	}
	spec, err := jobspec.Load(f.path("ws/job.json"))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Job.BenchmarkMode != ModeGenOnlyNoContext || strings.Join(spec.Roles(), " ") != "GEN_0 DISAGG_SERVER BENCHMARK" || spec.Nodes != 2 {
		t.Errorf("mode %s, roles %v, %d nodes; want gen_only_no_context, GEN_0 DISAGG_SERVER BENCHMARK, 2 nodes",
			spec.Job.BenchmarkMode, spec.Roles(), spec.Nodes)
	}
	if want := "perf/test_perf_sanity.py::test_e2e[disagg_upload-gen_only_no_context-disagg-tiny]"; spec.Job.TestID != want {
		t.Errorf("test id %s, want %s", spec.Job.TestID, want)
	}
}
