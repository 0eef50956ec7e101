package gpu

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func nvmlNode(gpus []mockGPU) Inventory { return NewNVML(mockNode(gpus, true)) }

// decideCase is one Decide scenario. want* fields left empty are not checked.
type decideCase struct {
	name string
	inv  Inventory
	env  map[string]string
	req  Request

	wantDevices []string
	wantSet     map[string]string // each entry must be in Decision.Set
	wantNotSet  []string          // must not be in Decision.Set
	wantUnset   []string
	wantSource  string
	wantSeen    *int
	wantWarn    string // a warning containing this
	wantNoWarn  bool
	wantErr     error
	wantErrMsg  []string
}

func seen(n int) *int { return &n }

func countFails() nvml.Interface {
	lib := mockNode(plainGPUs(2), true)
	lib.DeviceGetCountFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
	return lib
}

func (tc decideCase) check(t *testing.T) {
	t.Helper()
	req := tc.req
	if req.Node == "" {
		req.Node = "node7"
	}
	req.Lookup = envOf(tc.env)
	d, err := Decide(tc.inv, req)
	if tc.wantErr != nil {
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("err = %v, want %v", err, tc.wantErr)
		}
		for _, s := range tc.wantErrMsg {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("message %q lacks %q", err, s)
			}
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if tc.wantDevices != nil && strings.Join(d.Devices, ",") != strings.Join(tc.wantDevices, ",") {
		t.Errorf("devices = %v, want %v", d.Devices, tc.wantDevices)
	}
	for k, v := range tc.wantSet {
		if got, ok := d.Set[k]; !ok || got != v {
			t.Errorf("Set[%s] = %q (present %v), want %q", k, got, ok, v)
		}
	}
	for _, k := range tc.wantNotSet {
		if v, ok := d.Set[k]; ok {
			t.Errorf("Set[%s] = %q, want it left alone", k, v)
		}
	}
	if strings.Join(d.Unset, ",") != strings.Join(tc.wantUnset, ",") {
		t.Errorf("unset = %v, want %v", d.Unset, tc.wantUnset)
	}
	if tc.wantSource != "" && d.Source != tc.wantSource {
		t.Errorf("source = %q, want %q", d.Source, tc.wantSource)
	}
	if tc.wantSeen != nil && d.Seen != *tc.wantSeen {
		t.Errorf("seen = %d, want %d", d.Seen, *tc.wantSeen)
	}
	all := strings.Join(d.Warnings, "\n")
	if tc.wantWarn != "" && !strings.Contains(all, tc.wantWarn) {
		t.Errorf("warnings %q lack %q", d.Warnings, tc.wantWarn)
	}
	if tc.wantNoWarn && len(d.Warnings) > 0 {
		t.Errorf("unexpected warnings %q", d.Warnings)
	}
}

func uuidsOf(idx ...int) []string {
	out := []string{}
	for _, i := range idx {
		out = append(out, gpuUUID(i))
	}
	return out
}

func joined(idx ...int) string { return strings.Join(uuidsOf(idx...), ",") }

// TestDecideTaskRanks is the core promise: 8 local ranks in mode task each
// get their own GPU, by UUID, none shared, on any inventory backend.
func TestDecideTaskRanks(t *testing.T) {
	for _, inv := range []Inventory{nvmlNode(plainGPUs(8)), Fake(8)} {
		devs, _ := inv.Devices()
		seenBy := map[string]int{}
		for rank := 0; rank < 8; rank++ {
			d, err := Decide(inv, Request{Mode: "task", GPUsPerTask: 1, LocalRank: rank, TasksOnNode: 8,
				ExpectPerNode: 8, Node: "n1", Lookup: envOf(nil)})
			if err != nil {
				t.Fatalf("%s rank %d: %v", inv.Source(), rank, err)
			}
			if len(d.Devices) != 1 || d.Devices[0] != devs[rank].UUID {
				t.Errorf("%s rank %d got %v, want [%s]", inv.Source(), rank, d.Devices, devs[rank].UUID)
			}
			if d.Set[EnvCUDAVisible] != devs[rank].UUID || d.Set[EnvNvidiaVisible] != devs[rank].UUID ||
				d.Set[EnvCUDADeviceOrder] != "PCI_BUS_ID" {
				t.Errorf("%s rank %d set %v", inv.Source(), rank, d.Set)
			}
			if prev, dup := seenBy[d.Devices[0]]; dup {
				t.Errorf("%s: ranks %d and %d share %s", inv.Source(), prev, rank, d.Devices[0])
			}
			seenBy[d.Devices[0]] = rank
		}
	}
}

func TestDecide(t *testing.T) {
	node8 := nvmlNode(plainGPUs(8))

	// A node where the device cgroup hides GPUs 0-3: NVML counts 0-3 again,
	// but the minor numbers stay 4-7.
	cgroup := plainGPUs(4)
	for i := range cgroup {
		cgroup[i].minor = 4 + i
	}

	migNode := plainGPUs(2)
	migNode[0].mig = []MIGDevice{{UUID: migUUID(0, 0), GI: 1, CI: 0}, {UUID: migUUID(0, 1), GI: 2, CI: 0}}
	migEmpty := plainGPUs(2)
	migEmpty[1].mig = []MIGDevice{}

	lost := plainGPUs(8)
	lost[3].fail, lost[3].ret = "uuid", nvml.ERROR_GPU_IS_LOST

	for _, tc := range []decideCase{
		// Mode node: MPI workers see the whole node and pick by rank themselves.
		{name: "node mode all GPUs", inv: node8, req: Request{Mode: "node", ExpectPerNode: 8},
			wantDevices: uuidsOf(0, 1, 2, 3, 4, 5, 6, 7), wantSource: "nvml", wantSeen: seen(8), wantNoWarn: true,
			wantSet: map[string]string{EnvCUDAVisible: joined(0, 1, 2, 3, 4, 5, 6, 7), EnvCUDADeviceOrder: "PCI_BUS_ID"}},
		// Two GPUs per task: the last rank gets the last pair.
		{name: "two per task", inv: node8, req: Request{Mode: "task", GPUsPerTask: 2, LocalRank: 3, TasksOnNode: 4},
			wantDevices: uuidsOf(6, 7), wantSet: map[string]string{EnvNvidiaVisible: joined(6, 7)}},
		// A rank past the end is an error naming node, rank, need and supply,
		// not a silently shared GPU.
		{name: "two per task too many ranks", inv: node8, req: Request{Mode: "task", GPUsPerTask: 2, LocalRank: 4},
			wantErr: ErrNotEnoughGPUs, wantErrMsg: []string{"node7", "local rank 4", "need 10", "8 are visible"}},
		// With the task count known, rank 0 of an over-full node fails too,
		// instead of starting and waiting for peers that cannot start.
		{name: "tasks on node checked by every rank", inv: node8, req: Request{Mode: "task", GPUsPerTask: 3, LocalRank: 0, TasksOnNode: 3},
			wantErr: ErrNotEnoughGPUs, wantErrMsg: []string{"3 tasks need 9 GPUs"}},
		// Server and benchmark roles: no GPU, and no container GPU either.
		{name: "none mode", inv: node8, env: map[string]string{EnvCUDAVisible: "0,1", EnvGPUOrdinal: "0,1"}, req: Request{Mode: "none", ExpectPerNode: 8},
			wantDevices: []string{}, wantSource: SourceNone, wantUnset: []string{EnvGPUOrdinal},
			wantSet: map[string]string{EnvCUDAVisible: "", EnvNvidiaVisible: "none"}, wantNotSet: []string{EnvCUDADeviceOrder}},
		// Slurm gave the job GPUs 4-7 of a shared node (no device cgroup):
		// rank 1 gets GPU 5, not GPU 1.
		{name: "slurm subset", inv: node8,
			env:         map[string]string{EnvSlurmStepGPUs: "4,5,6,7", EnvCUDAVisible: "4,5,6,7", EnvGPUOrdinal: "4,5,6,7"},
			req:         Request{Mode: "task", GPUsPerTask: 1, LocalRank: 1, ExpectPerNode: 4},
			wantDevices: uuidsOf(5), wantSeen: seen(4), wantUnset: []string{EnvGPUOrdinal}, wantNoWarn: true},
		// ... and a fifth rank fails rather than being widened onto GPU 0-3.
		{name: "slurm subset never widened", inv: node8,
			env:     map[string]string{EnvSlurmStepGPUs: "4,5,6,7", EnvCUDAVisible: "4,5,6,7"},
			req:     Request{Mode: "task", GPUsPerTask: 1, LocalRank: 4},
			wantErr: ErrNotEnoughGPUs, wantErrMsg: []string{"4 are visible", `SLURM_STEP_GPUS="4,5,6,7"`}},
		// SLURM_JOB_GPUS is used when the step variable is missing.
		{name: "slurm job gpus", inv: node8, env: map[string]string{EnvSlurmJobGPUs: "2,3"}, req: Request{Mode: "node"},
			wantDevices: uuidsOf(2, 3)},
		// With ConstrainDevices=yes NVML renumbers, Slurm's ids stay global:
		// matching by minor number finds the right GPUs.
		{name: "device cgroup", inv: nvmlNode(cgroup),
			env:         map[string]string{EnvSlurmStepGPUs: "4,5,6,7", EnvCUDAVisible: "0,1,2,3"},
			req:         Request{Mode: "task", GPUsPerTask: 1, LocalRank: 2, ExpectPerNode: 4},
			wantDevices: uuidsOf(2), wantSeen: seen(4), wantNoWarn: true},
		// Slurm bound each task to its own GPU already (--gpus-per-task with
		// per-task binding): keep that binding, count the step's GPUs.
		{name: "slurm per-task binding", inv: node8,
			env:         map[string]string{EnvSlurmStepGPUs: "0,1,2,3", EnvCUDAVisible: "2"},
			req:         Request{Mode: "task", GPUsPerTask: 1, LocalRank: 2, TasksOnNode: 4, ExpectPerNode: 4},
			wantDevices: uuidsOf(2), wantSeen: seen(4), wantNoWarn: true},
		// An existing binding by UUID (from a container, or an earlier noderun).
		{name: "container by uuid", inv: node8,
			env: map[string]string{EnvNvidiaVisible: gpuUUID(5) + "," + gpuUUID(3)}, req: Request{Mode: "node"},
			wantDevices: uuidsOf(3, 5)},
		// Inside a container started with NVIDIA_VISIBLE_DEVICES=5,6 NVML
		// shows 2 GPUs as 0,1: the runtime applied it, do not apply it again.
		{name: "container applied by runtime", inv: nvmlNode(plainGPUs(2)),
			env: map[string]string{EnvNvidiaVisible: "5,6"}, req: Request{Mode: "node"},
			wantDevices: uuidsOf(0, 1), wantNoWarn: true},
		// On the host an index past the end is just wrong: drop it, warn,
		// never widen to the whole node.
		{name: "container index not on node", inv: node8,
			env: map[string]string{EnvNvidiaVisible: "1,9"}, req: Request{Mode: "node"},
			wantDevices: uuidsOf(1), wantWarn: `NVIDIA_VISIBLE_DEVICES names "9", which is not a GPU on node node7`},
		// "all" restricts nothing.
		{name: "container all", inv: node8, env: map[string]string{EnvNvidiaVisible: "all"}, req: Request{Mode: "node"},
			wantDevices: uuidsOf(0, 1, 2, 3, 4, 5, 6, 7)},
		// A node-mode task with nothing left says so (and hides every GPU).
		{name: "restricted to nothing", inv: node8, env: map[string]string{EnvCUDAVisible: ""}, req: Request{Mode: "node"},
			wantDevices: []string{}, wantSet: map[string]string{EnvCUDAVisible: "", EnvNvidiaVisible: "none"},
			wantWarn: "no GPU is visible"},
		// MIG: the units handed out are MIG devices, then whole GPUs.
		{name: "mig task", inv: nvmlNode(migNode), req: Request{Mode: "task", GPUsPerTask: 1, LocalRank: 1, TasksOnNode: 3},
			wantDevices: []string{migUUID(0, 1)}, wantSet: map[string]string{EnvCUDAVisible: migUUID(0, 1)}},
		{name: "mig last rank gets plain GPU", inv: nvmlNode(migNode), req: Request{Mode: "task", GPUsPerTask: 1, LocalRank: 2},
			wantDevices: uuidsOf(1)},
		// Restriction by MIG UUID and by the older MIG-GPU-uuid/gi/ci form.
		{name: "mig restricted by uuid", inv: nvmlNode(migNode), env: map[string]string{EnvCUDAVisible: migUUID(0, 1)},
			req: Request{Mode: "node"}, wantDevices: []string{migUUID(0, 1)}},
		{name: "mig restricted by legacy form", inv: nvmlNode(migNode),
			env: map[string]string{EnvCUDAVisible: "MIG-" + gpuUUID(0) + "/1/0"}, req: Request{Mode: "node"},
			wantDevices: []string{migUUID(0, 0)}},
		// A GPU's UUID covers all of its MIG devices.
		{name: "mig restricted by gpu uuid", inv: nvmlNode(migNode), env: map[string]string{EnvCUDAVisible: gpuUUID(0)},
			req: Request{Mode: "node"}, wantDevices: []string{migUUID(0, 0), migUUID(0, 1)}},
		// MIG on but no instances: CUDA cannot use the GPU; say so, do not count it.
		{name: "mig without devices", inv: nvmlNode(migEmpty), req: Request{Mode: "node", ExpectPerNode: 2, Precheck: "warn"},
			wantDevices: uuidsOf(0), wantSeen: seen(1), wantWarn: "MIG mode but has no MIG devices"},
		// Precheck: a short node fails at once, with the numbers and the why.
		{name: "precheck fail", inv: nvmlNode(plainGPUs(7)), req: Request{Mode: "task", GPUsPerTask: 1, ExpectPerNode: 8},
			wantErr: ErrPrecheck, wantErrMsg: []string{"on node node7", "expected 8 GPUs, saw 7", "NCCL", "hour"}},
		// The empty precheck setting is the strict one.
		{name: "precheck default is fail", inv: nvmlNode(plainGPUs(7)), req: Request{Mode: "node", ExpectPerNode: 8, Precheck: ""},
			wantErr: ErrPrecheck},
		{name: "precheck warn", inv: nvmlNode(plainGPUs(7)), req: Request{Mode: "node", ExpectPerNode: 8, Precheck: "warn"},
			wantDevices: uuidsOf(0, 1, 2, 3, 4, 5, 6), wantWarn: "expected 8 GPUs, saw 7"},
		{name: "precheck off", inv: nvmlNode(plainGPUs(7)), req: Request{Mode: "node", ExpectPerNode: 8, Precheck: "off"},
			wantNoWarn: true},
		// The precheck counts what the job may use, not what the node has.
		{name: "precheck counts slurm subset", inv: node8, env: map[string]string{EnvSlurmStepGPUs: "0,1"},
			req: Request{Mode: "node", ExpectPerNode: 4}, wantErr: ErrPrecheck, wantErrMsg: []string{"saw 2"}},
		// A GPU NVML fails on fails the precheck, naming it and NVML's error.
		{name: "precheck device error", inv: nvmlNode(lost), req: Request{Mode: "node", ExpectPerNode: 8},
			wantErr: ErrPrecheck, wantErrMsg: []string{"saw 7", "GPU 3", "ERROR_GPU_IS_LOST"}},
		// ... and even with enough GPUs left.
		{name: "precheck device error enough left", inv: nvmlNode(lost), req: Request{Mode: "node", ExpectPerNode: 6},
			wantErr: ErrPrecheck, wantErrMsg: []string{"ERROR_GPU_IS_LOST"}},
		// Without a precheck a broken GPU is a warning, the rest are used.
		{name: "device error without precheck", inv: nvmlNode(lost), req: Request{Mode: "node"},
			wantDevices: uuidsOf(0, 1, 2, 4, 5, 6, 7), wantWarn: "ERROR_GPU_IS_LOST"},
		// NVML failing as a whole: not a reason to hide every GPU; use
		// the environment's, and say why.
		{name: "count error falls back", inv: NewNVML(countFails()), env: map[string]string{EnvSlurmStepGPUs: "0,1"},
			req: Request{Mode: "task", GPUsPerTask: 1, LocalRank: 1}, wantSource: "slurm:SLURM_STEP_GPUS", wantDevices: []string{"1"},
			wantWarn: "NVML count GPUs: ERROR_UNKNOWN"},
		// ... but with a precheck it fails the node.
		{name: "count error fails precheck", inv: NewNVML(countFails()), env: map[string]string{EnvSlurmStepGPUs: "0,1"},
			req: Request{Mode: "node", ExpectPerNode: 2}, wantErr: ErrPrecheck, wantErrMsg: []string{"saw 0", "count GPUs"}},
		// Garbage anywhere stops the task, whatever its mode.
		{name: "garbage", inv: node8, env: map[string]string{EnvCUDAVisible: "0,gpu1"}, req: Request{Mode: "none"},
			wantErr: ErrInvalidDevices, wantErrMsg: []string{"CUDA_VISIBLE_DEVICES", `"gpu1"`}},
		// Garbage in an overridden variable too: it is still a broken config.
		{name: "garbage in job gpus", inv: node8, env: map[string]string{EnvSlurmStepGPUs: "0", EnvSlurmJobGPUs: "x"}, req: Request{Mode: "node"},
			wantErr: ErrInvalidDevices, wantErrMsg: []string{"SLURM_JOB_GPUS"}},
		{name: "bad mode", inv: node8, req: Request{Mode: "gpu"}, wantErr: ErrInvalidRequest, wantErrMsg: []string{`"gpu"`}},
		{name: "task mode without count", inv: node8, req: Request{Mode: "task"}, wantErr: ErrInvalidRequest},
		{name: "rank beyond tasks", inv: node8, req: Request{Mode: "task", GPUsPerTask: 1, LocalRank: 2, TasksOnNode: 2}, wantErr: ErrInvalidRequest},

		// Without NVML (inv nil): fall back to what the environment lists.
		// Nothing listed: CUDA's variable is left alone, and container
		// hooks get the node's GPUs, as TensorRT-LLM's scripts give workers.
		{name: "fallback passthrough", env: nil, req: Request{Mode: "node"},
			wantSource: SourcePassthrough, wantNotSet: []string{EnvCUDAVisible}, wantSet: map[string]string{EnvNvidiaVisible: "all"}, wantNoWarn: true},
		// A container restriction already in the environment stays as it is.
		{name: "fallback keeps the container's", env: map[string]string{EnvNvidiaVisible: "0,1"}, req: Request{Mode: "node"},
			wantSource: SourcePassthrough, wantNotSet: []string{EnvCUDAVisible, EnvNvidiaVisible}},
		// ... but a task that wanted its own GPU hears it did not get one.
		{name: "fallback passthrough task", env: nil, req: Request{Mode: "task", GPUsPerTask: 1, LocalRank: 1},
			wantSource: SourcePassthrough, wantWarn: "cannot give local rank 1 its own GPUs"},
		// Slurm's list, sliced like the inventory would be.
		{name: "fallback slurm", env: map[string]string{EnvSlurmStepGPUs: "0,1,2,3"}, req: Request{Mode: "task", GPUsPerTask: 1, LocalRank: 2},
			wantSource: "slurm:SLURM_STEP_GPUS", wantDevices: []string{"2"},
			wantSet: map[string]string{EnvCUDAVisible: "2", EnvCUDADeviceOrder: "PCI_BUS_ID", EnvNvidiaVisible: "2"}},
		// CUDA's own list wins over Slurm's global ids (renumbered in a
		// cgroup); container hooks still get Slurm's host indices.
		{name: "fallback prefers cuda", env: map[string]string{EnvSlurmStepGPUs: "4,5", EnvCUDAVisible: "0,1", EnvGPUOrdinal: "0,1"},
			req: Request{Mode: "task", GPUsPerTask: 1, LocalRank: 1}, wantSource: "env:CUDA_VISIBLE_DEVICES",
			wantDevices: []string{"1"}, wantUnset: []string{EnvGPUOrdinal}, wantSet: map[string]string{EnvNvidiaVisible: "4,5"}},
		// Per-task binding without NVML: keep it, count the step's GPUs.
		{name: "fallback per-task binding", env: map[string]string{EnvSlurmStepGPUs: "0,1,2,3", EnvCUDAVisible: "3"},
			req: Request{Mode: "task", GPUsPerTask: 1, LocalRank: 3, ExpectPerNode: 4}, wantDevices: []string{"3"}, wantSeen: seen(4)},
		// UUIDs are safe to give the container runtime too.
		{name: "fallback uuids", env: map[string]string{EnvCUDAVisible: joined(1, 2)}, req: Request{Mode: "node"},
			wantDevices: uuidsOf(1, 2), wantSet: map[string]string{EnvNvidiaVisible: joined(1, 2)}},
		// Not enough listed GPUs is the same error as with NVML.
		{name: "fallback not enough", env: map[string]string{EnvSlurmStepGPUs: "0"}, req: Request{Mode: "task", GPUsPerTask: 1, LocalRank: 1},
			wantErr: ErrNotEnoughGPUs, wantErrMsg: []string{"NVML unavailable"}},
		// The precheck counts the listed GPUs; none listed is none seen.
		{name: "fallback precheck", env: nil, req: Request{Mode: "node", ExpectPerNode: 8},
			wantErr: ErrPrecheck, wantErrMsg: []string{"saw 0", "NVML unavailable"}},
		// "all" cannot be counted: warn instead of failing on a guess.
		{name: "fallback all", env: map[string]string{EnvCUDAVisible: "all"}, req: Request{Mode: "node", ExpectPerNode: 8},
			wantSeen: seen(-1), wantWarn: "precheck skipped", wantNotSet: []string{EnvCUDAVisible}},
	} {
		t.Run(tc.name, tc.check)
	}
}

// TestDecideNeverWidens sweeps restrictions over all ranks and modes: no
// decision may name a GPU outside what SLURM_STEP_GPUS granted.
func TestDecideNeverWidens(t *testing.T) {
	inv := nvmlNode(plainGPUs(8))
	for _, granted := range [][]int{{0}, {3, 4}, {1, 5, 7}, {0, 1, 2, 3, 4, 5, 6, 7}} {
		var ids []string
		allowed := map[string]bool{}
		for _, g := range granted {
			ids = append(ids, fmt.Sprint(g))
			allowed[gpuUUID(g)] = true
		}
		env := envOf(map[string]string{EnvSlurmStepGPUs: strings.Join(ids, ",")})
		for _, mode := range []string{"node", "task"} {
			for rank := 0; rank < 8; rank++ {
				d, err := Decide(inv, Request{Mode: mode, GPUsPerTask: 1, LocalRank: rank, Node: "n", Lookup: env})
				if err != nil {
					if !errors.Is(err, ErrNotEnoughGPUs) || rank < len(granted) {
						t.Errorf("granted %v %s rank %d: %v", granted, mode, rank, err)
					}
					continue
				}
				for _, u := range d.Devices {
					if !allowed[u] {
						t.Errorf("granted %v %s rank %d got %s", granted, mode, rank, u)
					}
				}
			}
		}
	}
}
