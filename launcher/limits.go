package launcher

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"
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

// durationRule is what a duration flag accepts.
type durationRule struct {
	// zero says what 0 means; "" refuses 0, for a limit that would end its
	// wait before it starts.
	zero string
	// max is the longest that still means something; beyond it a value is a typo.
	max time.Duration
}

// durationRules holds the rule of every duration flag, by flag name: the
// help and the validation both read it.
var durationRules = map[string]durationRule{
	flagSetupTimeout.Name:   {max: 24 * time.Hour},
	flagFenceTimeout.Name:   {max: 24 * time.Hour},
	flagStepTimeout.Name:    {zero: "none; Slurm's time limit still applies", max: 7 * 24 * time.Hour},
	flagKillGrace.Name:      {zero: "SIGKILL at once, no time to write results", max: 10 * time.Minute},
	flagAfterDeciding.Name:  {zero: "the other steps are stopped at once", max: time.Hour},
	flagStagger.Name:        {zero: "no pause", max: time.Hour},
	flagGPUSample.Name:      {zero: "no GPU telemetry", max: time.Hour},
	flagPendingTimeout.Name: {zero: "no limit", max: 30 * 24 * time.Hour},
}

// durationHelp is what the help says of a duration flag's range.
func durationHelp(f flagName) string {
	r := durationRules[f.Name]
	if r.zero == "" {
		return fmt.Sprintf("(above 0, at most %s)", shortDuration(r.max))
	}
	return fmt.Sprintf("(0: %s; at most %s)", r.zero, shortDuration(r.max))
}

// checkDuration is the one validation of every duration flag.
func checkDuration(f flagName, d time.Duration) error {
	r := durationRules[f.Name]
	switch {
	case d < 0:
		return usageError(f, "%s is negative: give a duration such as 30s", d)
	case d == 0 && r.zero == "":
		return usageError(f, "0 would end the wait before it starts: give a positive duration, at most %s", shortDuration(r.max))
	case d > r.max:
		return usageError(f, "%s is longer than the most it may be, %s: a value that long is a typo", shortDuration(d), shortDuration(r.max))
	}
	return nil
}

// shortDuration writes d as people do: 24h, 10m, 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
