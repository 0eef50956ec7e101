package launcher

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/noderun/noderun/internal/jobspec"
)

// sharedConfigs is where the real TensorRT-LLM configs live beside the
// project (never copied into it).
const sharedConfigs = "../../shared/trtllm-configs"

// expectedSize is one entry of expected.json: the sizes the reference
// formula gives.
type expectedSize struct {
	File          string `json:"file"`
	Layout        string `json:"layout"`
	BenchmarkMode string `json:"benchmark_mode"`
	Server        string `json:"server"`
	GPUsPerNode   int    `json:"gpus_per_node"`
	// disaggregated
	NumCtx          int `json:"num_ctx"`
	NumGen          int `json:"num_gen"`
	GPUsPerCtx      int `json:"gpus_per_ctx"`
	GPUsPerGen      int `json:"gpus_per_gen"`
	NodesPerCtx     int `json:"nodes_per_ctx"`
	NodesPerGen     int `json:"nodes_per_gen"`
	TasksPerNodeCtx int `json:"tasks_per_node_ctx"`
	TasksPerNodeGen int `json:"tasks_per_node_gen"`
	TotalNodes      int `json:"total_nodes"`
	TotalGPUs       int `json:"total_gpus"`
	// aggregated
	GPUs         int `json:"gpus"`
	Nodes        int `json:"nodes"`
	TasksPerNode int `json:"tasks_per_node"`
}

// The 11 real configs beside the checkout must size exactly as
// expected.json says. CI always has them: there a missing copy fails.
func TestPlanSharedConfigs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(sharedConfigs, "expected.json"))
	if os.IsNotExist(err) {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: CI runs with the shared configs beside the checkout", sharedConfigs)
		}
		t.Skipf("%s not present: the real configs live beside the project checkout", sharedConfigs)
	}
	if err != nil {
		t.Fatal(err)
	}
	var want []expectedSize
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, w := range want {
		files[w.File] = true
		t.Run(strings.TrimSuffix(filepath.Base(w.File), ".yaml")+"/"+w.Server, func(t *testing.T) {
			cfg, err := LoadConfig(filepath.Join(sharedConfigs, w.File))
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewPlan(cfg, PlanOptions{ServerName: w.Server})
			if err != nil {
				t.Fatal(err)
			}
			if err := checkPlanInvariants(p); err != nil {
				t.Fatal(err)
			}
			if p.GPUsPerNode != w.GPUsPerNode {
				t.Errorf("gpus_per_node = %d, want %d", p.GPUsPerNode, w.GPUsPerNode)
			}
			switch w.Layout {
			case "disagg":
				if p.Layout != jobspec.LayoutDisaggregated || p.BenchmarkMode != w.BenchmarkMode {
					t.Errorf("layout %s mode %s, want disaggregated %s", p.Layout, p.BenchmarkMode, w.BenchmarkMode)
				}
				got := map[string]*summary{"GEN": {}, "CTX": {}}
				for _, s := range p.Steps {
					kind, _, _ := strings.Cut(s.Role, "_")
					if g := got[kind]; g != nil {
						g.add(s)
					}
				}
				check(t, "CTX", got["CTX"], summary{w.NumCtx, w.GPUsPerCtx, w.NodesPerCtx, w.TasksPerNodeCtx})
				check(t, "GEN", got["GEN"], summary{w.NumGen, w.GPUsPerGen, w.NodesPerGen, w.TasksPerNodeGen})
				if p.Nodes != w.TotalNodes || p.GPUs != w.TotalGPUs {
					t.Errorf("total %d nodes %d GPUs, want %d and %d", p.Nodes, p.GPUs, w.TotalNodes, w.TotalGPUs)
				}
			case "aggr":
				if len(p.Steps) != 1 || p.Steps[0].Role != jobspec.RoleWorker {
					t.Fatalf("steps = %+v, want one WORKER step", p.Steps)
				}
				s := p.Steps[0]
				if stepGPUs(s) != w.GPUs || s.Nodes != w.Nodes || s.TasksPerNode != w.TasksPerNode || p.Nodes != w.Nodes {
					t.Errorf("WORKER: %d GPUs, %d nodes, %d tasks/node; want %d, %d, %d", stepGPUs(s), s.Nodes, s.TasksPerNode, w.GPUs, w.Nodes, w.TasksPerNode)
				}
			default:
				t.Fatalf("unknown layout %q in expected.json", w.Layout)
			}
		})
	}
	if len(files) != 11 {
		t.Errorf("expected.json covers %d files, want the 11 shared configs", len(files))
	}
}

// summary is what expected.json says about one server kind.
type summary struct{ count, gpus, nodes, tasksPerNode int }

func (s *summary) add(p jobspec.Step) {
	s.count++
	s.gpus, s.nodes, s.tasksPerNode = stepGPUs(p), p.Nodes, p.TasksPerNode
}

func check(t *testing.T, kind string, got *summary, want summary) {
	t.Helper()
	if want.count == 0 {
		if got.count != 0 {
			t.Errorf("%s: %d steps, want none", kind, got.count)
		}
		return
	}
	if *got != want {
		t.Errorf("%s: got %+v, want %+v", kind, *got, want)
	}
}

// checkPlanInvariants holds for every plan: steps on disjoint consecutive
// node slices (except overlapping one-task steps), tasks = nodes × per node,
// one deciding step, and a spec that validates.
func checkPlanInvariants(p *Plan) error {
	next, deciding := 0, 0
	for _, s := range p.Steps {
		if s.Tasks != s.Nodes*s.TasksPerNode {
			return fmt.Errorf("%s: tasks %d != %d × %d", s.Role, s.Tasks, s.Nodes, s.TasksPerNode)
		}
		if s.Deciding {
			deciding++
		}
		if s.Overlap {
			if s.FirstNode != 0 || s.Nodes != 1 || s.Tasks != 1 {
				return fmt.Errorf("%s: overlapping step must be one task on node 0", s.Role)
			}
			continue
		}
		if s.FirstNode != next {
			return fmt.Errorf("%s starts on node %d, want %d", s.Role, s.FirstNode, next)
		}
		next += s.Nodes
	}
	if next != p.Nodes || deciding != 1 || p.GPUs != p.Nodes*p.GPUsPerNode {
		return fmt.Errorf("plan: nodes %d (steps use %d), %d deciding steps, GPUs %d", p.Nodes, next, deciding, p.GPUs)
	}
	p.Steps = slices.Clone(p.Steps)
	pr := &Prepared{Plan: p, Spec: &jobspec.Spec{Version: jobspec.Version, Workspace: "/ws", Job: jobspec.Job{TestID: "m.py::f[p-c]"}}}
	return pr.render(&Config{GPUsPerNode: p.GPUsPerNode}, Stub{}, plainCommands{jobspec.Command{Argv: []string{"pytest", "m.py::f[p-c]"}}})
}

func TestPlanTiny(t *testing.T) {
	type step struct {
		role                string
		first, nodes, tasks int
	}
	tests := []struct {
		name   string
		file   string
		server string
		mpi    string
		mode   string
		want   []step
		nodes  int
	}{
		// GEN first, then CTX, each on its own nodes; server and benchmark
		// overlap node 0.
		{"disaggregated e2e", "disagg-tiny.yaml", "", "pmix", "",
			[]step{{"GEN_0", 0, 2, 4}, {"CTX_0", 2, 1, 1}, {"CTX_1", 3, 1, 1}, {"DISAGG_SERVER", 0, 1, 1}, {"BENCHMARK", 0, 1, 1}}, 4},
		// No CTX servers and one GEN server, though the file says three.
		{"gen_only_no_context", "gen-only-no-context.yaml", "", "", "",
			[]step{{"GEN_0", 0, 1, 2}, {"DISAGG_SERVER", 0, 1, 1}, {"BENCHMARK", 0, 1, 1}}, 1},
		// Upstream names the mode in the test id and leaves the YAML at
		// e2e: the id's mode wins.
		{"e2e file run as gen_only_no_context", "disagg-tiny.yaml", "", "", ModeGenOnlyNoContext,
			[]step{{"GEN_0", 0, 2, 4}, {"DISAGG_SERVER", 0, 1, 1}, {"BENCHMARK", 0, 1, 1}}, 2},
		// ... except that gen_only_no_context is a gen_only id whose YAML
		// says no context: the YAML keeps it.
		{"no-context file run as gen_only", "gen-only-no-context.yaml", "", "", ModeGenOnly,
			[]step{{"GEN_0", 0, 1, 2}, {"DISAGG_SERVER", 0, 1, 1}, {"BENCHMARK", 0, 1, 1}}, 1},
		{"no-context file run as e2e", "gen-only-no-context.yaml", "", "", ModeE2E,
			[]step{{"GEN_0", 0, 1, 2}, {"GEN_1", 1, 1, 2}, {"GEN_2", 2, 1, 2}, {"CTX_0", 3, 1, 1}, {"DISAGG_SERVER", 0, 1, 1}, {"BENCHMARK", 0, 1, 1}}, 4},
		{"aggregated two nodes", "aggr-tiny.yaml", "tiny_tp4", "", "",
			[]step{{"WORKER", 0, 2, 4}}, 2},
		// A server smaller than a node gets one task per GPU it uses.
		{"aggregated one GPU", "aggr-tiny.yaml", "tiny_tp1", "", "",
			[]step{{"WORKER", 0, 1, 1}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadConfig(filepath.Join("testdata/configs", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewPlan(cfg, PlanOptions{ServerName: tt.server, MPI: tt.mpi, BenchmarkMode: tt.mode})
			if err != nil {
				t.Fatal(err)
			}
			if err := checkPlanInvariants(p); err != nil {
				t.Fatal(err)
			}
			var got []step
			for _, s := range p.Steps {
				got = append(got, step{s.Role, s.FirstNode, s.Nodes, s.Tasks})
				worker := s.Kind == jobspec.KindWorker
				if worker != (s.GPUMode == jobspec.GPUModeNode) || worker != s.Fence || worker == s.Overlap {
					t.Errorf("%s: kind %s with gpu mode %s, fence %v, overlap %v", s.Role, s.Kind, s.GPUMode, s.Fence, s.Overlap)
				}
				if worker && s.MPI != tt.mpi || !worker && s.MPI != "" {
					t.Errorf("%s: mpi %q", s.Role, s.MPI)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || p.Nodes != tt.nodes {
				t.Errorf("steps %v on %d nodes\nwant  %v on %d nodes", got, p.Nodes, tt.want, tt.nodes)
			}
		})
	}
}

// A server that spans nodes must fill them: 6 GPUs on nodes of 4 cannot be
// started as whole tasks per node.
func TestPlanRefusesPartialNodes(t *testing.T) {
	cfg, err := ParseConfig("c.yaml", []byte(strings.Replace(disaggBase, "tensor_parallel_size: 4", "tensor_parallel_size: 6", 1)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewPlan(cfg, PlanOptions{})
	want := "c.yaml:6: worker_config.gen: 6 (tensor 6 × pipeline 1 × context 1) GPUs do not fill whole nodes of 4 GPUs (hardware.gpus_per_node, line 2)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("NewPlan error = %v, want %q", err, want)
	}
}

// A size a typo made is refused before a step exists, naming the keys it
// comes from and the flag that raises the bound; a bound raised lets it pass.
func TestPlanLimits(t *testing.T) {
	const disagg = "hardware: {gpus_per_node: GPN, num_ctx_servers: 1, num_gen_servers: GEN}\nworker_config: {gen: {tensor_parallel_size: TP}, ctx: {}}\n"
	size := func(gpn, gen, tp string) string {
		return strings.NewReplacer("GPN", gpn, "GEN", gen, "TP", tp).Replace(disagg)
	}
	tests := []struct {
		name   string
		yaml   string
		server string
		limits Limits
		// want is a substring of the error; "" means the plan is made.
		want string
	}{
		// The case: 10,000 GEN servers became a 9.3 MB job.json
		// and a 20,000-node request.
		{"many servers", size("2", "10000", "4"), "", Limits{},
			"c.yaml: the job needs 20001 nodes, more than --max-nodes (env NODERUN_MAX_NODES) allows (512): " +
				"10000 GEN servers (hardware.num_gen_servers, line 1) × 2 nodes (worker_config.gen, line 2: 4 GPUs on nodes of 2) + " +
				"1 CTX server (hardware.num_ctx_servers, line 1) × 1 node (worker_config.ctx, line 2: 1 GPU on nodes of 2); check these sizes, or raise the bound"},
		{"one huge server", size("8", "1", "40000"), "", Limits{},
			"the job needs 5001 nodes, more than --max-nodes (env NODERUN_MAX_NODES) allows (512): 1 GEN server (hardware.num_gen_servers, line 1) × 5000 nodes (worker_config.gen, line 2: 40000 GPUs on nodes of 8)"},
		{"aggregated world_size", "hardware: {gpus_per_node: 8}\nserver_configs:\n  - {name: big, world_size: 40000}\n", "big", Limits{},
			"the job needs 5000 nodes, more than --max-nodes (env NODERUN_MAX_NODES) allows (512): 1 server × 5000 nodes (server_configs[0] (big), line 3: 40000 GPUs on nodes of 8)"},
		// Servers × nodes beyond int: the old product wrapped around to a small job.
		{"node count overflows", size("2", "4611686018427387904", "8"), "", Limits{},
			"c.yaml: the job's node count overflows: 4611686018427387904 GEN servers (hardware.num_gen_servers, line 1) × 4 nodes"},
		{"gpus per node", size("80", "1", "1"), "", Limits{},
			"c.yaml:1: hardware.gpus_per_node: 80 GPUs per node is more than --max-gpus-per-node (env NODERUN_MAX_GPUS_PER_NODE) allows (16)"},
		// The bounds are a guard, not a ceiling: raised, the same configs pass.
		{"max nodes raised", size("2", "10000", "4"), "", Limits{MaxNodes: 20001}, ""},
		{"gpus per node raised", size("80", "1", "1"), "", Limits{MaxGPUsPerNode: 80}, ""},
		{"at the bound", size("16", "511", "16"), "", Limits{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig("c.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewPlan(cfg, PlanOptions{ServerName: tt.server, Limits: tt.limits})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if err := checkPlanInvariants(p); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewPlan error = %v\nwant one containing %q", err, tt.want)
			}
		})
	}
}

// Each role gets its own environment: workers the shared worker entries plus
// their kind's, the server and benchmark theirs.
func TestPlanRoleEnv(t *testing.T) {
	cfg, err := LoadConfig("testdata/configs/disagg-tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(cfg, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"GEN_0":         "TLLM_LOG_LEVEL=INFO GREETING=hello world GEN_ONLY=1 LITERAL=$(touch /tmp/pwned)",
		"CTX_0":         "TLLM_LOG_LEVEL=INFO GREETING=hello world CTX_ONLY=1",
		"DISAGG_SERVER": "TRTLLM_SERVER_DISABLE_GC=1",
		"BENCHMARK":     "CLIENT=1",
	}
	for _, s := range p.Steps {
		w, ok := want[s.Role]
		if !ok {
			continue
		}
		var got []string
		for _, e := range s.Command.Env {
			got = append(got, e.Name+"="+e.Value)
		}
		if strings.Join(got, " ") != w {
			t.Errorf("%s env = %q, want %q", s.Role, strings.Join(got, " "), w)
		}
	}
}

// A file without CTX servers cannot be run in a mode that needs them.
func TestPlanModeNeedsContext(t *testing.T) {
	y := "benchmark: {mode: gen_only_no_context}\nhardware: {gpus_per_node: 2, num_gen_servers: 1}\nworker_config: {gen: {}}\n"
	cfg, err := ParseConfig("c.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewPlan(cfg, PlanOptions{BenchmarkMode: ModeE2E})
	if err == nil || !strings.Contains(err.Error(), "c.yaml: hardware.num_ctx_servers: mode e2e needs at least one CTX server") {
		t.Fatalf("NewPlan error = %v", err)
	}
}

func TestModeFromPrefix(t *testing.T) {
	tests := []struct {
		prefix string
		mode   string
		ok     bool
	}{
		{"disagg_upload", "", false},
		{"disagg_upload-e2e", ModeE2E, true},
		{"disagg-gen_only", ModeGenOnly, true},
		{"aggr_upload-gen_only_no_context", ModeGenOnlyNoContext, true},
		// Only the last part counts, and only exact mode names.
		{"gen_only-custom", "", false},
		{"custom_test-e2e2", "", false},
	}
	for _, tt := range tests {
		if mode, ok := ModeFromPrefix(tt.prefix); mode != tt.mode || ok != tt.ok {
			t.Errorf("ModeFromPrefix(%q) = %q, %v; want %q, %v", tt.prefix, mode, ok, tt.mode, tt.ok)
		}
	}
}
