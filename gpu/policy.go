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

// noGPUContainer is NVIDIA_VISIBLE_DEVICES for a task without GPUs. "none"
// (not "void"): the container runtime then mounts the driver libraries but
// no device, so a server or benchmark role that imports CUDA-linked Python
// packages (torch, tensorrt_llm) still starts, and sees no GPU — as
// CUDA_VISIBLE_DEVICES="" says for CUDA. "void" would make a container
// without libcuda, and such imports fail. The variable only matters for a
// container created from the task's environment; CUDA_VISIBLE_DEVICES is
// what hides the GPUs from a process already inside one.
const noGPUContainer = "none"

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
		d := Decision{Devices: []string{}, Seen: -1, Source: SourceNone,
			Set: map[string]string{EnvCUDAVisible: "", EnvNvidiaVisible: noGPUContainer}}
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

// restrictions are the visible-devices variables found in the environment;
// nil where absent.
type restrictions struct {
	slurm     *Visible // SLURM_STEP_GPUS, else SLURM_JOB_GPUS
	cuda      *Visible // CUDA_VISIBLE_DEVICES, else GPU_DEVICE_ORDINAL
	container *Visible // NVIDIA_VISIBLE_DEVICES
	ordinal   bool     // GPU_DEVICE_ORDINAL is set
}

// readRestrictions parses every variable present, also those a higher one
// overrides: garbage anywhere is a configuration error worth stopping for.
func readRestrictions(lookup func(string) (string, bool)) (restrictions, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	var r restrictions
	get := func(name string) (*Visible, error) {
		val, ok := lookup(name)
		if !ok {
			return nil, nil
		}
		v, err := ParseVisible(name, val)
		if err != nil {
			return nil, err
		}
		return &v, nil
	}
	first := func(names ...string) (*Visible, error) {
		var found *Visible
		for _, n := range names {
			v, err := get(n)
			if err != nil {
				return nil, err
			}
			if found == nil {
				found = v
			}
		}
		return found, nil
	}
	var err error
	if r.slurm, err = first(EnvSlurmStepGPUs, EnvSlurmJobGPUs); err != nil {
		return r, err
	}
	if r.cuda, err = first(EnvCUDAVisible, EnvGPUOrdinal); err != nil {
		return r, err
	}
	if r.container, err = get(EnvNvidiaVisible); err != nil {
		return r, err
	}
	_, r.ordinal = lookup(EnvGPUOrdinal)
	return r, nil
}

// taskBound reports that Slurm bound this task to a part of the step's
// GPUs: the CUDA list is shorter than the Slurm one.
func (r restrictions) taskBound(cudaLen, slurmLen int) bool {
	return r.cuda != nil && r.slurm != nil && !r.cuda.All && !r.slurm.All && cudaLen < slurmLen
}

func (d *Decision) unsetOrdinal(r restrictions) {
	if r.ordinal {
		d.Unset = append(d.Unset, EnvGPUOrdinal)
	}
}

// unit is what a task can be given: a whole GPU, or a MIG device of a GPU
// in MIG mode.
type unit struct {
	uuid string
	dev  *Device
	mig  *MIGDevice
}

// space says how an index entry of a variable is read.
type space int

const (
	byIndex space = iota // NVML/CUDA index
	byMinor              // Slurm gres index = /dev/nvidiaN
)

func (u unit) matches(t Token, sp space) bool {
	switch {
	case t.Index >= 0:
		if sp == byMinor && u.dev.Minor >= 0 {
			return u.dev.Minor == t.Index
		}
		return u.dev.Index == t.Index
	case t.MIG != "":
		return u.mig != nil && strings.EqualFold(u.mig.UUID, t.MIG)
	case t.GI >= 0:
		return u.mig != nil && strings.EqualFold(u.dev.UUID, t.GPU) && u.mig.GI == t.GI && u.mig.CI == t.CI
	default:
		return strings.EqualFold(u.dev.UUID, t.GPU)
	}
}

func unitsOf(devs []Device) (units []unit, warnings []string) {
	for i := range devs {
		d := &devs[i]
		if !d.MIGEnabled {
			units = append(units, unit{uuid: d.UUID, dev: d})
			continue
		}
		if len(d.MIG) == 0 {
			warnings = append(warnings, fmt.Sprintf("GPU %d (%s) is in MIG mode but has no MIG devices; CUDA cannot use it", d.Index, d.UUID))
		}
		for j := range d.MIG {
			units = append(units, unit{uuid: d.MIG[j].UUID, dev: d, mig: &d.MIG[j]})
		}
	}
	return units, warnings
}

// restrict keeps the units of set that v names, in set's order; entries
// naming nothing in all are reported.
func restrict(set, all []unit, v *Visible, sp space, node string) (kept []unit, warnings []string) {
	if v.All {
		return set, nil
	}
	for _, u := range set {
		for _, t := range v.Tokens {
			if u.matches(t, sp) {
				kept = append(kept, u)
				break
			}
		}
	}
	for _, t := range v.Tokens {
		found := false
		for _, u := range all {
			if u.matches(t, sp) {
				found = true
				break
			}
		}
		if !found {
			warnings = append(warnings, fmt.Sprintf("%s names %q, which is not a GPU on node %s; ignored", v.Name, t.Text, node))
		}
	}
	return kept, warnings
}

// appliedByRuntime reports an index-form NVIDIA_VISIBLE_DEVICES that the
// container runtime already applied (see Decide).
func appliedByRuntime(v *Visible, gpus int) bool {
	if !v.isIndexList() || len(v.Tokens) != gpus {
		return false
	}
	for _, t := range v.Tokens {
		if t.Index >= gpus {
			return true
		}
	}
	return false
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
	d.Devices = chosen
	list := strings.Join(chosen, ",")
	d.Set[EnvCUDAVisible] = list
	d.Set[EnvNvidiaVisible] = list
	d.Set[EnvCUDADeviceOrder] = "PCI_BUS_ID"
	if len(chosen) == 0 {
		d.Set[EnvNvidiaVisible] = noGPUContainer
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
	d.Devices = chosen
	d.Set[EnvCUDAVisible] = strings.Join(chosen, ",")
	d.Set[EnvCUDADeviceOrder] = "PCI_BUS_ID"
	if allUUIDs(chosen) {
		// Indices would mean other GPUs to a container runtime (host
		// numbering); UUIDs mean the same everywhere.
		d.Set[EnvNvidiaVisible] = strings.Join(chosen, ",")
	}
	if src.Name != EnvGPUOrdinal {
		d.unsetOrdinal(env)
	}
	return d, nil
}

func (v *Visible) tokensOrNil() []Token {
	if v == nil {
		return nil
	}
	return v.Tokens
}

// precheck compares d.Seen with the expectation; deviceErr reports an NVML
// failure on some GPU, which fails the check by itself.
func (d *Decision) precheck(req Request, deviceErr bool, where string) error {
	if req.ExpectPerNode == 0 || Mode(req.Mode) == ModeNone || Precheck(req.Precheck) == PrecheckOff {
		return nil
	}
	if d.Seen < 0 {
		d.Warnings = append(d.Warnings, fmt.Sprintf("GPU precheck skipped on node %s: cannot count the GPUs (%s)", req.Node, where))
		return nil
	}
	if d.Seen >= req.ExpectPerNode && !deviceErr {
		return nil
	}
	msg := fmt.Sprintf("on node %s: expected %d GPUs, saw %d (%s)", req.Node, req.ExpectPerNode, d.Seen, where)
	if Precheck(req.Precheck) == PrecheckWarn {
		d.Warnings = append(d.Warnings, "GPU precheck "+msg+"; going on because precheck is warn")
		return nil
	}
	return fmt.Errorf("%w %s; stopping this task now instead of letting NCCL wait up to an hour for GPUs that are not there; "+
		"fix the node or the allocation, or set the precheck to warn", ErrPrecheck, msg)
}

// pick takes this task's share of set.
func (d *Decision) pick(set []string, bound bool, req Request, where string) ([]string, error) {
	if Mode(req.Mode) != ModeTask {
		return nonNil(set), nil
	}
	g, l := req.GPUsPerTask, req.LocalRank
	if bound {
		if len(set) < g {
			return nil, fmt.Errorf("%w on node %s for local rank %d: it needs %d GPUs, Slurm bound it to %d (%s)",
				ErrNotEnoughGPUs, req.Node, l, g, len(set), where)
		}
		if len(set) > g {
			d.Warnings = append(d.Warnings, fmt.Sprintf("Slurm bound %d GPUs to local rank %d; using the first %d", len(set), l, g))
		}
		return set[:g], nil
	}
	need := (l + 1) * g
	if t := req.TasksOnNode * g; t > need {
		need = t
	}
	if len(set) < need {
		tasks := fmt.Sprintf("local ranks 0-%d", l)
		if req.TasksOnNode > 0 {
			tasks = fmt.Sprintf("%d tasks", req.TasksOnNode)
		}
		return nil, fmt.Errorf("%w on node %s for local rank %d: %d GPUs per task for %s need %d GPUs, %d are visible (%s)",
			ErrNotEnoughGPUs, req.Node, l, g, tasks, need, len(set), where)
	}
	return set[l*g : (l+1)*g], nil
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

func uuids(us []unit) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.uuid
	}
	return out
}

func texts(ts []Token) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Text
	}
	return out
}

func allUUIDs(ids []string) bool {
	for _, id := range ids {
		if !strings.HasPrefix(id, "GPU-") && !strings.HasPrefix(id, "MIG-") {
			return false
		}
	}
	return len(ids) > 0
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
