package launcher

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

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
	a = append(a, c.args...)
	return append(a, "--test-list="+ws.TestList(), "--splitting-algorithm", "least_duration",
		"--splits", strconv.Itoa(c.splits), "--group", strconv.Itoa(c.group))
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
		if worker && plan.Nodes > 1 {
			st.Launcher = []string{c.launcher}
			// The launcher joins and re-splits its arguments on spaces.
			for _, a := range append(slices.Clone(st.Launcher), st.Command.Argv...) {
				if strings.IndexFunc(a, unicode.IsSpace) >= 0 {
					return usageError(flagPytestArg, "%q contains white space, which %s splits apart: the launched command would differ", a, filepath.Base(c.launcher))
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

// testMode resolves --test-mode and, in TensorRT-LLM mode, its settings.
// cmd is the plain-mode command (pytest, its args, the test root).
func (v *validator) testMode(req Request, cmd jobspec.Command) (roleCommands, []byte) {
	mode := orDefault(req.TestMode, TestModeAuto)
	switch mode {
	case TestModeAuto:
		mode = TestModePlain
		if req.TrtllmDir != "" {
			mode = TestModeTRTLLM
		}
	case TestModePlain, TestModeTRTLLM:
	default:
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
	c := trtllmCommands{pytest: cmd.Argv[0], args: cmd.Argv[1 : len(cmd.Argv)-1], defs: cmd.Dir,
		launcher: req.Launcher, stage: req.StageName, timeout: req.PytestTimeout, splits: req.Splits, group: req.Group}
	if c.launcher == "" {
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
