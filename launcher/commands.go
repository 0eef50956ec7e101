package launcher

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// roleCommands gives every step of a plan its command. Plain mode runs the
// same pytest line everywhere; TensorRT-LLM mode shapes it per role.
type roleCommands interface {
	attach(p *Prepared, cfg *Config) error
}

// plainCommands runs `pytest ARGS… TEST_ID` in the test root on every task.
type plainCommands struct{ cmd jobspec.Command }

func (c plainCommands) attach(p *Prepared, _ *Config) error {
	for i := range p.Spec.Steps {
		st := &p.Spec.Steps[i]
		st.Command.Argv = slices.Clone(c.cmd.Argv)
		st.Command.Dir = c.cmd.Dir
		st.Pytest = true
	}
	return nil
}

// trtllmCommands follows TensorRT-LLM's perf CI role by role: the
// launcher on multi-node worker steps, the conftest's options (the test is
// chosen by --test-list, never on the command line), the stage junit and
// CSV only on the deciding role, the computed variables, and the role logs
// and gen_only sentinel under TOD = WS/<test id bracket>.
type trtllmCommands struct {
	pytest   string
	args     []string // --pytest-arg values
	defs     string   // pytest's cwd and --rootdir
	launcher string
	stage    string
	imex     string
	timeout  int
	splits   int
	group    int
}

// Paths and values TensorRT-LLM's scripts fix.
const (
	hfHome          = "/tmp/hf_home"
	launcherRelPath = "tensorrt_llm/llmapi/trtllm-llmapi-launch"
	defsRelPath     = "tests/integration/defs"
)

// argv is the pytest line of a role, in the order TensorRT-LLM's CI writes
// it. The task's junit path is added by the runner (Step.JunitOption).
func (c trtllmCommands) argv(ws workspace.Layout, deciding bool) []string {
	a := []string{c.pytest, "-vv", "--timeout-method=thread", "--apply-test-list-correction",
		"--timeout=" + strconv.Itoa(c.timeout), "--rootdir", c.defs,
		"--test-prefix=" + c.stage, "--waives-file=" + ws.Waives(), "--output-dir=" + ws.Dir + "/"}
	if deciding {
		a = append(a, "--csv="+filepath.Join(ws.Dir, "report.csv"))
	}
	a = append(a, "-o", "junit_logging=out-err")
	if deciding {
		// The runner puts the task's junit path after --periodic-junit-xmlpath.
		a = append(a, "--periodic-junit", jobspec.PeriodicJunit, "--periodic-batch-size=1", "--periodic-save-unfinished-test", "--periodic-hang-traceback")
	}
	if deciding {
		a = append(a, c.args...)
	} else {
		a = append(a, withoutStageOutputs(c.args)...)
	}
	return append(a, "--test-list="+ws.TestList(), "--splitting-algorithm", "least_duration",
		"--splits", strconv.Itoa(c.splits), "--group", strconv.Itoa(c.group))
}

// stageOutputs are the options whose files belong to the deciding role
// alone: TensorRT-LLM's CI drops them, with their values, from every other
// role's line.
var stageOutputs = []string{"--csv", "--cov", "--periodic"}

// withoutStageOutputs drops the stageOutputs options from args: --opt=value
// whole, and --opt with the value after it.
func withoutStageOutputs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		name, _, hasValue := strings.Cut(args[i], "=")
		if !slices.ContainsFunc(stageOutputs, func(p string) bool { return strings.HasPrefix(name, p) }) {
			out = append(out, args[i])
			continue
		}
		if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			i++
		}
	}
	return out
}

func (c trtllmCommands) attach(p *Prepared, cfg *Config) error {
	ws, plan := p.Workspace, p.Plan
	if plan.Layout == jobspec.LayoutAggregated && strings.Contains(p.TestID.ConfigName, "-") {
		// The test reads an aggregated id's config name up to the next dash.
		return usageError(flagConfigName, "%q: TensorRT-LLM's test cannot find an aggregated config whose name holds a dash; rename the file", p.TestID.ConfigName)
	}
	tod := ws.TestOutput(p.TestID.Param())
	mode := plan.BenchmarkMode
	for i := range p.Spec.Steps {
		st := &p.Spec.Steps[i]
		var env []jobspec.EnvVar
		worker := st.Kind == jobspec.KindWorker
		genIndex, gen := strings.CutPrefix(st.Role, "GEN_")
		ctxIndex, ctx := strings.CutPrefix(st.Role, "CTX_")
		if gen || ctx {
			env = append(env, jobspec.EnvVar{Name: "HF_HOME", Value: hfHome})
			st.TaskEnv = append(st.TaskEnv, jobspec.EnvFlashinferJITDir)
		}
		st.TaskEnv = append(st.TaskEnv, jobspec.EnvTimeoutDataFile)
		env = append(env, jobspec.EnvVar{Name: "NVIDIA_IMEX_CHANNELS", Value: c.imex})
		switch {
		case mode == ModeGenOnly && gen:
			if n, err := strconv.Atoi(cfg.Concurrency); err != nil || n < 1 {
				return &ConfigError{File: cfg.Path, Line: cfg.concurrencyLine, Key: "benchmark.concurrency_list",
					Msg: fmt.Sprintf("gen_only sizes the GEN servers' request queues by the first concurrency: need a positive number, got %q", cfg.Concurrency)}
			}
			env = append(env, jobspec.EnvVar{Name: "TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP", Value: "1"},
				jobspec.EnvVar{Name: "TLLM_BENCHMARK_REQ_QUEUES_SIZE", Value: cfg.Concurrency})
		case mode == ModeGenOnlyNoContext:
			env = append(env, jobspec.EnvVar{Name: "TRTLLM_DISAGG_BENCHMARK_GEN_ONLY", Value: "1"})
		}
		// The config's entries come last: an explicit setting wins.
		st.Command.Env = append(env, st.Command.Env...)

		st.Command.Argv = c.argv(ws, st.Deciding)
		st.Command.Dir = c.defs
		st.Pytest = true
		if st.Deciding {
			st.JunitOption = jobspec.PeriodicJunit
		}
		if worker && plan.Nodes == 1 {
			// Without the launcher pytest runs on every task, and only
			// step rank 0 may: one task, which sees the node's GPUs and
			// whose server runs its executor in-process.
			st.Tasks, st.TasksPerNode = 1, 1
		}
		if worker && plan.Nodes > 1 {
			st.Launcher = []string{c.launcher}
			// The launcher joins and re-splits its arguments on spaces.
			for _, a := range append(slices.Clone(st.Launcher), st.Command.Argv...) {
				if strings.IndexFunc(a, unicode.IsSpace) >= 0 {
					return exitcode.Usagef("%q in %s's command line contains white space, which the launcher splits apart: give paths and --pytest-arg values without it", a, st.Role)
				}
			}
		}
		switch {
		case gen:
			st.Log = filepath.Join(tod, "gen_server_"+genIndex+".log")
			st.DoneFile = filepath.Join(tod, "gen_server_"+genIndex+".done")
		case ctx:
			st.Log = filepath.Join(tod, "ctx_server_"+ctxIndex+".log")
		case st.Role == jobspec.RoleDisaggServer:
			st.Log = filepath.Join(tod, "disagg_server.log")
		}
	}
	return nil
}

// resolveTestMode is TestModePlain or TestModeTRTLLM as req asks, "" for
// an unknown mode.
func resolveTestMode(req Request) string {
	switch mode := orDefault(req.TestMode, TestModeAuto); mode {
	case TestModeAuto:
		if req.TrtllmDir != "" {
			return TestModeTRTLLM
		}
		return TestModePlain
	case TestModePlain, TestModeTRTLLM:
		return mode
	}
	return ""
}

// trtllmDefaultPrefix is the test prefix when none is given in TensorRT-LLM
// mode: the form its test reads for the config's layout and mode.
func trtllmDefaultPrefix(cfg *Config) string {
	if cfg.Layout == jobspec.LayoutAggregated {
		return "aggr_upload"
	}
	if cfg.BenchmarkMode == ModeE2E {
		return "disagg_upload-" + ModeE2E
	}
	return "disagg_upload-" + ModeGenOnly
}

// trtllmPrefix checks that TensorRT-LLM's test can read the id: it takes
// the layout and the benchmark mode from the prefix (contract §1).
func (v *validator) trtllmPrefix(cfg *Config, prefix string) {
	kind, mode, _ := strings.Cut(prefix, "-")
	switch {
	case cfg.Layout == jobspec.LayoutDisaggregated && (kind == "disagg" || kind == "disagg_upload") && (mode == ModeE2E || mode == ModeGenOnly):
	case cfg.Layout == jobspec.LayoutDisaggregated:
		v.add(usageError(flagTestPrefix, "%q: TensorRT-LLM's test reads a disaggregated id as disagg[_upload]-e2e or disagg[_upload]-gen_only (gen_only_no_context comes from benchmark.mode); use e.g. disagg_upload-e2e", prefix))
	case cfg.Layout == jobspec.LayoutAggregated && (prefix == "aggr" || prefix == "aggr_upload"):
	case cfg.Layout == jobspec.LayoutAggregated && mode == "ctx_only":
		v.add(usageError(flagTestPrefix, "%q: ctx_only runs a disaggregated config with the aggregated launch, which noderun does not plan yet", prefix))
	default:
		v.add(usageError(flagTestPrefix, "%q: TensorRT-LLM's test reads an aggregated id as aggr or aggr_upload; use aggr_upload with --server-name", prefix))
	}
}

// testMode resolves --test-mode and, in TensorRT-LLM mode, its settings.
// cmd is the plain-mode command (pytest, its args, the test root); cfg is
// nil when the config could not be read.
func (v *validator) testMode(req Request, cmd jobspec.Command, cfg *Config, id TestID) (roleCommands, []byte) {
	mode := resolveTestMode(req)
	if mode == "" {
		v.add(usageError(flagTestMode, "%q: use auto, trtllm or plain", req.TestMode))
		return nil, nil
	}
	if mode == TestModePlain {
		for _, f := range []struct {
			f   flagName
			set bool
		}{{flagLauncher, req.Launcher != ""}, {flagWaivesFile, req.WaivesFile != ""}} {
			if f.set {
				v.add(usageError(f.f, "only applies in TensorRT-LLM mode (--test-mode trtllm, or --trtllm-dir)"))
			}
		}
		return plainCommands{cmd: cmd}, nil
	}
	if cfg != nil {
		v.trtllmPrefix(cfg, id.Prefix)
	}
	c := trtllmCommands{pytest: cmd.Argv[0], args: cmd.Argv[1 : len(cmd.Argv)-1], defs: cmd.Dir,
		launcher: req.Launcher, stage: req.StageName, imex: orDefault(req.IMEXChannels, "0"), timeout: req.PytestTimeout, splits: req.Splits, group: req.Group}
	switch {
	case strings.Contains(c.launcher, "/"):
		// A path, not a name to look up in PATH: the tasks run elsewhere.
		c.launcher = v.dir(flagLauncher, c.launcher, true)
	case c.launcher == "":
		if req.TrtllmDir == "" {
			v.add(usageError(flagTrtllmDir, "is needed in TensorRT-LLM mode for the launcher: set it, or give %s", flagLauncher))
		} else {
			c.launcher = filepath.Join(v.dir(flagTrtllmDir, req.TrtllmDir, true), launcherRelPath)
		}
	}
	if c.stage == "" {
		v.add(usageError(flagStageName, "is required in TensorRT-LLM mode: the conftest takes it as --test-prefix; export stageName as CI does"))
	} else if strings.IndexFunc(c.stage, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		v.add(usageError(flagStageName, "%q: a stage name has no white space or control characters", c.stage))
	}
	if c.timeout < 1 {
		v.add(usageError(flagPytestTimeout, "%d: give a positive number of seconds", c.timeout))
	}
	if c.splits < 1 || c.group < 1 || c.group > c.splits {
		v.add(usageError(flagGroup, "group %d of %d splits: need 1 ≤ group ≤ splits", c.group, c.splits))
	}
	var waives []byte
	if req.WaivesFile != "" {
		b, err := os.ReadFile(req.WaivesFile)
		if err != nil {
			v.add(usageError(flagWaivesFile, "%v", err))
		}
		waives = b
	}
	if waives == nil {
		waives = []byte{}
	}
	return c, waives
}
