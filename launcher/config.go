package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/noderun/noderun/internal/jobspec"
)

// Benchmark modes of a disaggregated config (benchmark.mode).
const (
	ModeE2E              = "e2e"
	ModeGenOnly          = "gen_only"
	ModeGenOnlyNoContext = "gen_only_no_context"
)

// Config is what noderun needs from a TensorRT-LLM perf config YAML:
// sizes, layout, benchmark mode and the *_env_var entries. Everything else in
// the file is the test's business; noderun only refuses there what no reader
// can mean: a key written twice, or a near miss of a key noderun reads.
type Config struct {
	// Path is the file the config was read from, as given.
	Path string
	// Layout is jobspec.LayoutDisaggregated or jobspec.LayoutAggregated,
	// detected from the content (worker_config vs server_configs).
	Layout string
	// BenchmarkMode is benchmark.mode of a disaggregated config (default e2e).
	BenchmarkMode string
	// Concurrency is the first entry of benchmark.concurrency_list ("" when
	// absent): gen_only sizes the GEN servers' request queues by it.
	Concurrency     string
	concurrencyLine int
	// GPUsPerNode is hardware.gpus_per_node.
	GPUsPerNode int
	// JobTime is slurm.job_time ("" when absent).
	JobTime string
	// NumCtxServers and NumGenServers are hardware.num_{ctx,gen}_servers.
	NumCtxServers, NumGenServers int
	// Gen and Ctx are worker_config.gen and worker_config.ctx; Ctx is nil
	// when absent (allowed for gen_only_no_context).
	Gen, Ctx *Worker
	// Env holds every environment.<name>_env_var, keyed by <name>
	// ("worker", "ctx_worker", "gen_worker", "server", "benchmark", …).
	Env map[string][]jobspec.EnvVar
	// Servers are the server_configs entries of an aggregated config.
	Servers []Server

	gpusPerNodeLine int
	jobTimeLine     int
	// The lines of hardware.num_{gen,ctx}_servers, for errors about the job's size.
	numGenLine, numCtxLine int
}

// Worker is the parallel layout of one server: tp×pp×cp GPUs, or
// world_size when an aggregated entry gives it.
type Worker struct {
	TP, PP, CP int
	// WorldSize is world_size when present (aggregated AutoDeploy entries), else 0.
	WorldSize int
	// Key names the entry in errors, e.g. worker_config.gen or server_configs[2].
	Key  string
	Line int
}

// GPUs is the number of GPUs the server uses; 0 when tp×pp×cp overflows
// an int, which ParseConfig refuses.
func (w *Worker) GPUs() int {
	if w.WorldSize > 0 {
		return w.WorldSize
	}
	n, _ := product(w.TP, w.PP, w.CP)
	return n
}

// Server is one entry of an aggregated config's server_configs.
type Server struct {
	Name string
	Worker
	// Env is the entry's server_env_var.
	Env []jobspec.EnvVar
}

// ConfigError is a problem at one place of a config file.
type ConfigError struct {
	File string
	Line int
	// Key is the dotted path of the offending entry, e.g. hardware.gpus_per_node.
	Key string
	Msg string
}

// Error renders file:line: key: message.
func (e *ConfigError) Error() string {
	where := e.File
	if e.Line > 0 {
		where += ":" + strconv.Itoa(e.Line)
	}
	if e.Key == "" {
		return where + ": " + e.Msg
	}
	return where + ": " + e.Key + ": " + e.Msg
}

// LoadConfig reads and parses the perf config at path.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(path, data)
}

var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) })

// ParseConfig parses a perf config; path is only used in error messages.
// Every problem found is reported, each as a *ConfigError with file:line.
func ParseConfig(path string, data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc, next yaml.Node
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return nil, yamlError(path, err)
	}
	// PyYAML's safe_load, which TensorRT-LLM's test uses, refuses a second
	// document; noderun would size the job from the first.
	if err := dec.Decode(&next); err == nil {
		return nil, &ConfigError{File: path, Line: next.Line, Msg: "a second YAML document starts here: a perf config is one document; remove the --- line or split the file"}
	} else if err != io.EOF {
		return nil, yamlError(path, err)
	}
	p := &configParser{file: path}
	p.duplicateKeys(&doc, "")
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	root = resolve(root)
	if root.Kind != yaml.MappingNode {
		return nil, &ConfigError{File: path, Line: root.Line, Msg: "not a perf config: the file must be a YAML mapping with hardware and worker_config or server_configs"}
	}
	p.checkKeys(root)
	c := p.parse(root)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return c, nil
}

// yamlError is a YAML syntax error at its file:line.
func yamlError(path string, err error) error {
	if m := yamlLine().FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &ConfigError{File: path, Line: line, Msg: m[2]}
	}
	return &ConfigError{File: path, Msg: err.Error()}
}

type configParser struct {
	file string
	errs []error
}

func (p *configParser) bad(n *yaml.Node, key, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &ConfigError{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *configParser) parse(root *yaml.Node) *Config {
	c := &Config{Path: p.file, Env: map[string][]jobspec.EnvVar{}}
	wk, workers := lookup(root, "worker_config")
	sk, servers := lookup(root, "server_configs")
	switch {
	case workers != nil && servers != nil:
		p.bad(sk, "", "has both worker_config (line %d) and server_configs (line %d): a config is either disaggregated (worker_config) or aggregated (server_configs)", wk.Line, sk.Line)
		return c
	case workers == nil && servers == nil:
		p.bad(root, "", "not a perf config: neither worker_config (disaggregated) nor server_configs (aggregated) found")
		return c
	}

	hk, hardware := lookup(root, "hardware")
	if hardware == nil {
		p.bad(root, "hardware", "missing: hardware.gpus_per_node is required")
	} else if hardware.Kind != yaml.MappingNode {
		p.bad(hk, "hardware", "must be a mapping")
		hardware = nil
	}
	c.GPUsPerNode, c.gpusPerNodeLine = p.count(hardware, "hardware", "gpus_per_node", 1, -1)

	if _, slurm := lookup(root, "slurm"); slurm != nil {
		if _, jt := lookup(slurm, "job_time"); jt != nil && jt.Kind == yaml.ScalarNode && jt.ShortTag() != "!!null" {
			c.JobTime, c.jobTimeLine = jt.Value, jt.Line
		}
	}
	p.envSection(root, c)

	if workers != nil {
		c.Layout = jobspec.LayoutDisaggregated
		p.disaggregated(root, hardware, wk, workers, c)
	} else {
		c.Layout = jobspec.LayoutAggregated
		p.aggregated(sk, servers, c)
	}
	return c
}

func (p *configParser) disaggregated(root, hardware, wk, workers *yaml.Node, c *Config) {
	c.BenchmarkMode = ModeE2E
	if _, bench := lookup(root, "benchmark"); bench != nil {
		if _, cl := lookup(bench, "concurrency_list"); cl != nil && cl.Kind == yaml.ScalarNode {
			// TensorRT-LLM writes the list as one string of numbers: '1 2 4'.
			if f := strings.FieldsFunc(cl.Value, func(r rune) bool { return r == ' ' || r == ',' }); len(f) > 0 {
				c.Concurrency, c.concurrencyLine = f[0], cl.Line
			}
		}
		if _, mode := lookup(bench, "mode"); mode != nil && mode.ShortTag() != "!!null" {
			switch mode.Value {
			case ModeE2E, ModeGenOnly, ModeGenOnlyNoContext:
				c.BenchmarkMode = mode.Value
			default:
				p.bad(mode, "benchmark.mode", "unknown mode %q: use %s, %s or %s", mode.Value, ModeE2E, ModeGenOnly, ModeGenOnlyNoContext)
			}
		}
	}
	noContext := c.BenchmarkMode == ModeGenOnlyNoContext
	c.NumGenServers, c.numGenLine = p.count(hardware, "hardware", "num_gen_servers", 1, -1)
	if noContext {
		c.NumCtxServers, c.numCtxLine = p.count(hardware, "hardware", "num_ctx_servers", 0, 0)
	} else {
		c.NumCtxServers, c.numCtxLine = p.count(hardware, "hardware", "num_ctx_servers", 1, -1)
	}
	if workers.Kind != yaml.MappingNode {
		p.bad(wk, "worker_config", "must be a mapping with gen and ctx entries")
		return
	}
	c.Gen = p.worker(workers, wk, "worker_config", "gen", true)
	c.Ctx = p.worker(workers, wk, "worker_config", "ctx", !noContext)
}

func (p *configParser) aggregated(sk, servers *yaml.Node, c *Config) {
	if servers.Kind != yaml.SequenceNode || len(servers.Content) == 0 {
		p.bad(sk, "server_configs", "must be a non-empty list of servers, each with a name")
		return
	}
	seen := map[string]int{}
	for i, item := range servers.Content {
		item = resolve(item)
		key := fmt.Sprintf("server_configs[%d]", i)
		if item.Kind != yaml.MappingNode {
			p.bad(item, key, "must be a mapping with a name")
			continue
		}
		s := Server{}
		nk, name := lookup(item, "name")
		switch {
		case name == nil:
			p.bad(item, key+".name", "missing: every server needs a name")
		case name.Kind != yaml.ScalarNode || name.Value == "" || name.ShortTag() == "!!null":
			p.bad(nk, key+".name", "must be a non-empty string")
		default:
			s.Name = name.Value
			key = fmt.Sprintf("server_configs[%d] (%s)", i, s.Name)
			if line, dup := seen[s.Name]; dup {
				p.bad(nk, key+".name", "name %q already used at line %d", s.Name, line)
			}
			seen[s.Name] = nk.Line
		}
		s.Worker = *p.sizes(item, key, item.Line)
		if _, ws := lookup(item, "world_size"); ws != nil {
			s.WorldSize, _ = p.count(item, key, "world_size", 1, -1)
		}
		if ek, ev := lookup(item, "server_env_var"); ev != nil {
			s.Env = p.envVars(ek, ev, key+".server_env_var")
		}
		c.Servers = append(c.Servers, s)
	}
}

// worker reads worker_config.<name>; missing keys count as 1.
func (p *configParser) worker(parent, parentKey *yaml.Node, prefix, name string, required bool) *Worker {
	key := prefix + "." + name
	k, n := lookup(parent, name)
	if n == nil {
		if required {
			p.bad(parentKey, key, "missing: the %s servers' tensor/pipeline/context_parallel_size are needed to size the job", strings.ToUpper(name))
		}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.bad(k, key, "must be a mapping")
		return nil
	}
	return p.sizes(n, key, k.Line)
}

func (p *configParser) sizes(n *yaml.Node, key string, line int) *Worker {
	w := &Worker{Key: key, Line: line}
	w.TP, _ = p.count(n, key, "tensor_parallel_size", 1, 1)
	w.PP, _ = p.count(n, key, "pipeline_parallel_size", 1, 1)
	w.CP, _ = p.count(n, key, "context_parallel_size", 1, 1)
	if _, ok := product(w.TP, w.PP, w.CP); !ok {
		p.bad(n, key, "tensor_parallel_size × pipeline_parallel_size × context_parallel_size = %d × %d × %d overflows: no server has that many GPUs", w.TP, w.PP, w.CP)
	}
	return w
}

// count reads an integer ≥ min at parent.name. def < 0 means required;
// otherwise def is the value of a missing key. It returns the value and its line.
func (p *configParser) count(parent *yaml.Node, parentKey, name string, minimum, def int) (int, int) {
	key := parentKey + "." + name
	if parent == nil {
		return max(def, 0), 0
	}
	_, n := lookup(parent, name)
	if n == nil {
		if def < 0 {
			p.bad(parent, key, "missing: must be an integer ≥ %d", minimum)
			return 0, parent.Line
		}
		return def, parent.Line
	}
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		p.bad(n, key, "must be an integer ≥ %d, got %q", minimum, n.Value)
		return 0, n.Line
	}
	if v < minimum {
		p.bad(n, key, "must be ≥ %d, got %d", minimum, v)
		return 0, n.Line
	}
	return v, n.Line
}

// envSection parses every environment.*_env_var string.
func (p *configParser) envSection(root *yaml.Node, c *Config) {
	ek, env := lookup(root, "environment")
	if env == nil {
		return
	}
	if env.Kind != yaml.MappingNode {
		p.bad(ek, "environment", "must be a mapping")
		return
	}
	for i := 0; i+1 < len(env.Content); i += 2 {
		k, v := env.Content[i], resolve(env.Content[i+1])
		name, ok := strings.CutSuffix(k.Value, "_env_var")
		if !ok {
			continue
		}
		c.Env[name] = p.envVars(k, v, "environment."+k.Value)
	}
}

// envVars parses a "NAME=value NAME2='v w'" string into literal entries.
func (p *configParser) envVars(k, v *yaml.Node, key string) []jobspec.EnvVar {
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
		return nil
	}
	if v.Kind != yaml.ScalarNode {
		p.bad(k, key, "must be a string of NAME=value words")
		return nil
	}
	// A block scalar's text starts on the line after its indicator.
	base := v.Line
	if v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		base++
	}
	words, err := literalWords(v.Value)
	if err != nil {
		var we *wordError
		if errors.As(err, &we) {
			p.errs = append(p.errs, &ConfigError{File: p.file, Line: base + max(we.Line, 1) - 1, Key: key, Msg: we.Error()})
		} else {
			p.bad(v, key, "%v", err)
		}
		return nil
	}
	vars := make([]jobspec.EnvVar, 0, len(words))
	for _, w := range words {
		name, value, ok := strings.Cut(w.Value, "=")
		if !ok || !jobspec.ValidEnvName(name) {
			p.errs = append(p.errs, &ConfigError{File: p.file, Line: base + w.Line - 1, Key: key,
				Msg: fmt.Sprintf("%q is not NAME=value: every word must assign a variable (letters, digits and _, not starting with a digit)", w.Source)})
			continue
		}
		vars = append(vars, jobspec.EnvVar{Name: name, Value: value})
	}
	return vars
}

// ServerNames lists the server names of an aggregated config, sorted.
func (c *Config) ServerNames() []string {
	names := make([]string, 0, len(c.Servers))
	for _, s := range c.Servers {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return names
}

// Server returns the aggregated server with the given name.
func (c *Config) Server(name string) (*Server, bool) {
	for i := range c.Servers {
		if c.Servers[i].Name == name {
			return &c.Servers[i], true
		}
	}
	return nil, false
}

// resolve follows YAML aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// lookup finds key in mapping m (following aliases and << merge keys) and
// returns the key node and the resolved value node, or nils.
func lookup(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i].ShortTag() != "!!merge" {
			return m.Content[i], resolve(m.Content[i+1])
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].ShortTag() != "!!merge" {
			continue
		}
		v := resolve(m.Content[i+1])
		bases := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			bases = v.Content
		}
		for _, b := range bases {
			if k, val := lookup(b, key); k != nil {
				return k, val
			}
		}
	}
	return nil, nil
}
