package launcher

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// duplicateKeys reports every key written twice in one mapping, at any
// depth, passed-through sections included. TensorRT-LLM's test reads the
// file with PyYAML, which keeps the last value; noderun would size the job
// from one and the test run with the other. Aliases are not followed: an
// anchored mapping is checked once, where it is written.
func (p *configParser) duplicateKeys(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			p.duplicateKeys(c, path)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.duplicateKeys(c, fmt.Sprintf("%s[%d]", path, i))
		}
	case yaml.MappingNode:
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode {
				// The tag keeps 1 and "1" apart, as YAML does.
				id := k.ShortTag() + " " + k.Value
				if first, dup := seen[id]; dup {
					hint := "keep one; PyYAML, which TensorRT-LLM's test uses, would silently take the last"
					if k.ShortTag() == "!!merge" {
						hint = "merge several mappings with one key: <<: [*a, *b]"
					}
					p.bad(k, path, "key %s defined at %s and again at %s: %s", k.Value, position(first, k), position(k, first), hint)
				} else {
					seen[id] = k
				}
			}
			p.duplicateKeys(v, joinKey(path, k.Value))
		}
	}
}

// position is "line N", with the column when other is on the same line
// (a flow mapping such as {a: 1, a: 2}).
func position(n, other *yaml.Node) string {
	if n.Line == other.Line {
		return fmt.Sprintf("line %d column %d", n.Line, n.Column)
	}
	return fmt.Sprintf("line %d", n.Line)
}

// joinKey is the dotted path of key inside the mapping at path.
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// closedSections are the sections noderun checks whole: a key not listed
// is refused. Besides what noderun reads, each list holds every key
// TensorRT-LLM's perf scripts read there (tests/integration/defs/perf/
// test_perf_sanity.py, the disaggregated slurm submit.py) or its configs
// carry, so that a real config is never refused.
var closedSections = []struct {
	name string
	keys []string
}{
	{"hardware", []string{"gpus_per_node", "num_ctx_servers", "num_gen_servers"}},
	{"benchmark", []string{"mode", "concurrency_list", "input_length", "output_length", "dataset_file", "multi_round",
		"benchmark_ratio", "streaming", "use_nv_sa_benchmark", "benchmark_client", "only_run_accuracy", "enable_benchmark", "env_var"}},
	{"slurm", []string{"job_time", "partition", "account", "job_name", "script_file", "extra_args", "numa_bind", "set_segment", "timeout"}},
}

// The keys noderun reads in mappings that also hold keys of others (the
// server's LLM API options, other sections): there only a near miss of one
// of these is refused, as the typo it almost certainly is.
var (
	topLevelKeys = []string{"hardware", "benchmark", "slurm", "environment", "worker_config", "server_configs"}
	// envKeys are the *_env_var entries the plan gives to roles.
	envKeys          = []string{"worker_env_var", "ctx_worker_env_var", "gen_worker_env_var", "server_env_var", "benchmark_env_var", "client_env_var"}
	workerConfigKeys = []string{"gen", "ctx"}
	sizeKeys         = []string{"tensor_parallel_size", "pipeline_parallel_size", "context_parallel_size"}
	serverKeys       = append([]string{"name", "world_size", "server_env_var"}, sizeKeys...)
)

// checkKeys refuses unknown keys in the closed sections and near misses
// of the keys noderun reads everywhere else it looks.
func (p *configParser) checkKeys(root *yaml.Node) {
	p.nearMisses(root, "", topLevelKeys)
	for _, s := range closedSections {
		if _, m := lookup(root, s.name); m != nil && m.Kind == yaml.MappingNode {
			for _, k := range mappingKeys(m) {
				if slices.Contains(s.keys, k.Value) {
					continue
				}
				if near, ok := nearest(k.Value, s.keys); ok {
					p.bad(k, joinKey(s.name, k.Value), "unknown key: did you mean %s?", near)
				} else {
					p.bad(k, joinKey(s.name, k.Value), "unknown key: %s takes %s", s.name, strings.Join(s.keys, ", "))
				}
			}
		}
	}
	if _, env := lookup(root, "environment"); env != nil {
		p.nearMisses(env, "environment", envKeys)
	}
	if _, wc := lookup(root, "worker_config"); wc != nil {
		p.nearMisses(wc, "worker_config", workerConfigKeys)
		for _, role := range workerConfigKeys {
			if _, w := lookup(wc, role); w != nil {
				p.nearMisses(w, "worker_config."+role, sizeKeys)
			}
		}
	}
	if _, servers := lookup(root, "server_configs"); servers != nil && servers.Kind == yaml.SequenceNode {
		for i, s := range servers.Content {
			p.nearMisses(s, fmt.Sprintf("server_configs[%d]", i), serverKeys)
		}
	}
}

// nearMisses refuses the keys of m that are not in known but one typo
// (two for longer keys) away from one that is.
func (p *configParser) nearMisses(m *yaml.Node, path string, known []string) {
	for _, k := range mappingKeys(m) {
		if slices.Contains(known, k.Value) {
			continue
		}
		if near, ok := nearest(k.Value, known); ok {
			p.bad(k, joinKey(path, k.Value), "unknown key: did you mean %s?", near)
		}
	}
}

// mappingKeys lists the scalar keys of mapping m, the ones merged in with
// << included (each key node once).
func mappingKeys(m *yaml.Node) []*yaml.Node {
	var keys []*yaml.Node
	seen := map[*yaml.Node]bool{}
	var walk func(m *yaml.Node, depth int)
	walk = func(m *yaml.Node, depth int) {
		m = resolve(m)
		if m == nil || m.Kind != yaml.MappingNode || depth > 32 {
			return
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k := m.Content[i]
			switch {
			case k.ShortTag() == "!!merge":
				v := resolve(m.Content[i+1])
				bases := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					bases = v.Content
				}
				for _, b := range bases {
					walk(b, depth+1)
				}
			case k.Kind == yaml.ScalarNode && !seen[k]:
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	walk(m, 0)
	return keys
}

// nearest is the key of known closest to key, if it is within one typo
// (two for keys longer than five characters). Case does not count.
func nearest(key string, known []string) (string, bool) {
	best, bestDist := "", -1
	for _, k := range known {
		d := typoDistance(strings.ToLower(key), k)
		allowed := 1
		if len(k) > 5 {
			allowed = 2
		}
		if d <= allowed && (bestDist < 0 || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best, bestDist >= 0
}

// typoDistance is the optimal string alignment distance between a and b:
// each inserted, deleted or replaced byte and each swap of two neighbours
// counts one.
func typoDistance(a, b string) int {
	// d[i][j] is the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
