package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/noderun/noderun/gpu"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// Prepared is a validated submission: everything submit writes, in memory.
type Prepared struct {
	Workspace workspace.Layout
	Plan      *Plan
	TestID    TestID
	Spec      *jobspec.Spec
	// Stub is WS/job.sbatch; TestList is WS/test_list.txt; Waives is
	// WS/waives.txt, nil when the mode has none.
	Stub     []byte
	TestList []byte
	Waives   []byte
	// LocalGPUs is the fake GPU count per simulated node for --local.
	LocalGPUs int
}

// usageError is a validation error about one flag: exit status 2.
func usageError(f flagName, format string, args ...any) error {
	return exitcode.Usagef("%s: %s", f, fmt.Sprintf(format, args...))
}

// Prepare validates req completely and computes what submit writes:
// validate → plan → render. Nothing is written, so a request that fails
// here leaves the workspace untouched. Errors carry exit status 2
// (exitcode.Usage); all problems found are reported together.
func (l *Launcher) Prepare(req Request) (*Prepared, error) {
	v := &validator{}
	p := &Prepared{Spec: &jobspec.Spec{Version: jobspec.Version}}
	cfg, stub, cmds := l.validate(v, req, p)
	if cfg != nil && v.ok() {
		plan, err := NewPlan(cfg, l.planOptions(req, p.TestID, cfg))
		if err != nil {
			v.add(exitcode.With(exitcode.Usage, err))
		}
		p.Plan = plan
		if !req.NoGresGPUs && plan != nil {
			stub.GPUsPerNode = plan.GPUsPerNode
		}
	}
	if !v.ok() {
		return nil, v.err()
	}
	if err := p.render(cfg, stub, cmds); err != nil {
		return nil, err
	}
	return p, nil
}

// validate checks every flag and the config, filling p.Spec (all but its
// steps), p.TestID, p.Workspace and p.LocalGPUs as it goes. It returns the
// config, the stub's options and the command every role runs.
func (l *Launcher) validate(v *validator, req Request, p *Prepared) (*Config, Stub, roleCommands) {
	spec := p.Spec
	// Existing jobs keep the id the reference chain gave them. An empty
	// environment variable (CI often exports unset parameters as "") means
	// the default, for every flag that has one.
	id := TestID{
		Module:   orDefault(req.TestModule, DefaultTestModule),
		Function: orDefault(req.TestFunction, DefaultTestFunction),
		Prefix:   orDefault(req.TestPrefix, DefaultTestPrefix),
	}
	v.part(flagTestModule, PartModule, id.Module)
	v.part(flagTestFunction, PartFunction, id.Function)
	v.part(flagTestPrefix, PartPrefix, id.Prefix)

	spec.Submission = l.o.SubmissionID()
	spec.Workspace = v.workspace(req.Workspace)
	p.Workspace = workspace.New(spec.Workspace)

	cfg, cfgPath, name := l.findConfig(v, req)
	id.ConfigName = name
	if cfg != nil && req.TestPrefix == "" && resolveTestMode(req) == TestModeTRTLLM {
		id.Prefix = trtllmDefaultPrefix(cfg)
	}
	if cfg != nil {
		id.ServerName = v.serverName(cfg, cfgPath, req.ServerName)
		if req.MPI != "" && !mpiType().MatchString(req.MPI) {
			v.add(usageError(flagMPI, "%q is not an MPI type: use a name such as pmix, pmi2 or none", req.MPI))
		}
	}
	p.TestID = id

	v.noNUL(req)
	testRoot := l.testRoot(v, req)
	argv := append([]string{orDefault(req.Pytest, DefaultPytest)}, v.args(&req.PytestArgs, flagPytestArg, false)...)
	spec.Srun.Args = v.args(&req.SrunArgs, flagSrunArg, false)
	spec.Setup = v.setup(req.Setup, testRoot)
	spec.NodeLocalDir = orDefault(req.NodeLocalDir, DefaultNodeLocalDir)
	if !filepath.IsAbs(spec.NodeLocalDir) {
		v.add(usageError(flagNodeLocalDir, "%q must be an absolute path on the compute nodes", spec.NodeLocalDir))
	}
	spec.GPU.Precheck = orDefault(req.Precheck, DefaultPrecheck)
	if _, err := gpu.ParsePrecheck(spec.GPU.Precheck); err != nil {
		v.add(usageError(flagPrecheck, "%v", err))
	}
	spec.GPU.Faults = orDefault(req.GPUFaults, DefaultGPUFaults)
	if _, err := gpu.ParseFaults(spec.GPU.Faults); err != nil {
		v.add(usageError(flagGPUFaults, "%v", err))
	}
	if err := checkDuration(flagGPUSample, req.GPUSample); err != nil {
		v.add(err)
	} else if req.GPUSample > 0 && req.GPUSample < MinGPUSample {
		v.add(usageError(flagGPUSample, "%s is below %s: sampling that often costs more CPU than it tells", req.GPUSample, MinGPUSample))
	}
	spec.GPU.Sample = jobspec.Duration(req.GPUSample)
	spec.Timeouts = v.timeouts(req)
	v.limits(req)
	if req.LocalGPUs < 0 {
		v.add(usageError(flagLocalGPUs, "%d is negative", req.LocalGPUs))
	} else if req.LocalGPUs > 0 && !req.Local {
		v.add(usageError(flagLocalGPUs, "only applies with --local"))
	}
	p.LocalGPUs = req.LocalGPUs
	if err := req.Follow.Validate(); err != nil {
		v.add(err)
	}

	stub := v.stub(req, cfg)
	if stub.JobName == "" {
		stub.JobName = id.ConfigName
	}
	stub.SbatchArgs = v.args(&req.SbatchArgs, flagSbatchArg, true)
	stub.Output = p.Workspace.BatchOutputPattern()
	stub.Binary, stub.Spec = p.Workspace.Binary(), p.Workspace.Spec()
	if cfg != nil {
		absConfig, err := filepath.Abs(cfgPath)
		if err != nil {
			v.add(fmt.Errorf("resolve config path: %w", err))
		}
		spec.Job = jobspec.Job{Name: stub.JobName, TestID: id.String(), ConfigName: id.ConfigName, ConfigFile: absConfig,
			Layout: cfg.Layout, ServerName: id.ServerName}
	}
	cmds, waives := v.testMode(req, jobspec.Command{Argv: append(argv, id.String()), Dir: testRoot}, cfg, id)
	p.Waives = waives
	return cfg, stub, cmds
}

// planOptions are the choices of req that shape the plan.
func (l *Launcher) planOptions(req Request, id TestID, cfg *Config) PlanOptions {
	o := PlanOptions{ServerName: id.ServerName, MPI: req.MPI, Limits: Limits{MaxNodes: req.MaxNodes, MaxGPUsPerNode: req.MaxGPUsPerNode}}
	if mode, ok := ModeFromPrefix(id.Prefix); ok && cfg.Layout == jobspec.LayoutDisaggregated {
		o.BenchmarkMode = mode
		if mode != cfg.BenchmarkMode {
			l.o.Log.Info().Str("prefix", id.Prefix).Str("config_mode", cfg.BenchmarkMode).Str("mode", mode).Msg("benchmark mode taken from the test prefix")
		}
	}
	return o
}

// render completes the spec with the plan's steps and their commands, and
// writes the stub and the test list.
func (p *Prepared) render(cfg *Config, stub Stub, cmds roleCommands) error {
	plan, spec := p.Plan, p.Spec
	spec.Job.BenchmarkMode = plan.BenchmarkMode
	spec.GPU.PerNode = plan.GPUsPerNode
	spec.Nodes = plan.Nodes
	spec.Steps = plan.Steps
	if err := cmds.attach(p, cfg); err != nil {
		return exitcode.With(exitcode.Usage, err)
	}
	if err := spec.Validate(); err != nil {
		return exitcode.With(exitcode.Internal, fmt.Errorf("build job spec: %w", err))
	}
	if p.LocalGPUs == 0 {
		p.LocalGPUs = cfg.GPUsPerNode
	}
	stub.Nodes, stub.TasksPerNode = plan.Nodes, plan.MaxTasksPerNode()
	var buf bytes.Buffer
	if err := WriteStub(&buf, stub); err != nil {
		return exitcode.With(exitcode.Usage, err)
	}
	p.Stub = buf.Bytes()
	p.TestList = []byte(spec.Job.TestID + "\n")
	return nil
}

// workspace makes --workspace absolute and checks that Slurm can carry it.
func (v *validator) workspace(dir string) string {
	ws := v.dir(flagWorkspace, dir, true)
	if ws == "" {
		return ""
	}
	if c, ok := firstOutside(ws, func(r rune) bool { return unicode.IsPrint(r) && r != '%' && r != '\\' }); ok {
		v.add(usageError(flagWorkspace, "%s is not allowed in the workspace path %q: Slurm's --output pattern and #SBATCH lines cannot carry it", c, ws))
	} else if fi, err := os.Stat(ws); err == nil && !fi.IsDir() {
		v.add(usageError(flagWorkspace, "%s exists and is not a directory", ws))
	}
	return ws
}

// serverName checks --server-name against the config's layout and
// returns it for the test id.
func (v *validator) serverName(cfg *Config, cfgPath, name string) string {
	if cfg.Layout != jobspec.LayoutAggregated {
		if name != "" {
			v.add(usageError(flagServerName, "applies only to aggregated configs (server_configs); %s is disaggregated", cfgPath))
		}
		return ""
	}
	names := strings.Join(cfg.ServerNames(), ", ")
	switch {
	case name == "":
		v.add(usageError(flagServerName, "is required for the aggregated config %s: choose one of %s", cfgPath, names))
	case !v.part(flagServerName, PartServerName, name):
	default:
		if _, ok := cfg.Server(name); ok {
			return name
		}
		v.add(usageError(flagServerName, "no server %q in %s: choose one of %s", name, cfgPath, names))
	}
	return ""
}

// testRoot is where pytest runs: --test-root, else DEFS of --trtllm-dir,
// else the current directory.
func (l *Launcher) testRoot(v *validator, req Request) string {
	root := req.TestRoot
	if root == "" && req.TrtllmDir != "" {
		root = filepath.Join(req.TrtllmDir, "tests", "integration", "defs")
	}
	root = v.dir(flagTestRoot, orDefault(root, "."), false)
	if root == "" {
		return ""
	}
	fi, err := os.Stat(root)
	switch {
	case err == nil && !fi.IsDir():
		v.add(usageError(flagTestRoot, "%s is not a directory: give the directory pytest runs in (the one with conftest.py)", root))
	case err != nil && req.Local:
		// --local runs on this host: what is missing here is missing there.
		v.add(usageError(flagTestRoot, "test root %s does not exist: give the directory pytest runs in (the one with conftest.py)%s",
			root, derivedFrom(req)))
	case err != nil:
		// Only a warning: the compute nodes may mount what this host lacks.
		l.o.Log.Warn().Str("test_root", root).Err(err).Msg("the test root is not visible here; pytest will run there on the compute nodes")
	}
	return root
}

// derivedFrom says where a test root came from when no --test-root was given.
func derivedFrom(req Request) string {
	switch {
	case req.TestRoot != "":
		return ""
	case req.TrtllmDir != "":
		return "; it was derived from TRTLLM_DIR (--trtllm-dir) as $TRTLLM_DIR/tests/integration/defs"
	}
	return "; without --test-root pytest runs in the current directory"
}

// noNUL refuses a NUL byte in the flags whose values become an argument, a
// path or a working directory without a character check of their own: no
// execve or open can carry one. The repeatable flags and --setup are checked
// where they are parsed.
func (v *validator) noNUL(req Request) {
	for _, s := range []struct {
		f     flagName
		value string
	}{{flagConfig, req.Config}, {flagConfigDir, req.ConfigDir}, {flagTestRoot, req.TestRoot}, {flagTrtllmDir, req.TrtllmDir},
		{flagPytest, req.Pytest}, {flagLauncher, req.Launcher}, {flagNodeLocalDir, req.NodeLocalDir}} {
		if strings.IndexByte(s.value, 0) >= 0 {
			v.add(usageError(s.f, "%q contains a NUL byte, which no argument or path can carry", s.value))
		}
	}
}

// setup parses --setup into the once-per-node command; nil for none.
func (v *validator) setup(words, dir string) *jobspec.Command {
	if strings.TrimSpace(words) == "" {
		return nil
	}
	argv, err := literalArgs(words)
	if err != nil {
		v.add(usageError(flagSetup, "%v", err))
		return nil
	}
	if len(argv) == 0 {
		return nil
	}
	return &jobspec.Command{Argv: argv, Dir: dir}
}

// timeouts checks the job limits against their rules (durationRules).
func (v *validator) timeouts(req Request) jobspec.Timeouts {
	for _, d := range []struct {
		f flagName
		d time.Duration
	}{{flagSetupTimeout, req.SetupTimeout}, {flagFenceTimeout, req.FenceTimeout}, {flagStepTimeout, req.StepTimeout},
		{flagKillGrace, req.KillGrace}, {flagAfterDeciding, req.AfterDeciding}, {flagStagger, req.Stagger}} {
		if err := checkDuration(d.f, d.d); err != nil {
			v.add(err)
		}
	}
	return jobspec.Timeouts{
		Setup: jobspec.Duration(req.SetupTimeout), Fence: jobspec.Duration(req.FenceTimeout),
		Step: jobspec.Duration(req.StepTimeout), KillGrace: jobspec.Duration(req.KillGrace),
		AfterDeciding: jobspec.Duration(req.AfterDeciding), Stagger: jobspec.Duration(req.Stagger),
	}
}

// stub checks the Slurm options that go on #SBATCH lines, which sbatch
// parses itself: no backslashes or control characters; partitions and
// accounts are names. The time limit falls back to slurm.job_time.
func (v *validator) stub(req Request, cfg *Config) Stub {
	for _, s := range []struct {
		f      flagName
		value  string
		spaces bool
	}{{flagPartition, req.Partition, false}, {flagAccount, req.Account, false}, {flagJobName, req.JobName, true}} {
		if c, ok := firstOutside(s.value, func(r rune) bool {
			return unicode.IsPrint(r) && r != '\\' && (s.spaces || !unicode.IsSpace(r))
		}); ok {
			v.add(usageError(s.f, "%s is not allowed in %q", c, s.value))
		}
	}
	if req.SignalBefore < 0 {
		v.add(usageError(flagSignalBefore, "%d is negative: give seconds, or 0 for no warning signal", req.SignalBefore))
	}
	jobTime := req.Time
	if _, err := parseTimeLimit(jobTime); jobTime != "" && err != nil {
		v.add(usageError(flagTime, "%q is not a Slurm time: %v", jobTime, err))
	}
	if jobTime == "" && cfg != nil && cfg.JobTime != "" {
		jobTime = cfg.JobTime
		if _, err := parseTimeLimit(jobTime); err != nil {
			v.add(exitcode.With(exitcode.Usage, &ConfigError{File: cfg.Path, Line: cfg.jobTimeLine, Key: "slurm.job_time",
				Msg: fmt.Sprintf("%q is not a Slurm time (%v): fix it or override it with %s", jobTime, err, flagTime)}))
		}
	}
	return Stub{JobName: req.JobName, Time: jobTime, Partition: req.Partition, Account: req.Account,
		SignalBefore: warningSeconds(req.SignalBefore, jobTime)}
}

// mpiType is what srun --mpi takes: a plugin name.
var mpiType = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_.-]+$`) })

// findConfig locates and parses the config: --config FILE, or
// --config-name NAME searched in --config-dir or TensorRT-LLM's two
// perf-sanity directories. It returns the config, its path and the config
// name of the test id.
func (l *Launcher) findConfig(v *validator, req Request) (*Config, string, string) {
	name := req.ConfigName
	if name != "" && !v.part(flagConfigName, PartConfigName, name) {
		return nil, "", ""
	}
	path := req.Config
	switch {
	case path != "":
		if name == "" {
			name = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".yaml"), ".yml")
			if err := ValidatePart(PartConfigName, name); err != nil {
				v.add(usageError(flagConfig, "the config name taken from the file name is not usable in a test id: %v; rename the file or set %s", err, flagConfigName))
				return nil, "", ""
			}
		}
	case name == "":
		v.add(usageError(flagConfigName, "no config given: set %s or %s", flagConfig, flagConfigName))
		return nil, "", ""
	default:
		var dirs []string
		switch {
		case req.ConfigDir != "":
			dirs = []string{req.ConfigDir}
		case req.TrtllmDir != "":
			base := filepath.Join(req.TrtllmDir, "tests", "scripts", "perf-sanity")
			dirs = []string{filepath.Join(base, "disaggregated"), filepath.Join(base, "aggregated")}
		default:
			v.add(usageError(flagConfigName, "needs a directory to look in: set %s or %s, or give the file with %s", flagConfigDir, flagTrtllmDir, flagConfig))
			return nil, "", ""
		}
		var found []string
		for _, d := range dirs {
			for _, ext := range []string{".yaml", ".yml"} {
				if fi, err := os.Stat(filepath.Join(d, name+ext)); err == nil && fi.Mode().IsRegular() {
					found = append(found, filepath.Join(d, name+ext))
				}
			}
		}
		switch len(found) {
		case 0:
			v.add(usageError(flagConfigName, "config %q not found: looked for %s.yaml in %s", name, name, strings.Join(dirs, " and ")))
			return nil, "", ""
		case 1:
			path = found[0]
		default:
			v.add(usageError(flagConfigName, "config %q is ambiguous: %s; pick one with %s", name, strings.Join(found, " and "), flagConfig))
			return nil, "", ""
		}
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			v.add(usageError(flagConfig, "%s does not exist", path))
		} else {
			v.add(exitcode.With(exitcode.Usage, err))
		}
		return nil, "", ""
	}
	return cfg, path, name
}

// validator collects every validation problem, so that one run shows them all.
type validator struct{ errs []error }

func (v *validator) add(err error) { v.errs = append(v.errs, err) }
func (v *validator) ok() bool      { return len(v.errs) == 0 }

func (v *validator) err() error {
	if len(v.errs) == 1 {
		return v.errs[0]
	}
	return exitcode.With(exitcode.Usage, errors.Join(v.errs...))
}

// part checks a test id part and reports whether it is valid.
func (v *validator) part(f flagName, part, value string) bool {
	if err := ValidatePart(part, value); err != nil {
		v.add(usageError(f, "%v", err))
		return false
	}
	return true
}

// dir makes a directory flag absolute; required flags must be set.
func (v *validator) dir(f flagName, dir string, required bool) string {
	if dir == "" {
		if required {
			v.add(usageError(f, "is required"))
		}
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		v.add(usageError(f, "%q: %v", dir, err))
		return ""
	}
	return abs
}

// args resolves a repeatable flag. sbatch options must look like options
// and fit on a #SBATCH line.
func (v *validator) args(a *ArgList, f flagName, sbatch bool) []string {
	args, err := a.resolve(f)
	if err != nil {
		v.add(err)
		return nil
	}
	for _, arg := range args {
		if strings.IndexByte(arg, 0) >= 0 {
			v.add(usageError(f, "%q contains a NUL byte, which no argument can carry", arg))
			continue
		}
		if !sbatch {
			continue
		}
		if !strings.HasPrefix(arg, "-") {
			v.add(usageError(f, "%q is not an sbatch option: write it as --option=value", arg))
		} else if c, ok := firstOutside(arg, func(r rune) bool { return unicode.IsPrint(r) && r != '\\' }); ok {
			v.add(usageError(f, "%s is not allowed in %q: a #SBATCH line cannot carry it", c, arg))
		}
	}
	return args
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
