package launcher

import (
	"fmt"

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
