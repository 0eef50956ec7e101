package launcher

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// Limits bound the size of a job, so that a typo in a config's sizes never
// becomes a 20,000-node request that Slurm takes minutes to refuse, or
// grants. Servers need no bound of their own: each has nodes of its own, so
// MaxNodes bounds them; nor do tasks per node, at most the GPUs per node.
type Limits struct {
	// MaxNodes bounds the nodes of the job (--max-nodes).
	MaxNodes int
	// MaxGPUsPerNode bounds hardware.gpus_per_node (--max-gpus-per-node).
	MaxGPUsPerNode int
}

// Default bounds: beyond them a config is far more likely wrong than meant.
const (
	DefaultMaxNodes       = 512
	DefaultMaxGPUsPerNode = 16
)

// orDefault fills the bounds that are not set with the defaults.
func (l Limits) orDefault() Limits {
	if l.MaxNodes <= 0 {
		l.MaxNodes = DefaultMaxNodes
	}
	if l.MaxGPUsPerNode <= 0 {
		l.MaxGPUsPerNode = DefaultMaxGPUsPerNode
	}
	return l
}

// checkGPUsPerNode refuses hardware.gpus_per_node above the bound.
func (l Limits) checkGPUsPerNode(cfg *Config) error {
	if cfg.GPUsPerNode <= l.MaxGPUsPerNode {
		return nil
	}
	return &ConfigError{File: cfg.Path, Line: cfg.gpusPerNodeLine, Key: "hardware.gpus_per_node",
		Msg: fmt.Sprintf("%d GPUs per node is more than %s allows (%d): fix the config, or raise the bound if the nodes have that many GPUs",
			cfg.GPUsPerNode, flagMaxNodeGPUs, l.MaxGPUsPerNode)}
}

// checkNodes refuses a job of more nodes than the bound, or one whose
// count overflowed (ok false); terms say where the count comes from.
func (l Limits) checkNodes(cfg *Config, nodes int, ok bool, terms []string) error {
	from := strings.Join(terms, " + ")
	switch {
	case !ok:
		return &ConfigError{File: cfg.Path, Msg: fmt.Sprintf("the job's node count overflows: %s; check these sizes", from)}
	case nodes > l.MaxNodes:
		return &ConfigError{File: cfg.Path, Msg: fmt.Sprintf("the job needs %d nodes, more than %s allows (%d): %s; check these sizes, or raise the bound if the cluster has that many nodes",
			nodes, flagMaxNodes, l.MaxNodes, from)}
	}
	return nil
}

// limits checks the bound flags.
func (v *validator) limits(req Request) {
	for _, b := range []struct {
		f flagName
		n int
	}{{flagMaxNodes, req.MaxNodes}, {flagMaxNodeGPUs, req.MaxGPUsPerNode}} {
		if b.n < 1 {
			v.add(usageError(b.f, "%d: give a bound of at least 1", b.n))
		}
	}
}

// mul is a×b for sizes ≥ 0; ok is false when the product overflows an int.
func mul(a, b int) (int, bool) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt {
		return 0, false
	}
	return int(lo), true
}

// add is a+b for sizes ≥ 0; ok is false when the sum overflows an int.
func add(a, b int) (int, bool) {
	if a > math.MaxInt-b {
		return 0, false
	}
	return a + b, true
}

// product multiplies sizes ≥ 0; ok is false when it overflows an int.
func product(sizes ...int) (int, bool) {
	p := 1
	for _, s := range sizes {
		var ok bool
		if p, ok = mul(p, s); !ok {
			return 0, false
		}
	}
	return p, true
}
