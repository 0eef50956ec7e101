// Package jobspec is the typed hand-over between `noderun submit`, `noderun
// job` and `noderun run`: one versioned JSON file (WS/job.json) that replaces
// the exported shell variables and the `eval $pytestCommand` of the reference
// chain. Everything a task needs to start its child is in here, as argv and
// environment entries; nothing is ever re-parsed as shell.
package jobspec

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/noderun/noderun/gpu"
	"github.com/noderun/noderun/internal/atomicfile"
	"github.com/noderun/noderun/internal/redact"
)

// Version is the spec version this binary reads and writes. A spec of
// another version is refused: submit and the in-job binary must agree, which
// is why submit copies itself to WS/bin/noderun.
const Version = 1

// Layouts of a perf config.
const (
	LayoutDisaggregated = "disaggregated"
	LayoutAggregated    = "aggregated"
)

// Step kinds.
const (
	KindWorker    = "worker"
	KindServer    = "server"
	KindBenchmark = "benchmark"
)

// GPU modes of a step, as the spec writes them (gpu owns their meaning).
const (
	GPUModeNode = string(gpu.ModeNode)
	GPUModeTask = string(gpu.ModeTask)
	GPUModeNone = string(gpu.ModeNone)
)

// Roles that are not numbered workers. Aggregated workers have the role
// RoleWorker and no DISAGG_SERVING_TYPE.
const (
	RoleDisaggServer = "DISAGG_SERVER"
	RoleBenchmark    = "BENCHMARK"
	RoleWorker       = "WORKER"
)

// EnvServingType is the variable TensorRT-LLM's test code reads to learn
// its role (GEN_i, CTX_i, DISAGG_SERVER, BENCHMARK; unset when aggregated).
// Only the runner writes it, from Step.Role.
const EnvServingType = "DISAGG_SERVING_TYPE"

// Spec is the whole job.
type Spec struct {
	Version int `json:"version"`
	// Job identifies the job for people: name, test id, config.
	Job Job `json:"job"`
	// Submission is the random id submit gave this submission. With
	// SLURM_RESTART_COUNT it names an attempt: a requeued job keeps its id,
	// and job ids repeat after a controller reset.
	Submission string `json:"submission_id,omitempty"`
	// Workspace is the shared directory every task can read and write.
	Workspace string `json:"workspace"`
	// NodeLocalDir is the node-local directory (setup locks); tasks key it
	// further by node name because lab "nodes" share one filesystem.
	NodeLocalDir string `json:"node_local_dir"`
	// Setup runs once per node before any task's child; nil for none.
	Setup *Command `json:"setup,omitempty"`
	// Timeouts bound every wait.
	Timeouts Timeouts `json:"timeouts"`
	// GPU is the job-wide GPU policy.
	GPU GPUPolicy `json:"gpu"`
	// Srun holds what `noderun job` adds to every srun.
	Srun Srun `json:"srun"`
	// Nodes is the number of nodes the job allocates.
	Nodes int `json:"nodes"`
	// Steps are started by `noderun job`, one srun each, in this order.
	Steps []Step `json:"steps"`
}

// Job describes the job for people and for the test list.
type Job struct {
	Name          string `json:"name"`
	TestID        string `json:"test_id"`
	ConfigName    string `json:"config_name"`
	ConfigFile    string `json:"config_file"`
	Layout        string `json:"layout"`
	BenchmarkMode string `json:"benchmark_mode,omitempty"`
	ServerName    string `json:"server_name,omitempty"`
}

// Timeouts bound every wait of the job. Zero means "no bound" only where
// stated; submit fills every field.
type Timeouts struct {
	// Setup bounds the once-per-node setup, waiters included.
	Setup Duration `json:"setup"`
	// Fence bounds the start fence across a step's tasks.
	Fence Duration `json:"fence"`
	// Step bounds each task's child; zero: no bound (Slurm's --time still applies).
	Step Duration `json:"step"`
	// KillGrace is the time between SIGTERM and SIGKILL for a child's
	// process group; keep it below Slurm's KillWait.
	KillGrace Duration `json:"kill_grace"`
	// AfterDeciding is how long the other steps may finish on their own
	// after the deciding step ended, before they are stopped.
	AfterDeciding Duration `json:"after_deciding"`
	// Stagger is a pause between starting two steps (default 0).
	Stagger Duration `json:"stagger"`
}

// GPUPolicy is the job-wide GPU contract.
type GPUPolicy struct {
	// PerNode is how many GPUs each node must have (0: no check).
	PerNode int `json:"per_node"`
	// Precheck is "fail", "warn" or "off": what a node with fewer GPUs does.
	Precheck string `json:"precheck"`
	// Sample is the interval of each task's GPU telemetry; zero: none.
	Sample Duration `json:"sample,omitempty"`
	// Faults is "warn" or "fail": what a GPU fault during a task does.
	Faults string `json:"faults,omitempty"`
}

// Srun holds what `noderun job` adds to every step's srun.
type Srun struct {
	// Args are extra srun arguments from the user (--srun-arg), e.g. pyxis options.
	Args []string `json:"args,omitempty"`
}

// Step is one srun of the job.
type Step struct {
	Role string `json:"role"`
	Kind string `json:"kind"`
	// FirstNode is the index of the step's first node in the job's node list.
	FirstNode    int    `json:"first_node"`
	Nodes        int    `json:"nodes"`
	Tasks        int    `json:"tasks"`
	TasksPerNode int    `json:"tasks_per_node"`
	MPI          string `json:"mpi,omitempty"`
	Overlap      bool   `json:"overlap"`
	// Deciding marks the step whose end decides the job (the benchmark).
	Deciding bool `json:"deciding"`
	// Fence makes every task wait for all tasks of the step before its child starts.
	Fence bool `json:"fence"`
	// GPUMode is node, task or none; GPUsPerTask is used by mode task.
	GPUMode     string  `json:"gpu_mode"`
	GPUsPerTask int     `json:"gpus_per_task,omitempty"`
	Command     Command `json:"command"`
	// Pytest tells the runner to give the child its task's junit path.
	Pytest bool `json:"pytest"`
	// JunitOption is the pytest option that takes that path: JunitXML
	// (the default when empty) or PeriodicJunit.
	JunitOption string `json:"junit_option,omitempty"`
	// Launcher wraps the command on every task of the step (TensorRT-LLM's
	// trtllm-llmapi-launch); such tasks keep Slurm's and MPI's variables,
	// which the launcher needs.
	Launcher []string `json:"launcher,omitempty"`
	// TaskEnv names variables the runner computes for each task (TaskEnvValue).
	TaskEnv []string `json:"task_env,omitempty"`
	// Log receives the output of every task of the step, besides each
	// task's own log (TensorRT-LLM's TOD/gen_server_<i>.log).
	Log string `json:"log,omitempty"`
	// DoneFile is removed before the step starts and touched once it has
	// ended (TensorRT-LLM's TOD/gen_server_<i>.done).
	DoneFile string `json:"done_file,omitempty"`
}

// Pytest options that take a task's junit path.
const (
	JunitXML      = "--junit-xml"
	PeriodicJunit = "--periodic-junit-xmlpath"
)

// StripsLauncherEnv reports whether the step's children must not see the
// MPI/PMI/Slurm variables: servers, the benchmark and every step of a
// one-node job, else pytest would initialise MPI.
func (s *Spec) StripsLauncherEnv(st *Step) bool {
	return st.Kind != KindWorker || s.Nodes == 1
}

// ServingType is the DISAGG_SERVING_TYPE of the step's children: its role
// in a disaggregated job; ok is false in an aggregated one, where the
// variable must be unset.
func (s *Spec) ServingType(st *Step) (value string, ok bool) {
	if s.Job.Layout != LayoutDisaggregated {
		return "", false
	}
	return st.Role, true
}

// RunsPytest reports whether the task of that rank runs pytest: under a
// launcher only rank 0 does, the other ranks serve it as MPI workers.
func (st *Step) RunsPytest(rank int) bool {
	return st.Pytest && (len(st.Launcher) == 0 || rank == 0)
}

// ArgvWithJunit is the command's argv with the task's junit path given
// through the step's JunitOption: right after that option where the argv
// holds it bare (its place in TensorRT-LLM's pytest line), else at the end.
func (st *Step) ArgvWithJunit(path string) []string {
	argv := slices.Clone(st.Command.Argv)
	if st.JunitOption == "" || st.JunitOption == JunitXML {
		return append(argv, JunitXML+"="+path)
	}
	if i := slices.Index(argv, st.JunitOption); i >= 0 {
		return slices.Insert(argv, i+1, path)
	}
	return append(argv, st.JunitOption, path)
}

// Variables the runner computes per task (Step.TaskEnv), as TensorRT-LLM's
// scripts compute them.
const (
	// EnvFlashinferJITDir is a JIT cache of the task's own, by local rank.
	EnvFlashinferJITDir = "FLASHINFER_JIT_DIR"
	// EnvTimeoutDataFile is where the test records its timeouts, by step and rank.
	EnvTimeoutDataFile = "TRTLLM_TIMEOUT_DATA_FILE"
)

// TaskIdentity is what a computed variable may depend on; a negative
// number or empty string stands for "unknown" and renders as a placeholder.
type TaskIdentity struct {
	Workspace string
	StepID    string
	ProcID    int
	LocalID   int
}

// TaskEnvValue is the value of the computed variable name for a task;
// ok is false for a name the runner does not compute.
func TaskEnvValue(name string, t TaskIdentity) (value string, ok bool) {
	num := func(n int, placeholder string) string {
		if n < 0 {
			return placeholder
		}
		return strconv.Itoa(n)
	}
	switch name {
	case EnvFlashinferJITDir:
		return "/tmp/flashinfer_jit_cache_" + num(t.LocalID, "<SLURM_LOCALID>"), true
	case EnvTimeoutDataFile:
		step := t.StepID
		if step == "" {
			step = "<SLURM_STEP_ID>"
		}
		return filepath.Join(t.Workspace, "timeout_data_step"+step+"_rank"+num(t.ProcID, "<SLURM_PROCID>")+".jsonl"), true
	}
	return "", false
}

// Command is a child process: argv, environment and working directory.
type Command struct {
	Argv []string `json:"argv"`
	// Env entries are applied in order over the inherited environment.
	Env []EnvVar `json:"env,omitempty"`
	// Unset names are removed from the environment.
	Unset []string `json:"unset,omitempty"`
	// Dir is the working directory; empty: the runner's.
	Dir string `json:"dir,omitempty"`
	// LDLibraryPath entries are prepended to LD_LIBRARY_PATH.
	LDLibraryPath []string `json:"ld_library_path,omitempty"`
}

// EnvVar is one NAME=value entry; the value is literal.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Duration is a time.Duration written as "90s" in JSON.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string such as "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"90s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// ErrVersion is returned for a spec written by another noderun version.
var ErrVersion = errors.New("unsupported job spec version")

// Decode reads a spec strictly: unknown fields, trailing data and a wrong
// version are errors, then Validate runs.
func Decode(r io.Reader) (*Spec, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("decode job spec: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode job spec: trailing data after the JSON object")
	}
	if s.Version != Version {
		return nil, fmt.Errorf("%w %d: this noderun reads version %d; run the noderun that wrote it (WS/bin/noderun)", ErrVersion, s.Version, Version)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Load reads and decodes the spec at path.
func Load(path string) (*Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open job spec: %w", err)
	}
	defer f.Close()
	s, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Encode writes the spec as indented JSON; the same spec gives the same bytes.
func (s *Spec) Encode(w io.Writer) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("encode job spec: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// Save writes the spec to path atomically, readable by its owner only: it
// holds the job's env values and pytest arguments, secrets included, and
// usually lies on a shared filesystem.
func (s *Spec) Save(path string) error {
	return atomicfile.Write(path, 0o600, s.Encode)
}

// AddSecrets adds to k the secrets the spec holds: the values of its
// commands' secret-like env entries and the secrets of their command lines
// (setup and steps), so that they can be hidden wherever else they show up.
func (s *Spec) AddSecrets(k *redact.Known) {
	cmds := []*Command{s.Setup}
	for i := range s.Steps {
		cmds = append(cmds, &s.Steps[i].Command)
	}
	for _, c := range cmds {
		if c == nil {
			continue
		}
		for _, e := range c.Env {
			if redact.SecretName(e.Name) {
				k.Add(e.Value)
			}
		}
		k.AddArgs(c.Argv)
	}
}

// Hider returns what hides secrets in text noderun writes besides job.json:
// secret NAME=value words and URL credentials (redact.Text), the values of
// environ's secret-like variables and those the spec holds. s may be nil.
func (s *Spec) Hider(environ []string) func(string) string {
	known := redact.FromEnviron(environ)
	if s != nil {
		s.AddSecrets(known)
	}
	return func(text string) string { return known.String(redact.Text(text)) }
}

// Validate checks what the runner and supervisor rely on.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Workspace == "" {
		bad("workspace is empty")
	}
	if s.Nodes < 1 {
		bad("nodes must be at least 1, got %d", s.Nodes)
	}
	if len(s.Steps) == 0 {
		bad("no steps")
	}
	if _, err := gpu.ParsePrecheck(s.GPU.Precheck); err != nil {
		bad("gpu.precheck %v", err)
	}
	if _, err := gpu.ParseFaults(s.GPU.Faults); err != nil {
		bad("gpu.faults %v", err)
	}
	if s.GPU.Sample < 0 {
		bad("gpu.sample %s is negative", s.GPU.Sample.D())
	}
	seen := map[string]bool{}
	deciding := 0
	for i, st := range s.Steps {
		where := fmt.Sprintf("steps[%d] (%s)", i, st.Role)
		if st.Role == "" {
			bad("steps[%d]: empty role", i)
		}
		if seen[st.Role] {
			bad("%s: role appears twice", where)
		}
		seen[st.Role] = true
		switch st.Kind {
		case KindWorker, KindServer, KindBenchmark:
		default:
			bad("%s: kind %q: use worker, server or benchmark", where, st.Kind)
		}
		if mode, err := gpu.ParseMode(st.GPUMode); err != nil {
			bad("%s: gpu_mode %v", where, err)
		} else if mode == gpu.ModeTask && st.GPUsPerTask < 1 {
			bad("%s: gpu_mode task needs gpus_per_task >= 1", where)
		}
		if st.Nodes < 1 || st.Tasks < 1 || st.TasksPerNode < 1 {
			bad("%s: nodes, tasks and tasks_per_node must be at least 1", where)
		}
		if st.Nodes*st.TasksPerNode != st.Tasks {
			bad("%s: tasks %d != nodes %d × tasks_per_node %d", where, st.Tasks, st.Nodes, st.TasksPerNode)
		}
		if st.FirstNode < 0 || st.FirstNode+st.Nodes > s.Nodes {
			bad("%s: nodes %d..%d outside the job's %d nodes", where, st.FirstNode, st.FirstNode+st.Nodes-1, s.Nodes)
		}
		if len(st.Command.Argv) == 0 {
			bad("%s: empty command", where)
		}
		switch st.JunitOption {
		case "", JunitXML, PeriodicJunit:
		default:
			bad("%s: junit_option %q: use %s or %s", where, st.JunitOption, JunitXML, PeriodicJunit)
		}
		for _, n := range st.TaskEnv {
			if _, ok := TaskEnvValue(n, TaskIdentity{}); !ok {
				bad("%s: task_env %q is not a variable the runner computes", where, n)
			}
		}
		for _, e := range st.Command.Env {
			if !ValidEnvName(e.Name) {
				bad("%s: env name %q is not a valid variable name", where, e.Name)
			}
		}
		if st.Deciding {
			deciding++
		}
	}
	if deciding > 1 {
		bad("%d steps are marked deciding; at most one may be", deciding)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid job spec: %w", errors.Join(errs...))
	}
	return nil
}

// Step returns the step with the given role.
func (s *Spec) Step(role string) (*Step, bool) {
	for i := range s.Steps {
		if s.Steps[i].Role == role {
			return &s.Steps[i], true
		}
	}
	return nil, false
}

// Roles lists the roles of the spec in step order.
func (s *Spec) Roles() []string {
	roles := make([]string, len(s.Steps))
	for i, st := range s.Steps {
		roles[i] = st.Role
	}
	return roles
}

// ValidEnvName reports whether name is a portable environment variable name.
func ValidEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return !strings.ContainsRune(name, '=')
}

// NewSubmissionID returns a random submission id: 16 hex digits.
func NewSubmissionID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on Linux; a clock is unique enough here.
		return strconv.FormatInt(time.Now().UnixNano(), 16)
	}
	return hex.EncodeToString(b[:])
}
