package gpu

import (
	"fmt"
	"strings"
)

// Request is what one task asks of Decide.
type Request struct {
	Mode        string // a Mode
	GPUsPerTask int    // g of mode task
	LocalRank   int    // SLURM_LOCALID
	// TasksOnNode (0: unknown) makes every rank of a short node fail the
	// same way, not only the ranks past the end.
	TasksOnNode   int
	ExpectPerNode int    // GPUs the node must show; 0: no precheck
	Precheck      string // a Precheck; "" is fail
	Node          string // for messages
	// Lookup reads the task's environment; nil is an empty one.
	Lookup func(string) (string, bool)
}

// Decision is the GPU binding of one task: what to set in and remove from
// the child's environment, and why.
type Decision struct {
	// Devices are UUIDs from an inventory, else the entries of the variable
	// named by Source as written there; nil when nothing was decided.
	Devices []string `json:"devices"`
	// Visible and Seen are what the precheck counted (Seen -1: unknown).
	Visible []string          `json:"visible"`
	Seen    int               `json:"seen"`
	Set     map[string]string `json:"set"`
	Unset   []string          `json:"unset,omitempty"`
	// Source is an inventory's Source or one of the Source* values.
	Source       string   `json:"source"`
	RestrictedBy []string `json:"restricted_by,omitempty"`
	// Warnings are for the task's log; none of them stops the task.
	Warnings []string `json:"warnings,omitempty"`
}

// Decide works out the GPUs one task may use from inventory inv (nil when
// NVML is unavailable) and the task's environment; docs/ARCHITECTURE.md
// ("GPUs") has the rules. Errors wrap ErrPrecheck, ErrNotEnoughGPUs,
// ErrInvalidDevices or ErrInvalidRequest.
func Decide(inv Inventory, req Request) (Decision, error) {
	req, err := req.validated()
	if err != nil {
		return Decision{}, err
	}
	env, err := readRestrictions(req.Lookup)
	if err != nil {
		return Decision{}, err
	}
	if Mode(req.Mode) == ModeNone {
		d := Decision{Devices: []string{}, Seen: -1, Source: SourceNone, Set: map[string]string{}}
		d.hideAll()
		d.unsetOrdinal(env)
		return d, nil
	}
	if inv == nil {
		return decideWithout(env, req)
	}
	return decideWith(inv, env, req)
}

// validated checks r and fills in the default precheck.
func (r Request) validated() (Request, error) {
	bad := func(format string, args ...any) (Request, error) {
		return Request{}, fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	mode, err := ParseMode(r.Mode)
	if err != nil {
		return bad("GPU mode %v", err)
	}
	if mode == ModeTask && r.GPUsPerTask < 1 {
		return bad("mode task needs at least 1 GPU per task, got %d", r.GPUsPerTask)
	}
	precheck, err := ParsePrecheck(r.Precheck)
	if err != nil {
		return bad("precheck %v", err)
	}
	r.Precheck = string(precheck)
	if r.LocalRank < 0 || r.TasksOnNode < 0 || r.ExpectPerNode < 0 {
		return bad("local rank %d, tasks on node %d, expected GPUs %d: none may be negative",
			r.LocalRank, r.TasksOnNode, r.ExpectPerNode)
	}
	if r.TasksOnNode > 0 && r.LocalRank >= r.TasksOnNode {
		return bad("local rank %d is not below the %d tasks on node %s", r.LocalRank, r.TasksOnNode, r.Node)
	}
	return r, nil
}

func decideWith(inv Inventory, env restrictions, req Request) (Decision, error) {
	d := Decision{Source: inv.Source(), Set: map[string]string{}}
	devs, devErr := inv.Devices()
	if len(devs) == 0 && devErr != nil {
		return decideAfterFailure(inv, devErr, env, req)
	}
	all, warns := unitsOf(devs)
	d.Warnings = append(d.Warnings, warns...)
	apply := func(set []unit, v *Visible, sp space) []unit {
		kept, warns := restrict(set, all, v, sp, req.Node)
		d.Warnings = append(d.Warnings, warns...)
		if !v.All {
			d.RestrictedBy = append(d.RestrictedBy, v.Name)
		}
		return kept
	}
	node := all
	if env.slurm != nil {
		node = apply(node, env.slurm, byMinor)
	}
	if env.container != nil {
		if appliedByRuntime(env.container, len(devs)) {
			d.RestrictedBy = append(d.RestrictedBy, env.container.Name)
		} else {
			node = apply(node, env.container, byIndex)
		}
	}
	task := node
	if env.cuda != nil {
		task = apply(node, env.cuda, byIndex)
	}
	bound := env.taskBound(len(task), len(node))
	visible := task
	if bound {
		visible = node
	}
	d.Visible = uuids(visible)
	d.Seen = len(visible)

	nvmlNote := ""
	if devErr != nil {
		nvmlNote = fmt.Sprintf(" (%s: %v)", inv.Source(), devErr)
	}
	if err := d.precheck(req, devErr != nil, d.describeCount(env)+nvmlNote); err != nil {
		return Decision{}, err
	}
	if devErr != nil && (req.ExpectPerNode == 0 || Precheck(req.Precheck) == PrecheckOff) {
		d.Warnings = append(d.Warnings, fmt.Sprintf("%s failed on a GPU of node %s: %v", inv.Source(), req.Node, devErr))
	}

	chosen, err := d.pick(uuids(task), bound, req, d.describeCount(env))
	if err != nil {
		return Decision{}, err
	}
	d.bind(chosen, true)
	if len(chosen) == 0 {
		d.Warnings = append(d.Warnings, fmt.Sprintf("no GPU is visible to this task on node %s", req.Node))
	}
	d.unsetOrdinal(env)
	return d, nil
}

// decideAfterFailure handles an inventory that failed as a whole: that fails
// the precheck, else the environment's GPUs are used rather than none.
func decideAfterFailure(inv Inventory, devErr error, env restrictions, req Request) (Decision, error) {
	failed := Decision{Seen: 0}
	if err := failed.precheck(req, true, fmt.Sprintf("%s: %v", inv.Source(), devErr)); err != nil {
		return Decision{}, err
	}
	req.ExpectPerNode = 0 // checked above
	d, err := decideWithout(env, req)
	if err != nil {
		return Decision{}, err
	}
	d.Warnings = append(append(failed.Warnings, fmt.Sprintf("%s failed on node %s (%v); using the GPUs the environment lists instead",
		inv.Source(), req.Node, devErr)), d.Warnings...)
	return d, nil
}

// decideWithout takes CUDA's variables before Slurm's: in a device cgroup
// Slurm renumbers them, and they are what CUDA reads.
func decideWithout(env restrictions, req Request) (Decision, error) {
	d := Decision{Set: map[string]string{}, Seen: 0}
	src := env.cuda
	if src == nil {
		src = env.slurm
	}
	switch {
	case src == nil:
		d.Source = SourcePassthrough
		if c := env.container; c != nil {
			d.Seen = len(c.Tokens)
			if c.All {
				d.Seen = -1
			}
		}
	case src == env.slurm:
		d.Source = SourceSlurmPrefix + src.Name
	default:
		d.Source = SourceEnvPrefix + src.Name
	}
	bound := false
	if src != nil {
		d.RestrictedBy = []string{src.Name}
		d.Visible = texts(src.Tokens)
		d.Seen = len(src.Tokens)
		if src.All {
			d.Seen = -1
		}
		if bound = env.taskBound(len(env.cuda.tokensOrNil()), len(env.slurm.tokensOrNil())); bound {
			d.Visible = texts(env.slurm.Tokens)
			d.Seen = len(env.slurm.Tokens)
		}
	}
	where := "NVML unavailable; " + d.describeCount(env)
	if err := d.precheck(req, false, where); err != nil {
		return Decision{}, err
	}
	if src == nil || src.All {
		if Mode(req.Mode) == ModeTask {
			what := "no variable lists the GPUs"
			if src != nil {
				what = src.Name + "=all does not list them"
			}
			d.Warnings = append(d.Warnings, fmt.Sprintf("cannot give local rank %d its own GPUs on node %s: NVML is unavailable and %s; the task sees whatever the node gives it",
				req.LocalRank, req.Node, what))
		}
		d.containerWithoutNVML(env, src, nil)
		return d, nil
	}
	chosen, err := d.pick(texts(src.Tokens), bound, req, where)
	if err != nil {
		return Decision{}, err
	}
	d.bind(chosen, allUUIDs(chosen))
	d.containerWithoutNVML(env, src, chosen)
	if src.Name != EnvGPUOrdinal {
		d.unsetOrdinal(env)
	}
	return d, nil
}

// containerWithoutNVML names the task's GPUs for container hooks when no
// UUID is known: hooks take host indices, which is what Slurm's
// SLURM_STEP_GPUS and SLURM_JOB_GPUS hold (CUDA's indices are another
// space). A worker never goes without the variable: with nothing listed it
// gets the node's GPUs, as TensorRT-LLM's scripts give it, unless a
// container restriction is already in its environment.
func (d *Decision) containerWithoutNVML(env restrictions, src *Visible, chosen []string) {
	if _, ok := d.Set[EnvNvidiaVisible]; ok {
		return
	}
	switch {
	case env.slurm != nil && !env.slurm.All && src == env.slurm:
		d.Set[EnvNvidiaVisible] = strings.Join(chosen, ",")
	case env.slurm != nil && !env.slurm.All:
		d.Set[EnvNvidiaVisible] = strings.Join(texts(env.slurm.Tokens), ",")
	case env.container != nil:
	default:
		d.Set[EnvNvidiaVisible] = "all"
	}
}

// describeCount says which variables shaped the visible set, for messages.
func (d *Decision) describeCount(env restrictions) string {
	var parts []string
	for _, v := range []*Visible{env.slurm, env.container, env.cuda} {
		if v != nil {
			parts = append(parts, fmt.Sprintf("%s=%q", v.Name, v.Value))
		}
	}
	if len(parts) == 0 {
		return "no GPU variable set"
	}
	return "environment " + strings.Join(parts, ", ")
}
