package launcher

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/noderun/noderun/internal/jobspec"
)

// Plan is the shape of a job: its steps, in start order, and what it
// allocates (docs/ARCHITECTURE.md "Roles and steps").
type Plan struct {
	Layout        string
	BenchmarkMode string
	GPUsPerNode   int
	// Nodes is the number of nodes the job allocates.
	Nodes int
	// GPUs is what the job allocates: whole nodes, Nodes × GPUsPerNode, as
	// the reference sizes it; some may stay idle.
	GPUs int
	// Steps are the job spec's steps. Command.Env holds the config's
	// *_env_var entries for the role; the rest of the command is the
	// caller's (see Prepare).
	Steps []jobspec.Step
}

// PlanOptions are the choices a plan needs besides the config.
type PlanOptions struct {
	// ServerName picks the server of an aggregated config.
	ServerName string
	// MPI is the srun --mpi type of worker steps ("" for the cluster default).
	MPI string
	// BenchmarkMode overrides benchmark.mode of a disaggregated config (""
	// keeps it): upstream TensorRT-LLM now names the mode in the test id
	// and leaves the YAML at e2e.
	BenchmarkMode string
	// Limits bound the job's size; a bound left 0 takes its default.
	Limits Limits
}

// NewPlan computes the steps of cfg.
//
// Disaggregated: GEN_0…GEN_{g-1} take the first nodes, then CTX_0…CTX_{c-1},
// each on nodes of its own; DISAGG_SERVER and BENCHMARK are one-task steps on
// node 0 with --overlap, and BENCHMARK decides the job. gen_only_no_context
// runs no CTX servers and, as upstream TensorRT-LLM sizes it, a single GEN
// server whatever num_gen_servers says.
// Aggregated: one WORKER step over ceil(gpus / gpus_per_node) nodes, deciding.
// A job beyond o.Limits is refused before any step is made.
func NewPlan(cfg *Config, o PlanOptions) (*Plan, error) {
	p := &Plan{Layout: cfg.Layout, GPUsPerNode: cfg.GPUsPerNode}
	o.Limits = o.Limits.orDefault()
	if err := o.Limits.checkGPUsPerNode(cfg); err != nil {
		return nil, err
	}
	switch cfg.Layout {
	case jobspec.LayoutDisaggregated:
		if err := p.disaggregated(cfg, o); err != nil {
			return nil, err
		}
	case jobspec.LayoutAggregated:
		s, ok := cfg.Server(o.ServerName)
		if !ok {
			return nil, &ConfigError{File: cfg.Path, Key: "server_configs", Msg: fmt.Sprintf("no server named %q: the config has %v", o.ServerName, cfg.ServerNames())}
		}
		nodes, tpn, err := slice(cfg, &s.Worker)
		if err != nil {
			return nil, err
		}
		if err := o.Limits.checkNodes(cfg, nodes, true, []string{"1 server × " + s.nodesText(nodes, cfg.GPUsPerNode)}); err != nil {
			return nil, err
		}
		p.Steps = append(p.Steps, jobspec.Step{
			Role: jobspec.RoleWorker, Kind: jobspec.KindWorker,
			Nodes: nodes, Tasks: nodes * tpn, TasksPerNode: tpn,
			MPI: o.MPI, Deciding: true, Fence: true, GPUMode: jobspec.GPUModeNode,
			Command: jobspec.Command{Env: slices.Clone(s.Env)},
		})
		p.Nodes = nodes
	default:
		return nil, fmt.Errorf("plan job: unknown layout %q", cfg.Layout)
	}
	var ok bool
	if p.GPUs, ok = mul(p.Nodes, p.GPUsPerNode); !ok {
		return nil, &ConfigError{File: cfg.Path, Msg: fmt.Sprintf("%d nodes × %d GPUs per node overflows", p.Nodes, p.GPUsPerNode)}
	}
	return p, nil
}

func (p *Plan) disaggregated(cfg *Config, o PlanOptions) error {
	p.BenchmarkMode = cfg.BenchmarkMode
	// The id names e2e or gen_only; gen_only_no_context is a gen_only id
	// whose YAML says no context.
	if o.BenchmarkMode != "" && (o.BenchmarkMode != ModeGenOnly || cfg.BenchmarkMode != ModeGenOnlyNoContext) {
		p.BenchmarkMode = o.BenchmarkMode
	}
	numGen, numCtx := cfg.NumGenServers, cfg.NumCtxServers
	if p.BenchmarkMode == ModeGenOnlyNoContext {
		numGen, numCtx = 1, 0
	} else if numCtx < 1 || cfg.Ctx == nil {
		// The file was written for gen_only_no_context; the mode asked for needs CTX servers.
		return &ConfigError{File: cfg.Path, Key: "hardware.num_ctx_servers",
			Msg: fmt.Sprintf("mode %s needs at least one CTX server and worker_config.ctx", p.BenchmarkMode)}
	}
	servers := []*serverGroup{
		{prefix: "GEN", n: numGen, w: cfg.Gen, envKeys: []string{"worker", "gen_worker"}, countKey: "hardware.num_gen_servers", countLine: cfg.numGenLine},
		{prefix: "CTX", n: numCtx, w: cfg.Ctx, envKeys: []string{"worker", "ctx_worker"}, countKey: "hardware.num_ctx_servers", countLine: cfg.numCtxLine},
	}
	if p.BenchmarkMode == ModeGenOnlyNoContext {
		servers[0].countKey, servers[0].countLine = ModeGenOnlyNoContext+" runs one", 0
	}
	// The size is known and bounded before a single step exists.
	total, ok := 0, true
	var terms []string
	for _, g := range servers {
		if g.n == 0 {
			continue
		}
		var err error
		if g.nodes, g.tasksPerNode, err = slice(cfg, g.w); err != nil {
			return err
		}
		n, okMul := mul(g.n, g.nodes)
		sum, okAdd := add(total, n)
		total, ok = sum, ok && okMul && okAdd
		terms = append(terms, g.text(cfg.GPUsPerNode))
	}
	if err := o.Limits.checkNodes(cfg, total, ok, terms); err != nil {
		return err
	}
	next := 0
	for _, g := range servers {
		var env []jobspec.EnvVar
		for _, k := range g.envKeys {
			env = append(env, cfg.Env[k]...)
		}
		for i := range g.n {
			p.Steps = append(p.Steps, jobspec.Step{
				Role: g.prefix + "_" + strconv.Itoa(i), Kind: jobspec.KindWorker,
				FirstNode: next, Nodes: g.nodes, Tasks: g.nodes * g.tasksPerNode, TasksPerNode: g.tasksPerNode,
				MPI: o.MPI, Fence: true, GPUMode: jobspec.GPUModeNode,
				Command: jobspec.Command{Env: slices.Clone(env)},
			})
			next += g.nodes
		}
	}
	p.Nodes = next
	for _, s := range []struct {
		role, kind string
		env        []string
	}{
		{jobspec.RoleDisaggServer, jobspec.KindServer, []string{"server"}},
		// The benchmark is the client: client_env_var belongs to it too.
		{jobspec.RoleBenchmark, jobspec.KindBenchmark, []string{"benchmark", "client"}},
	} {
		var env []jobspec.EnvVar
		for _, k := range s.env {
			env = append(env, cfg.Env[k]...)
		}
		p.Steps = append(p.Steps, jobspec.Step{
			Role: s.role, Kind: s.kind, Nodes: 1, Tasks: 1, TasksPerNode: 1,
			Overlap: true, Deciding: s.role == jobspec.RoleBenchmark,
			GPUMode: jobspec.GPUModeNone, Command: jobspec.Command{Env: env},
		})
	}
	return nil
}

// serverGroup is the GEN or CTX servers of a disaggregated plan.
type serverGroup struct {
	prefix  string
	n       int
	w       *Worker
	envKeys []string
	// countKey and countLine say where n comes from.
	countKey  string
	countLine int
	// nodes and tasksPerNode are each server's, from slice.
	nodes, tasksPerNode int
}

// text says how many nodes the group takes and which keys decide it.
func (g *serverGroup) text(gpusPerNode int) string {
	count := g.countKey
	if g.countLine > 0 {
		count += fmt.Sprintf(", line %d", g.countLine)
	}
	return fmt.Sprintf("%s (%s) × %s", plural(g.n, g.prefix+" server"), count, g.w.nodesText(g.nodes, gpusPerNode))
}

// slice returns the nodes and tasks per node of one server:
// ceil(gpus / gpus_per_node) nodes, min(gpus, gpus_per_node) tasks on each.
// A server larger than a node must fill whole nodes, or its ranks would not
// match the tasks Slurm starts.
func slice(cfg *Config, w *Worker) (nodes, tasksPerNode int, err error) {
	if w == nil {
		return 0, 0, fmt.Errorf("plan job: missing worker sizes")
	}
	gpus, gpn := w.GPUs(), cfg.GPUsPerNode
	if gpus < 1 || gpn < 1 {
		return 0, 0, &ConfigError{File: cfg.Path, Line: w.Line, Key: w.Key, Msg: fmt.Sprintf("needs at least 1 GPU and hardware.gpus_per_node ≥ 1 (got %d and %d)", gpus, gpn)}
	}
	if gpus > gpn && gpus%gpn != 0 {
		return 0, 0, &ConfigError{File: cfg.Path, Line: w.Line, Key: w.Key,
			Msg: fmt.Sprintf("%s GPUs do not fill whole nodes of %d GPUs (hardware.gpus_per_node, line %d): use a multiple of %d, or at most %d",
				w.describe(), gpn, cfg.gpusPerNodeLine, gpn, gpn)}
	}
	nodes = gpus / gpn
	if gpus%gpn != 0 {
		nodes++
	}
	return nodes, min(gpus, gpn), nil
}

// nodesText says how many nodes the server takes and why, for errors.
func (w *Worker) nodesText(nodes, gpusPerNode int) string {
	return fmt.Sprintf("%s (%s, line %d: %s on nodes of %d)", plural(nodes, "node"), w.Key, w.Line, plural(w.GPUs(), "GPU"), gpusPerNode)
}

func (w *Worker) describe() string {
	if w.WorldSize > 0 {
		return fmt.Sprintf("%d (world_size)", w.WorldSize)
	}
	return fmt.Sprintf("%d (tensor %d × pipeline %d × context %d)", w.GPUs(), w.TP, w.PP, w.CP)
}

// MaxTasksPerNode is the most tasks any step puts on one node (what the
// batch job must ask for per node).
func (p *Plan) MaxTasksPerNode() int {
	m := 0
	for _, s := range p.Steps {
		m = max(m, s.TasksPerNode)
	}
	return m
}

// stepGPUs is what a step's server uses: a worker has one task per GPU
// (slice fills whole nodes), the other roles use none.
func stepGPUs(s jobspec.Step) int {
	if s.GPUMode == jobspec.GPUModeNone {
		return 0
	}
	return s.Tasks
}

// WriteTable prints the plan for people: one row per step, then the totals.
func (p *Plan) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tROLE\tKIND\tNODES\tTASKS\tTASKS/NODE\tGPUS")
	for i, s := range p.Steps {
		nodes := strconv.Itoa(s.FirstNode)
		if s.Nodes > 1 {
			nodes += "-" + strconv.Itoa(s.FirstNode+s.Nodes-1)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d [%s]\t%d\t%d\t%d\n", i, s.Role, s.Kind, s.Nodes, nodes, s.Tasks, s.TasksPerNode, stepGPUs(s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	mode := ""
	if p.BenchmarkMode != "" {
		mode = ", mode " + p.BenchmarkMode
	}
	_, err := fmt.Fprintf(w, "total: %s, %d GPUs (%d per node), %s%s\n", plural(p.Nodes, "node"), p.GPUs, p.GPUsPerNode, p.Layout, mode)
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// ModeFromPrefix returns the benchmark mode a test prefix names in its last
// dash-separated part, as upstream ids do (disagg_upload-gen_only_no_context).
func ModeFromPrefix(prefix string) (string, bool) {
	i := strings.LastIndexByte(prefix, '-')
	if i < 0 {
		return "", false
	}
	switch m := prefix[i+1:]; m {
	case ModeE2E, ModeGenOnly, ModeGenOnlyNoContext:
		return m, true
	}
	return "", false
}
