package launcher

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/noderun/noderun/internal/jobspec"
)

// A minimal valid disaggregated config that cases below modify.
const disaggBase = `hardware:
  gpus_per_node: 4
  num_ctx_servers: 1
  num_gen_servers: 1
worker_config:
  gen:
    tensor_parallel_size: 4
  ctx:
    tensor_parallel_size: 1
`

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		// want is a substring of the error, file:line included.
		want string
	}{
		{"gpus_per_node zero", strings.Replace(disaggBase, "gpus_per_node: 4", "gpus_per_node: 0", 1),
			"c.yaml:2: hardware.gpus_per_node: must be ≥ 1, got 0"},
		{"gpus_per_node missing", strings.Replace(disaggBase, "  gpus_per_node: 4\n", "", 1),
			"c.yaml:2: hardware.gpus_per_node: missing"},
		{"tp not an integer", strings.Replace(disaggBase, "tensor_parallel_size: 4", "tensor_parallel_size: four", 1),
			`c.yaml:7: worker_config.gen.tensor_parallel_size: must be an integer ≥ 1, got "four"`},
		// tp × pp wrapped around to a small number: 8 GPUs on 5 nodes.
		{"sizes overflow", strings.Replace(disaggBase, "tensor_parallel_size: 4", "tensor_parallel_size: 4611686018427387906\n    pipeline_parallel_size: 4", 1),
			"c.yaml:7: worker_config.gen: tensor_parallel_size × pipeline_parallel_size × context_parallel_size = 4611686018427387906 × 4 × 1 overflows"},
		{"size beyond an integer", strings.Replace(disaggBase, "tensor_parallel_size: 4", "tensor_parallel_size: 99999999999999999999", 1),
			`c.yaml:7: worker_config.gen.tensor_parallel_size: must be an integer ≥ 1, got "99999999999999999999"`},
		{"num_gen_servers zero", strings.Replace(disaggBase, "num_gen_servers: 1", "num_gen_servers: 0", 1),
			"c.yaml:4: hardware.num_gen_servers: must be ≥ 1"},
		// e2e needs CTX servers; only gen_only_no_context may have none.
		{"num_ctx_servers zero in e2e", strings.Replace(disaggBase, "num_ctx_servers: 1", "num_ctx_servers: 0", 1),
			"c.yaml:3: hardware.num_ctx_servers: must be ≥ 1"},
		{"missing ctx worker", strings.Replace(disaggBase, "  ctx:\n    tensor_parallel_size: 1\n", "", 1),
			"c.yaml:5: worker_config.ctx: missing"},
		{"both layouts", disaggBase + "server_configs: []\n",
			"has both worker_config (line 5) and server_configs (line 10)"},
		{"neither layout", "hardware:\n  gpus_per_node: 4\n",
			"not a perf config: neither worker_config"},
		{"unknown mode", "benchmark:\n  mode: fast\n" + disaggBase,
			`c.yaml:2: benchmark.mode: unknown mode "fast"`},
		{"yaml syntax", "hardware: [\n", "c.yaml:"},
		// The injection case: a command substitution inside double quotes
		// is refused where it is written.
		{"command substitution", disaggBase + "environment:\n  worker_env_var: A=1 \"B=$(touch /tmp/pwned)\"\n",
			`c.yaml:11: environment.worker_env_var: command substitution is not allowed in "\"B=$(touch /tmp/pwned)\""`},
		// The shell parser dropped a NUL without a word: the child saw "ab".
		{"NUL in an env value", disaggBase + "environment:\n  worker_env_var: \"A=1 B=a\\0b\"\n",
			`c.yaml:11: environment.worker_env_var: a NUL byte is not allowed in "B=a\x00b": no process can receive one`},
		{"NUL on a later line", disaggBase + "environment:\n  worker_env_var: \"A=1\\nB=a\\0b\"\n",
			`c.yaml:12: environment.worker_env_var: a NUL byte is not allowed in "B=a\x00b"`},
		{"word without =", disaggBase + "environment:\n  server_env_var: A=1 oops\n",
			`c.yaml:11: environment.server_env_var: "oops" is not NAME=value`},
		{"bad variable name", disaggBase + "environment:\n  server_env_var: 1A=1\n",
			`"1A=1" is not NAME=value`},
		{"semicolon", disaggBase + "environment:\n  benchmark_env_var: A=1;B=2\n",
			"c.yaml:11: environment.benchmark_env_var: ; is not a valid word"},
		// In a block scalar the words start on the next line; the error
		// points at the word's own line.
		{"block scalar line", disaggBase + "environment:\n  worker_env_var: |\n    A=1\n    B=$HOME\n",
			"c.yaml:13: environment.worker_env_var: parameter expansion"},
		{"env not a string", disaggBase + "environment:\n  worker_env_var: [A=1]\n",
			"c.yaml:11: environment.worker_env_var: must be a string"},
		{"aggregated without name", "hardware:\n  gpus_per_node: 4\nserver_configs:\n  - tensor_parallel_size: 2\n",
			"c.yaml:4: server_configs[0].name: missing"},
		{"aggregated duplicate name", "hardware:\n  gpus_per_node: 4\nserver_configs:\n  - name: a\n  - name: a\n",
			`c.yaml:5: server_configs[1] (a).name: name "a" already used at line 4`},
		{"aggregated server env", "hardware:\n  gpus_per_node: 4\nserver_configs:\n  - name: a\n    server_env_var: X=`id`\n",
			"c.yaml:5: server_configs[0] (a).server_env_var: command substitution"},
		// PyYAML keeps the last of two equal keys and noderun read the
		// first: sbatch asked for 8 GPUs per node while the test read 2.
		{"duplicate key in a flow mapping", strings.Replace(disaggBase, "hardware:\n  gpus_per_node: 4\n", "hardware: {gpus_per_node: 8, gpus_per_node: 2}\nx:\n", 1),
			"c.yaml:1: hardware: key gpus_per_node defined at line 1 column 12 and again at line 1 column 30: keep one"},
		{"duplicate key in a block mapping", strings.Replace(disaggBase, "  num_gen_servers: 1\n", "  num_gen_servers: 1\n  gpus_per_node: 2\n", 1),
			"c.yaml:5: hardware: key gpus_per_node defined at line 2 and again at line 5"},
		{"duplicate section", disaggBase + "worker_config: {}\n",
			"c.yaml:10: key worker_config defined at line 5 and again at line 10"},
		// Passed-through sections too: TensorRT-LLM's server would read
		// another value than the file seems to say.
		{"duplicate key in a passed-through section", disaggBase + "    kv_cache_config: {dtype: fp8, dtype: auto}\n",
			"c.yaml:10: worker_config.ctx.kv_cache_config: key dtype defined at line 10 column 23 and again at line 10 column 35"},
		// Two << keys in one mapping: which base wins differs between
		// parsers; one << with a list says it.
		{"duplicate merge key", "a: &a {tensor_parallel_size: 2}\nb: &b {tensor_parallel_size: 4}\n" + strings.Replace(disaggBase, "  gen:\n", "  gen:\n    <<: *a\n    <<: *b\n", 1),
			"c.yaml:10: worker_config.gen: key << defined at line 9 and again at line 10: merge several mappings with one key: <<: [*a, *b]"},
		// A misspelt key in a section noderun reads whole: the default was
		// used and nobody was told.
		{"misspelt hardware key", strings.Replace(disaggBase, "  gpus_per_node: 4\n", "  gpus_per_node: 4\n  num_gen_server: 3\n", 1),
			"c.yaml:3: hardware.num_gen_server: unknown key: did you mean num_gen_servers?"},
		{"unknown hardware key", strings.Replace(disaggBase, "  gpus_per_node: 4\n", "  gpus_per_node: 4\n  colour: red\n", 1),
			"c.yaml:3: hardware.colour: unknown key: hardware takes gpus_per_node, num_ctx_servers, num_gen_servers"},
		{"misspelt benchmark key", "benchmark:\n  concurency_list: '1 2'\n" + disaggBase,
			"c.yaml:2: benchmark.concurency_list: unknown key: did you mean concurrency_list?"},
		{"misspelt slurm key", "slurm:\n  job_tmie: '01:00:00'\n" + disaggBase,
			"c.yaml:2: slurm.job_tmie: unknown key: did you mean job_time?"},
		// worker_config entries are the server's options and stay free, but
		// a near miss of a size key would size the job as if it were 1.
		{"misspelt size key", strings.Replace(disaggBase, "    tensor_parallel_size: 4\n", "    tensor_paralel_size: 4\n", 1),
			"c.yaml:7: worker_config.gen.tensor_paralel_size: unknown key: did you mean tensor_parallel_size?"},
		{"size key in another case", strings.Replace(disaggBase, "    tensor_parallel_size: 1\n", "    Tensor_Parallel_Size: 1\n", 1),
			"c.yaml:9: worker_config.ctx.Tensor_Parallel_Size: unknown key: did you mean tensor_parallel_size?"},
		{"misspelt world_size", "hardware:\n  gpus_per_node: 4\nserver_configs:\n  - name: a\n    wrold_size: 8\n",
			"c.yaml:5: server_configs[0].wrold_size: unknown key: did you mean world_size?"},
		{"misspelt worker role", strings.Replace(disaggBase, "  ctx:\n", "  ctx:\n    tensor_parallel_size: 1\n  cxt:\n", 1),
			"c.yaml:10: worker_config.cxt: unknown key: did you mean ctx?"},
		{"misspelt env key", disaggBase + "environment:\n  worker_env_vars: A=1\n",
			"c.yaml:11: environment.worker_env_vars: unknown key: did you mean worker_env_var?"},
		{"misspelt section", "benchmrak:\n  mode: gen_only\n" + disaggBase,
			"c.yaml:1: benchmrak: unknown key: did you mean benchmark?"},
		// A key merged into a checked section is checked where it is written.
		{"misspelt key merged in", "hw: &hw {num_ctx_server: 1}\n" + strings.Replace(disaggBase, "hardware:\n", "hardware:\n  <<: *hw\n", 1),
			"c.yaml:1: hardware.num_ctx_server: unknown key: did you mean num_ctx_servers?"},
		// safe_load refuses a second document; noderun would have read the first.
		{"second document", disaggBase + "---\nhardware: {gpus_per_node: 8}\n",
			"c.yaml:10: a second YAML document starts here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("c.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseConfig error = %v\nwant one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseConfigDisaggregated(t *testing.T) {
	cfg, err := LoadConfig("testdata/configs/disagg-tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Layout != jobspec.LayoutDisaggregated || cfg.BenchmarkMode != ModeE2E || cfg.GPUsPerNode != 2 ||
		cfg.NumCtxServers != 2 || cfg.NumGenServers != 1 || cfg.JobTime != "00:30:00" {
		t.Errorf("config = %+v", cfg)
	}
	if got := cfg.Gen.GPUs(); got != 4 {
		t.Errorf("gen GPUs = %d, want 4 (tp 2 × pp 2 × cp 1)", got)
	}
	// Missing pp and cp count as 1.
	if got := cfg.Ctx.GPUs(); got != 1 {
		t.Errorf("ctx GPUs = %d, want 1", got)
	}
	want := map[string][]jobspec.EnvVar{
		"worker":     {{Name: "TLLM_LOG_LEVEL", Value: "INFO"}, {Name: "GREETING", Value: "hello world"}},
		"ctx_worker": {{Name: "CTX_ONLY", Value: "1"}},
		// The single-quoted value stays text: nothing ever runs it.
		"gen_worker": {{Name: "GEN_ONLY", Value: "1"}, {Name: "LITERAL", Value: "$(touch /tmp/pwned)"}},
		"server":     {{Name: "TRTLLM_SERVER_DISABLE_GC", Value: "1"}},
		"benchmark":  {},
		"client":     {{Name: "CLIENT", Value: "1"}},
	}
	if !reflect.DeepEqual(cfg.Env, want) {
		t.Errorf("env = %#v\nwant %#v", cfg.Env, want)
	}
}

func TestParseConfigAggregated(t *testing.T) {
	cfg, err := LoadConfig("testdata/configs/aggr-tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Layout != jobspec.LayoutAggregated {
		t.Fatalf("layout = %s", cfg.Layout)
	}
	if got := cfg.ServerNames(); !reflect.DeepEqual(got, []string{"tiny_tp1", "tiny_tp4"}) {
		t.Errorf("server names = %v", got)
	}
	s, ok := cfg.Server("tiny_tp4")
	if !ok || s.GPUs() != 4 || !reflect.DeepEqual(s.Env, []jobspec.EnvVar{{Name: "TLLM_LOG_LEVEL", Value: "INFO"}}) {
		t.Errorf("tiny_tp4 = %+v", s)
	}
}

// Keys that only look alike are different keys: 1 and "1", and a key
// repeated in two different mappings.
func TestParseConfigDistinctKeys(t *testing.T) {
	// An explicit key over a merged one is how merge keys are used.
	y := "common: &c {tensor_parallel_size: 2, max_batch_size: 8}\n" +
		strings.Replace(disaggBase, "  gen:\n", "  gen:\n    <<: *c\n", 1) +
		"metadata:\n  1: int\n  \"1\": str\n  a: {x: 1}\n  b: {x: 1}\n"
	if _, err := ParseConfig("c.yaml", []byte(y)); err != nil {
		t.Fatal(err)
	}
}

// The example configs beside the stand-in checkout must stay accepted, as
// the real ones do (TestPlanSharedConfigs): the key checks know every key
// they use.
func TestExampleConfigsAccepted(t *testing.T) {
	files, err := filepath.Glob("../examples/trtllm/tests/scripts/perf-sanity/*/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs found (%v)", err)
	}
	for _, f := range append(files, "testdata/configs/disagg-tiny.yaml", "testdata/configs/aggr-tiny.yaml", "testdata/configs/gen-only-no-context.yaml") {
		if _, err := LoadConfig(f); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// Anchors and merge keys are plain YAML; a config written with them must
// size the same as one written out.
func TestParseConfigAnchors(t *testing.T) {
	y := `common: &common
  tensor_parallel_size: 2
  pipeline_parallel_size: 2
hardware:
  gpus_per_node: 4
  num_ctx_servers: 1
  num_gen_servers: 1
worker_config:
  gen:
    <<: *common
  ctx: *common
`
	cfg, err := ParseConfig("a.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gen.GPUs() != 4 || cfg.Ctx.GPUs() != 4 {
		t.Errorf("gen %d ctx %d GPUs, want 4 and 4", cfg.Gen.GPUs(), cfg.Ctx.GPUs())
	}
}

// A typo is one edit, a swap of neighbours included; other keys are not near.
func TestNearest(t *testing.T) {
	tests := []struct {
		key, want string
		ok        bool
	}{
		{"gpus_per_nod", "gpus_per_node", true},
		{"gpus_pre_node", "gpus_per_node", true},
		{"GPUS_PER_NODE", "gpus_per_node", true},
		{"num_gpus", "", false},
		// Keys of TensorRT-LLM's server that only resemble a size key.
		{"moe_tensor_parallel_size", "", false},
		{"moe_expert_parallel_size", "", false},
	}
	known := append([]string{"gpus_per_node"}, sizeKeys...)
	for _, tt := range tests {
		if got, ok := nearest(tt.key, known); got != tt.want || ok != tt.ok {
			t.Errorf("nearest(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}
