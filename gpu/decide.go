package gpu

import (
	"fmt"
	"strings"
)

// Request is what one task asks of Decide.
type Request struct {
	// Mode is a Mode: "node", "task" or "none".
	Mode string
	// GPUsPerTask is g of mode task (>= 1 there; ignored otherwise).
	GPUsPerTask int
	// LocalRank is the task's rank on this node (SLURM_LOCALID).
	LocalRank int
	// TasksOnNode is the number of tasks of the step on this node (0:
	// unknown). With it, every rank of an under-provisioned node fails the
	// same way, not only the ranks past the end.
	TasksOnNode int
	// ExpectPerNode is how many GPUs the node must show (0: no precheck).
	ExpectPerNode int
	// Precheck is a Precheck: "fail" (also for ""), "warn" or "off".
	Precheck string
	// Node names the node in messages.
	Node string
	// Lookup reads the task's environment (os.LookupEnv, or a map in
	// tests); nil is an empty environment.
	Lookup func(string) (string, bool)
}

// Decision is the GPU binding of one task: what to put into (and take out
// of) the child's environment, and why.
type Decision struct {
	// Devices are the chosen GPUs: UUIDs ("GPU-…", or "MIG-…" on a GPU in
	// MIG mode) from an inventory; without one, the entries of the variable
	// named by Source, as written there (usually indices). Nil for
	// "passthrough": nothing was decided.
	Devices []string `json:"devices"`
	// Visible is what the node shows this step before the per-task slice:
	// the set the precheck counted.
	Visible []string `json:"visible"`
	// Seen is the count the precheck compared (-1: unknown, e.g. "all"
	// without an inventory).
	Seen int `json:"seen"`
	// Set are variables to set in the child's environment (an empty value
	// is meaningful: CUDA_VISIBLE_DEVICES="" hides every GPU).
	Set map[string]string `json:"set"`
	// Unset are variables to remove from the child's environment.
	Unset []string `json:"unset,omitempty"`
	// Source says where the GPUs came from: an inventory ("nvml", "fake"),
	// "slurm:<VAR>" / "env:<VAR>" without one, "passthrough", or "none".
	Source string `json:"source"`
	// RestrictedBy lists the variables that narrowed the inventory.
	RestrictedBy []string `json:"restricted_by,omitempty"`
	// Warnings are for the task's log; none of them stops the task.
	Warnings []string `json:"warnings,omitempty"`
}

// Decide works out the GPUs one task may use, on inventory inv (nil: NVML is
// unavailable, see Open) and the task's environment.
//
// The task never sees more than was already granted: the inventory is
// intersected with every restriction present in the environment —
//   - SLURM_STEP_GPUS (else SLURM_JOB_GPUS): Slurm's gres indices for this
//     node. They are matched against device minor numbers (/dev/nvidiaN),
//     which is what they are with the usual gres.conf File=/dev/nvidia[0-N]
//     (and with AutoDetect=nvml on systems where minor order is PCI order),
//     and which, unlike NVML indices, do not change inside a device cgroup.
//   - NVIDIA_VISIBLE_DEVICES: the container's devices. Its indices are the
//     host's; inside a container NVML renumbers from 0. When the list names
//     exactly as many GPUs as NVML shows and one index is past the end, the
//     runtime has applied it already and it is not applied again.
//   - CUDA_VISIBLE_DEVICES (else GPU_DEVICE_ORDINAL): CUDA's indices, the
//     same as NVML's within a device cgroup or container (both count only
//     the GPUs visible there, in PCI order), or UUIDs. When Slurm bound each
//     task to its own GPUs (this list is shorter than SLURM_STEP_GPUS), the
//     task keeps its binding: mode task takes the first g of it, mode node
//     all of it, and the precheck counts the node's step GPUs.
//
// Entries that name no GPU here are dropped with a warning. Mode node gives
// the task all of that set, mode task gives local rank L the slice
// [L*g,(L+1)*g) (an error wrapping ErrNotEnoughGPUs when the set is too
// small), mode none gives no GPU. The result sets CUDA_VISIBLE_DEVICES and
// NVIDIA_VISIBLE_DEVICES to the UUIDs (indices differ between NVML, CUDA and
// containers; UUIDs do not) and CUDA_DEVICE_ORDER=PCI_BUS_ID, and unsets
// GPU_DEVICE_ORDINAL, Slurm's index copy of the binding it replaces.
//
// Without an inventory, the first of CUDA_VISIBLE_DEVICES, GPU_DEVICE_ORDINAL,
// SLURM_STEP_GPUS, SLURM_JOB_GPUS that is set is sliced the same way, its
// entries copied as written (CUDA's own variables first, because in a device
// cgroup Slurm renumbers them and they are what CUDA will read); when none is
// set, nothing is changed (Source "passthrough").
//
// Precheck (ExpectPerNode > 0, not in mode none): fewer GPUs than expected,
// or an NVML error on a device, is an error wrapping ErrPrecheck with mode
// fail, a warning with warn, nothing with off. (An inventory that fails as a
// whole, after the precheck, is treated like a missing one.) Failing at once beats the
// alternative: NCCL waiting up to an hour for ranks that never join.
//
// A malformed visible-devices variable is an error wrapping
// ErrInvalidDevices, in every mode; a bad Request one wrapping
// ErrInvalidRequest.
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

// decideAfterFailure handles an inventory that failed as a whole (say,
// DeviceGetCount): that fails the precheck; without one, the environment's
// GPUs are used as if NVML were unavailable, rather than hiding every GPU.
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
		return d, nil
	}
	chosen, err := d.pick(texts(src.Tokens), bound, req, where)
	if err != nil {
		return Decision{}, err
	}
	d.bind(chosen, allUUIDs(chosen))
	if src.Name != EnvGPUOrdinal {
		d.unsetOrdinal(env)
	}
	return d, nil
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
