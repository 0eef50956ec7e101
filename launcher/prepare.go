package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode"

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
	// Stub is WS/job.sbatch; TestList is WS/test_list.txt.
	Stub     []byte
	TestList []byte
	// LocalGPUs is the fake GPU count per simulated node for --local.
	LocalGPUs int
}

// usageError is a validation error about one flag: exit status 2.
func usageError(f flagName, format string, args ...any) error {
	return exitcode.Usagef("%s: %s", f, fmt.Sprintf(format, args...))
}

// Prepare validates req completely and computes what submit writes. Nothing
// is written: a request that fails here leaves the workspace untouched.
// Errors carry exit status 2 (exitcode.Usage); all problems found are
// reported together.
func (l *Launcher) Prepare(req Request) (*Prepared, error) {
	v := &validator{}
	p := &Prepared{}
	// An empty environment variable (CI often exports unset parameters as
	// "") means the default, for every flag that has one.
	req.Pytest = orDefault(req.Pytest, DefaultPytest)
	req.Precheck = orDefault(req.Precheck, DefaultPrecheck)
	req.NodeLocalDir = orDefault(req.NodeLocalDir, DefaultNodeLocalDir)

	// Existing jobs keep the id the reference chain gave them.
	id := TestID{
		Module:   orDefault(req.TestModule, DefaultTestModule),
		Function: orDefault(req.TestFunction, DefaultTestFunction),
		Prefix:   orDefault(req.TestPrefix, DefaultTestPrefix),
	}
	v.part(flagTestModule, PartModule, id.Module)
	v.part(flagTestFunction, PartFunction, id.Function)
	v.part(flagTestPrefix, PartPrefix, id.Prefix)

	ws := v.dir(flagWorkspace, req.Workspace, true)
	if ws != "" {
		if c, ok := firstOutside(ws, func(r rune) bool { return unicode.IsPrint(r) && r != '%' && r != '\\' }); ok {
			v.add(usageError(flagWorkspace, "%s is not allowed in the workspace path %q: Slurm's --output pattern and #SBATCH lines cannot carry it", c, ws))
		} else if fi, err := os.Stat(ws); err == nil && !fi.IsDir() {
			v.add(usageError(flagWorkspace, "%s exists and is not a directory", ws))
		}
	}
	p.Workspace = workspace.New(ws)

	cfg, cfgPath, name := l.findConfig(v, req)
	id.ConfigName = name
	var plan *Plan
	if cfg != nil {
		switch cfg.Layout {
		case jobspec.LayoutAggregated:
			names := strings.Join(cfg.ServerNames(), ", ")
			if req.ServerName == "" {
				v.add(usageError(flagServerName, "is required for the aggregated config %s: choose one of %s", cfgPath, names))
			} else if v.part(flagServerName, PartServerName, req.ServerName) {
				if _, ok := cfg.Server(req.ServerName); !ok {
					v.add(usageError(flagServerName, "no server %q in %s: choose one of %s", req.ServerName, cfgPath, names))
				} else {
					id.ServerName = req.ServerName
				}
			}
		default:
			if req.ServerName != "" {
				v.add(usageError(flagServerName, "applies only to aggregated configs (server_configs); %s is disaggregated", cfgPath))
			}
		}
		if req.MPI != "" && !mpiType.MatchString(req.MPI) {
			v.add(usageError(flagMPI, "%q is not an MPI type: use a name such as pmix, pmi2 or none", req.MPI))
		}
		if v.ok() {
			var err error
			o := PlanOptions{ServerName: id.ServerName, MPI: req.MPI}
			if mode, ok := ModeFromPrefix(id.Prefix); ok && cfg.Layout == jobspec.LayoutDisaggregated {
				o.BenchmarkMode = mode
				if mode != cfg.BenchmarkMode {
					l.o.Log.Info().Str("prefix", id.Prefix).Str("config_mode", cfg.BenchmarkMode).Str("mode", mode).Msg("benchmark mode taken from the test prefix")
				}
			}
			if plan, err = NewPlan(cfg, o); err != nil {
				v.add(exitcode.With(exitcode.Usage, err))
			}
		}
	}

	testRoot := req.TestRoot
	if testRoot == "" && req.TrtllmDir != "" {
		testRoot = filepath.Join(req.TrtllmDir, "tests", "integration", "defs")
	}
	if testRoot == "" {
		testRoot = "."
	}
	testRoot = v.dir(flagTestRoot, testRoot, false)
	if _, err := os.Stat(testRoot); err != nil && testRoot != "" {
		// Only a warning: the compute nodes may mount what this host lacks.
		l.o.Log.Warn().Str("test_root", testRoot).Err(err).Msg("the test root is not visible here; pytest will run there on the compute nodes")
	}

	pytestArgs := v.args(&req.PytestArgs, flagPytestArg, false)
	srunArgs := v.args(&req.SrunArgs, flagSrunArg, false)
	sbatchArgs := v.args(&req.SbatchArgs, flagSbatchArg, true)

	var setup *jobspec.Command
	if strings.TrimSpace(req.Setup) != "" {
		argv, err := literalArgs(req.Setup)
		if err != nil {
			v.add(usageError(flagSetup, "%v", err))
		} else if len(argv) > 0 {
			setup = &jobspec.Command{Argv: argv, Dir: testRoot}
		}
	}

	switch req.Precheck {
	case "fail", "warn", "off":
	default:
		v.add(usageError(flagPrecheck, "%q: use fail, warn or off", req.Precheck))
	}
	nodeLocal := req.NodeLocalDir
	if !filepath.IsAbs(nodeLocal) {
		v.add(usageError(flagNodeLocalDir, "%q must be an absolute path on the compute nodes", nodeLocal))
	}
	for _, d := range []struct {
		f flagName
		d time.Duration
	}{{flagSetupTimeout, req.SetupTimeout}, {flagFenceTimeout, req.FenceTimeout}, {flagStepTimeout, req.StepTimeout},
		{flagKillGrace, req.KillGrace}, {flagAfterDeciding, req.AfterDeciding}, {flagStagger, req.Stagger}} {
		if d.d < 0 {
			v.add(usageError(d.f, "%s is negative", d.d))
		}
	}
	if req.SignalBefore < 0 {
		v.add(usageError(flagSignalBefore, "%d is negative: give seconds, or 0 for no warning signal", req.SignalBefore))
	}
	if req.LocalGPUs < 0 {
		v.add(usageError(flagLocalGPUs, "%d is negative", req.LocalGPUs))
	} else if req.LocalGPUs > 0 && !req.Local {
		v.add(usageError(flagLocalGPUs, "only applies with --local"))
	}
	// These values go on #SBATCH lines, which sbatch parses itself: no
	// backslashes or control characters; partitions and accounts are names.
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
	jobTime := req.Time
	if jobTime != "" && !slurmTime.MatchString(jobTime) {
		v.add(usageError(flagTime, "%q is not a Slurm time: use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS", jobTime))
	}
	if jobTime == "" && cfg != nil && cfg.JobTime != "" {
		jobTime = cfg.JobTime
		if !slurmTime.MatchString(jobTime) {
			v.add(exitcode.With(exitcode.Usage, &ConfigError{File: cfg.Path, Line: cfg.jobTimeLine, Key: "slurm.job_time",
				Msg: fmt.Sprintf("%q is not a Slurm time (minutes, HH:MM:SS or D-HH:MM:SS): fix it or override it with %s", jobTime, flagTime)}))
		}
	}

	if !v.ok() {
		return nil, v.err()
	}

	p.Plan, p.TestID = plan, id
	p.LocalGPUs = req.LocalGPUs
	if p.LocalGPUs == 0 {
		p.LocalGPUs = cfg.GPUsPerNode
	}
	jobName := req.JobName
	if jobName == "" {
		jobName = id.ConfigName
	}
	absConfig, err := filepath.Abs(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("resolve config path: %w", err)
	}
	p.Spec = buildSpec(specInput{
		Job: jobspec.Job{Name: jobName, TestID: id.String(), ConfigName: id.ConfigName, ConfigFile: absConfig,
			Layout: cfg.Layout, BenchmarkMode: plan.BenchmarkMode, ServerName: id.ServerName},
		Workspace: ws, NodeLocalDir: nodeLocal, TestRoot: testRoot, Setup: setup,
		Pytest: req.Pytest, PytestArgs: pytestArgs, SrunArgs: srunArgs,
		Timeouts: jobspec.Timeouts{
			Setup: jobspec.Duration(req.SetupTimeout), Fence: jobspec.Duration(req.FenceTimeout),
			Step: jobspec.Duration(req.StepTimeout), KillGrace: jobspec.Duration(req.KillGrace),
			AfterDeciding: jobspec.Duration(req.AfterDeciding), Stagger: jobspec.Duration(req.Stagger),
		},
		Precheck: req.Precheck, Plan: plan,
	})
	if err := p.Spec.Validate(); err != nil {
		return nil, exitcode.With(exitcode.Internal, fmt.Errorf("build job spec: %w", err))
	}
	var stub bytes.Buffer
	gpus := plan.GPUsPerNode
	if req.NoGresGPUs {
		gpus = 0
	}
	err = WriteStub(&stub, Stub{
		JobName: jobName, Nodes: plan.Nodes, TasksPerNode: plan.MaxTasksPerNode(), GPUsPerNode: gpus,
		Time: jobTime, Partition: req.Partition, Account: req.Account,
		Output: filepath.Join(ws, "slurm-%j.out"), SignalBefore: warningSeconds(req.SignalBefore, jobTime), SbatchArgs: sbatchArgs,
		Binary: p.Workspace.Binary(), Spec: p.Workspace.Spec(),
	})
	if err != nil {
		return nil, exitcode.With(exitcode.Usage, err)
	}
	p.Stub = stub.Bytes()
	p.TestList = []byte(id.String() + "\n")
	return p, nil
}

var (
	// Slurm's --time forms, and its words for no limit.
	slurmTime = regexp.MustCompile(`^(?:\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2}|(?i:unlimited|infinite))$`)
	mpiType   = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

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
			v.add(usageError(f, "%q contains a NUL byte", arg))
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
