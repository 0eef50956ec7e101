package launcher

import (
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/gpu"
	"github.com/noderun/noderun/internal/workspace"
)

// Request is everything `noderun submit` is asked to do, as its flags and
// environment give it. Flags binds every field; Prepare validates it.
type Request struct {
	Workspace  string
	Config     string
	ConfigName string
	ConfigDir  string
	ServerName string

	TestModule   string
	TestFunction string
	TestPrefix   string
	TestRoot     string
	TrtllmDir    string

	Pytest     string
	PytestArgs ArgList
	SrunArgs   ArgList
	SbatchArgs ArgList
	Setup      string
	MPI        string

	Partition    string
	Account      string
	Time         string
	JobName      string
	NoGresGPUs   bool
	SignalBefore int

	TestMode      string
	Launcher      string
	StageName     string
	PytestTimeout int
	WaivesFile    string
	IMEXChannels  string
	Splits        int
	Group         int

	Local     bool
	LocalGPUs int
	DryRun    bool
	Wait      bool
	// Follow is how --wait handles an abort and a job that pends.
	Follow Follow

	SetupTimeout  time.Duration
	FenceTimeout  time.Duration
	StepTimeout   time.Duration
	KillGrace     time.Duration
	AfterDeciding time.Duration
	Stagger       time.Duration
	Precheck      string
	GPUSample     time.Duration
	GPUFaults     string
	NodeLocalDir  string

	MaxNodes       int
	MaxGPUsPerNode int
}

// flagName is a flag and the environment variables that also set it, in
// the order they are read: noderun's own first, then the name CI already uses.
type flagName struct {
	Name string
	Env  []string
}

// String names the flag for error messages: --name (env A or B).
func (f flagName) String() string {
	if len(f.Env) == 0 {
		return "--" + f.Name
	}
	return "--" + f.Name + " (env " + strings.Join(f.Env, " or ") + ")"
}

func env(name string, more ...string) []string { return append([]string{"NODERUN_" + name}, more...) }

// The flags of `noderun submit`. Their names are a contract with CI scripts:
// rename none, add freely.
var (
	flagWorkspace     = flagName{"workspace", workspace.EnvVars}
	flagConfig        = flagName{"config", env("CONFIG")}
	flagConfigName    = flagName{"config-name", env("CONFIG_NAME", "CONFIG_NAME")}
	flagConfigDir     = flagName{"config-dir", env("CONFIG_DIR")}
	flagServerName    = flagName{"server-name", env("SERVER_NAME")}
	flagTestModule    = flagName{"test-module", env("TEST_MODULE", "PERF_TEST_MODULE")}
	flagTestFunction  = flagName{"test-function", env("TEST_FUNCTION", "PERF_TEST_FUNCTION")}
	flagTestPrefix    = flagName{"test-prefix", env("TEST_PREFIX", "PERF_TEST_PREFIX")}
	flagTestRoot      = flagName{"test-root", env("TEST_ROOT")}
	flagTrtllmDir     = flagName{"trtllm-dir", env("TRTLLM_DIR", "TRTLLM_DIR")}
	flagPytest        = flagName{"pytest", env("PYTEST")}
	flagPytestArg     = flagName{"pytest-arg", env("PYTEST_ARGS")}
	flagSrunArg       = flagName{"srun-arg", env("SRUN_ARGS")}
	flagSbatchArg     = flagName{"sbatch-arg", env("SBATCH_ARGS")}
	flagSetup         = flagName{"setup", env("SETUP")}
	flagMPI           = flagName{"mpi", env("MPI")}
	flagPartition     = flagName{"partition", env("PARTITION", "CLUSTER_PARTITION")}
	flagAccount       = flagName{"account", env("ACCOUNT", "CLUSTER_ACCOUNT")}
	flagTime          = flagName{"time", env("TIME")}
	flagJobName       = flagName{"job-name", env("JOB_NAME")}
	flagNoGresGPUs    = flagName{"no-gres-gpus", env("NO_GRES_GPUS")}
	flagSignalBefore  = flagName{"signal-before", env("SIGNAL_BEFORE")}
	flagLocal         = flagName{"local", env("LOCAL")}
	flagLocalGPUs     = flagName{"local-gpus", env("LOCAL_GPUS")}
	flagDryRun        = flagName{"dry-run", env("DRY_RUN")}
	flagWait          = flagName{"wait", env("WAIT")}
	flagSetupTimeout  = flagName{"setup-timeout", env("SETUP_TIMEOUT")}
	flagFenceTimeout  = flagName{"fence-timeout", env("FENCE_TIMEOUT")}
	flagStepTimeout   = flagName{"step-timeout", env("STEP_TIMEOUT")}
	flagKillGrace     = flagName{"kill-grace", env("KILL_GRACE")}
	flagAfterDeciding = flagName{"after-deciding", env("AFTER_DECIDING")}
	flagStagger       = flagName{"stagger", env("STAGGER")}
	flagPrecheck      = flagName{"gpu-precheck", env("GPU_PRECHECK")}
	flagGPUSample     = flagName{"gpu-sample", env("GPU_SAMPLE")}
	flagGPUFaults     = flagName{"gpu-faults", env("GPU_FAULTS")}
	flagNodeLocalDir  = flagName{"node-local-dir", env("NODE_LOCAL_DIR")}
	flagMaxNodes      = flagName{"max-nodes", env("MAX_NODES")}
	flagMaxNodeGPUs   = flagName{"max-gpus-per-node", env("MAX_GPUS_PER_NODE")}
	flagTestMode      = flagName{"test-mode", env("TEST_MODE")}
	flagLauncher      = flagName{"launcher", env("LAUNCHER")}
	flagStageName     = flagName{"stage-name", env("STAGE_NAME", "stageName")}
	flagPytestTimeout = flagName{"pytest-timeout", env("PYTEST_TIMEOUT")}
	flagWaivesFile    = flagName{"waives-file", env("WAIVES_FILE")}
	flagIMEXChannels  = flagName{"imex-channels", env("IMEX_CHANNELS", "NVIDIA_IMEX_CHANNELS")}
	flagSplits        = flagName{"splits", env("SPLITS")}
	flagGroup         = flagName{"group", env("GROUP")}
)

// Test modes: how each role's pytest is run.
const (
	// TestModeAuto is TestModeTRTLLM when a TensorRT-LLM checkout is given, else TestModePlain.
	TestModeAuto = "auto"
	// TestModeTRTLLM follows TensorRT-LLM's conventions (launcher, conftest options, files).
	TestModeTRTLLM = "trtllm"
	// TestModePlain runs pytest with the test id on its command line.
	TestModePlain = "plain"
)

// Defaults of the job flags.
const (
	DefaultPytest        = "pytest"
	DefaultSetupTimeout  = 30 * time.Minute
	DefaultFenceTimeout  = time.Hour
	DefaultKillGrace     = 10 * time.Second
	DefaultAfterDeciding = 30 * time.Second
	DefaultSignalBefore  = 60
	DefaultPrecheck      = string(gpu.PrecheckFail)
	DefaultGPUSample     = 5 * time.Second
	MinGPUSample         = 100 * time.Millisecond
	DefaultGPUFaults     = string(gpu.FaultsWarn)
	DefaultNodeLocalDir  = "/tmp/noderun"
	// DefaultPytestTimeout is TensorRT-LLM CI's --timeout for a perf test.
	DefaultPytestTimeout = 3600
)

// Help categories.
const (
	catTest   = "Test id"
	catConfig = "Config"
	catRun    = "What runs"
	catSlurm  = "Slurm"
	catMode   = "Mode"
	catJob    = "Job limits"
	catTRTLLM = "TensorRT-LLM mode"
)

// Flags returns the flags of `noderun submit`, bound to r.
func (r *Request) Flags() []cli.Flag {
	str := func(f flagName, cat, usage, value string, dst *string) cli.Flag {
		return &cli.StringFlag{Name: f.Name, Category: cat, Usage: usage, EnvVars: f.Env, Value: value, Destination: dst}
	}
	dur := func(f flagName, usage string, value time.Duration, dst *time.Duration) cli.Flag {
		return &cli.DurationFlag{Name: f.Name, Category: catJob, Usage: usage + " " + durationHelp(f), EnvVars: f.Env, Value: value, Destination: dst}
	}
	boolean := func(f flagName, cat, usage string, dst *bool) cli.Flag {
		return &cli.BoolFlag{Name: f.Name, Category: cat, Usage: usage, EnvVars: f.Env, Destination: dst}
	}
	list := func(f flagName, cat, usage string, dst *ArgList) cli.Flag {
		return &cli.GenericFlag{Name: f.Name, Category: cat, EnvVars: f.Env,
			Usage: usage + "; repeat the flag for more (each value is one argument, commas included); the env var holds shell words",
			Value: (*argListEnv)(dst), Destination: (*argListFlag)(dst)}
	}
	return append([]cli.Flag{
		str(flagWorkspace, catConfig, "shared `DIR` for the job's files (job.json, test_list.txt, job.sbatch, bin/noderun, results); required", "", &r.Workspace),
		str(flagConfig, catConfig, "perf config YAML `FILE`; the config name defaults to its file name without .yaml", "", &r.Config),
		str(flagConfigName, catConfig, "config `NAME`: looked up as NAME.yaml in --config-dir, and the name in the test id", "", &r.ConfigName),
		dflt(str(flagConfigDir, catConfig, "`DIR` holding NAME.yaml", "", &r.ConfigDir), "$TRTLLM_DIR/tests/scripts/perf-sanity/{disaggregated,aggregated}, both searched"),
		str(flagServerName, catConfig, "aggregated configs: which server_configs entry to run (`NAME`)", "", &r.ServerName),
		str(flagTrtllmDir, catConfig, "TensorRT-LLM checkout (`DIR`) on the compute nodes: the default --config-dir, --test-root and --launcher; turns on --test-mode trtllm", "", &r.TrtllmDir),

		str(flagTestModule, catTest, "pytest `MODULE`, relative to the test root", DefaultTestModule, &r.TestModule),
		str(flagTestFunction, catTest, "test `FUNCTION` in the module", DefaultTestFunction, &r.TestFunction),
		dflt(str(flagTestPrefix, catTest, "`PREFIX` of the test parameter: MODULE::FUNCTION[PREFIX-CONFIG(-SERVER)]; a last part e2e, gen_only or gen_only_no_context sets the benchmark mode", "", &r.TestPrefix),
			DefaultTestPrefix+"; TensorRT-LLM mode: disagg_upload-e2e, disagg_upload-gen_only or aggr_upload, as the config says"),

		dflt(str(flagTestRoot, catRun, "`DIR` where pytest runs", "", &r.TestRoot), "$TRTLLM_DIR/tests/integration/defs when TRTLLM_DIR is set, else the current directory"),
		str(flagPytest, catRun, "pytest executable (`CMD`), used as given", DefaultPytest, &r.Pytest),
		list(flagPytestArg, catRun, "extra pytest argument (`ARG`), before the test id", &r.PytestArgs),
		str(flagSetup, catRun, "once-per-node setup `COMMAND` (shell words, literal values only), run before any task of the node", "", &r.Setup),

		str(flagPartition, catSlurm, "Slurm `PARTITION`", "", &r.Partition),
		str(flagAccount, catSlurm, "Slurm `ACCOUNT`", "", &r.Account),
		dflt(str(flagTime, catSlurm, "Slurm time limit (`TIME`, e.g. 02:00:00)", "", &r.Time), "slurm.job_time of the config"),
		dflt(str(flagJobName, catSlurm, "Slurm job `NAME`", "", &r.JobName), "the config name"),
		dflt(str(flagMPI, catSlurm, "srun --mpi `TYPE` for worker steps, e.g. pmix", "", &r.MPI), "the cluster's MpiDefault"),
		list(flagSrunArg, catSlurm, "extra srun argument (`ARG`) for every step, e.g. pyxis --container-image=…", &r.SrunArgs),
		list(flagSbatchArg, catSlurm, "extra #SBATCH option (`ARG`), written after noderun's own so it can override them", &r.SbatchArgs),
		boolean(flagNoGresGPUs, catSlurm, "do not ask for --gpus-per-node (clusters without GPU gres)", &r.NoGresGPUs),
		&cli.IntFlag{Name: flagSignalBefore.Name, Category: catSlurm, EnvVars: flagSignalBefore.Env, Value: DefaultSignalBefore, Destination: &r.SignalBefore,
			Usage: "ask Slurm for SIGUSR2 this many `SECONDS` before the time limit, so the job stops its steps and merges results calmly (0: off)"},

		boolean(flagLocal, catMode, "run the whole job on this machine with Slurm simulated, then print the summary and exit with the outcome's status (see README, Exit codes)", &r.Local),
		&cli.IntFlag{Name: flagLocalGPUs.Name, Category: catMode, EnvVars: flagLocalGPUs.Env, Destination: &r.LocalGPUs,
			Usage: "with --local: `N` fake GPUs per simulated node", DefaultText: "hardware.gpus_per_node"},
		boolean(flagDryRun, catMode, "write the files, print the plan and the stub, ask Slurm whether it would run the job (sbatch --test-only, when sbatch is here), submit nothing (wins over --local and --wait)", &r.DryRun),
		boolean(flagWait, catMode, "follow the job until it ends, print the summary and exit with its outcome's status (see README, Exit codes)", &r.Wait),

		dur(flagSetupTimeout, "time limit (`DURATION`) of the once-per-node setup, waiting nodes included", DefaultSetupTimeout, &r.SetupTimeout),
		dur(flagFenceTimeout, "time limit (`DURATION`) of the start fence across a step's tasks", DefaultFenceTimeout, &r.FenceTimeout),
		dur(flagStepTimeout, "time limit (`DURATION`) of each task's pytest", 0, &r.StepTimeout),
		dur(flagKillGrace, "`DURATION` between SIGTERM and SIGKILL when a task is stopped; keep it below Slurm's KillWait", DefaultKillGrace, &r.KillGrace),
		dur(flagAfterDeciding, "how long (`DURATION`) other steps may finish on their own after the deciding step (the benchmark) ended", DefaultAfterDeciding, &r.AfterDeciding),
		dur(flagStagger, "pause (`DURATION`) between starting two steps", 0, &r.Stagger),
		str(flagPrecheck, catJob, "`MODE` for a node with fewer GPUs than hardware.gpus_per_node: fail, warn or off", DefaultPrecheck, &r.Precheck),
		dur(flagGPUSample, "interval (`DURATION`) of each task's GPU telemetry through NVML, written to WS/telemetry/<role>/rank<k>.jsonl", DefaultGPUSample, &r.GPUSample),
		str(flagGPUFaults, catJob, "`MODE` for a GPU fault during a task (an XID, an uncorrected ECC error): warn (a line in the summary) or fail (the task fails)", DefaultGPUFaults, &r.GPUFaults),
		str(flagNodeLocalDir, catJob, "node-local `DIR` for setup locks", DefaultNodeLocalDir, &r.NodeLocalDir),
		&cli.IntFlag{Name: flagMaxNodes.Name, Category: catJob, EnvVars: flagMaxNodes.Env, Value: DefaultMaxNodes, Destination: &r.MaxNodes,
			Usage: "refuse a job of more than `N` nodes: a guard against a typo in the config's sizes; raise it for a larger job"},
		&cli.IntFlag{Name: flagMaxNodeGPUs.Name, Category: catJob, EnvVars: flagMaxNodeGPUs.Env, Value: DefaultMaxGPUsPerNode, Destination: &r.MaxGPUsPerNode,
			Usage: "refuse a config whose hardware.gpus_per_node is above `N` (it is also the most tasks a step puts on a node)"},

		str(flagTestMode, catTRTLLM, "`MODE`: trtllm runs each role as TensorRT-LLM's CI does (launcher, conftest options, files under WS); plain runs `pytest ARGS… TEST_ID`; auto is trtllm when --trtllm-dir is set", TestModeAuto, &r.TestMode),
		dflt(str(flagLauncher, catTRTLLM, "launcher `CMD` wrapping every task of multi-node worker steps", "", &r.Launcher), "$TRTLLM_DIR/tensorrt_llm/llmapi/trtllm-llmapi-launch"),
		str(flagStageName, catTRTLLM, "CI stage `NAME`, pytest's --test-prefix; required in trtllm mode", "", &r.StageName),
		&cli.IntFlag{Name: flagPytestTimeout.Name, Category: catTRTLLM, EnvVars: flagPytestTimeout.Env, Value: DefaultPytestTimeout, Destination: &r.PytestTimeout,
			Usage: "pytest --timeout in `SECONDS`"},
		str(flagWaivesFile, catTRTLLM, "waives `FILE` copied to WS/waives.txt (pytest --waives-file)", "", &r.WaivesFile),
		str(flagIMEXChannels, catTRTLLM, "NVIDIA_IMEX_CHANNELS (`LIST`) every role gets, as TensorRT-LLM's CI sets it", "0", &r.IMEXChannels),
		&cli.IntFlag{Name: flagSplits.Name, Category: catTRTLLM, EnvVars: flagSplits.Env, Value: 1, Destination: &r.Splits, Usage: "pytest --splits `N`"},
		&cli.IntFlag{Name: flagGroup.Name, Category: catTRTLLM, EnvVars: flagGroup.Env, Value: 1, Destination: &r.Group, Usage: "pytest --group `K` (1..N)"},
	}, r.Follow.Flags(catMode)...)
}

// WorkspaceFlag is --workspace (-w) of the commands that look at a
// submitted job (status, logs, cancel, wait): the name and env vars submit uses.
func WorkspaceFlag(dst *string) cli.Flag {
	return &cli.StringFlag{Name: flagWorkspace.Name, Aliases: []string{"w"}, Usage: "the job's workspace `DIR`", EnvVars: flagWorkspace.Env, Destination: dst}
}

// dflt sets the text help shows as the default of a flag whose default is
// computed (from the config or another flag).
func dflt(f cli.Flag, text string) cli.Flag {
	f.(*cli.StringFlag).DefaultText = text
	return f
}

// ArgList is a repeatable flag's arguments. On the command line each
// occurrence is one argument, verbatim: a pyxis
// --container-mounts=/a:/a,/b:/b stays whole, where urfave/cli's slice flags
// would split it at the commas. From the environment the value is shell
// words (literal only), parsed by Prepare so that errors name the variable.
type ArgList struct {
	// Args are the command-line values, in order.
	Args []string
	env  string
}

// argListFlag receives command-line occurrences.
type argListFlag ArgList

func (a *argListFlag) Set(v string) error { a.Args = append(a.Args, v); return nil }
func (a *argListFlag) String() string     { return "" }

// argListEnv receives the environment variable's value (replacing, so that
// applying the flag twice is harmless).
type argListEnv ArgList

func (a *argListEnv) Set(v string) error { a.env = v; return nil }
func (a *argListEnv) String() string     { return "" }

// resolve returns the arguments: the command line's if any, else the
// environment's shell words.
func (a *ArgList) resolve(f flagName) ([]string, error) {
	if len(a.Args) > 0 || a.env == "" {
		return a.Args, nil
	}
	args, err := literalArgs(a.env)
	if err != nil {
		return nil, usageError(f, "%v", err)
	}
	return args, nil
}
