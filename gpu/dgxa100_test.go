package gpu

import (
	"errors"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// newDGX is go-nvml's DGX A100 mock (8 × A100-SXM4-40GB, MIG capable), with
// the few functions it leaves unset and NewNVML calls filled in, the way
// nvidia-container-toolkit's tests override single functions.
func newDGX(t *testing.T) (*server.Server, []*server.Device) {
	t.Helper()
	s := dgxa100.New()
	devs := make([]*server.Device, len(s.Devices))
	for i, d := range s.Devices {
		dev := d.(*server.Device)
		node := i / 4
		dev.GetNumaNodeIdFunc = func() (int, nvml.Return) { return node, nvml.SUCCESS }
		dev.GetCpuAffinityFunc = func(int) ([]uint, nvml.Return) { return []uint{0xffff << (16 * uint(node))}, nvml.SUCCESS }
		dev.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) { return 7, nvml.SUCCESS }
		dev.GetMigDeviceHandleByIndexFunc = func(int) (nvml.Device, nvml.Return) { return nil, nvml.ERROR_NOT_FOUND }
		devs[i] = dev
	}
	return s, devs
}

// TestDGXA100Inventory reads the mock through the real backend: the values
// come from the mock's own configuration, not from this test.
func TestDGXA100Inventory(t *testing.T) {
	s, mdevs := newDGX(t)
	devs, err := NewNVML(s).Devices()
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 8 {
		t.Fatalf("%d devices, want 8", len(devs))
	}
	for i, d := range devs {
		m := mdevs[i]
		if d.Index != i || d.UUID != m.UUID || d.Minor != m.Minor || d.MemoryBytes != m.MemoryInfo.Total ||
			d.Name != m.Config.Name || d.MIGEnabled || d.NUMANode != i/4 {
			t.Errorf("device %d = %+v; mock has UUID %s minor %d memory %d name %q", i, d, m.UUID, m.Minor, m.MemoryInfo.Total, m.Config.Name)
		}
	}
}

// TestDGXA100Ranks: 8 local ranks × task mode get disjoint single GPUs by
// UUID; with 2 per task, 4 ranks get disjoint pairs.
func TestDGXA100Ranks(t *testing.T) {
	s, mdevs := newDGX(t)
	inv := NewNVML(s)
	for _, g := range []int{1, 2} {
		used := map[string]bool{}
		for rank := 0; rank < 8/g; rank++ {
			d, err := Decide(inv, Request{Mode: "task", GPUsPerTask: g, LocalRank: rank, TasksOnNode: 8 / g,
				ExpectPerNode: 8, Node: "dgx", Lookup: envOf(nil)})
			if err != nil {
				t.Fatalf("g=%d rank %d: %v", g, rank, err)
			}
			if len(d.Devices) != g {
				t.Fatalf("g=%d rank %d got %v", g, rank, d.Devices)
			}
			for k, u := range d.Devices {
				if want := mdevs[rank*g+k].UUID; u != want {
					t.Errorf("g=%d rank %d device %d = %s, want %s", g, rank, k, u, want)
				}
				if used[u] {
					t.Errorf("g=%d: %s given twice", g, u)
				}
				used[u] = true
			}
		}
	}
}

// TestDGXA100MIG turns MIG on for GPU 0 through the mock's own SetMigMode
// and gives it two MIG devices: those are handed out before GPU 1.
func TestDGXA100MIG(t *testing.T) {
	s, mdevs := newDGX(t)
	if _, ret := mdevs[0].SetMigMode(nvml.DEVICE_MIG_ENABLE); ret != nvml.SUCCESS {
		t.Fatal(ret)
	}
	migs := []MIGDevice{{UUID: migUUID(0, 0), GI: 1, CI: 0}, {UUID: migUUID(0, 1), GI: 2, CI: 0}}
	mdevs[0].GetMigDeviceHandleByIndexFunc = func(j int) (nvml.Device, nvml.Return) {
		if j >= len(migs) {
			return nil, nvml.ERROR_NOT_FOUND
		}
		m := migs[j]
		return &mock.Device{
			GetUUIDFunc:              func() (string, nvml.Return) { return m.UUID, nvml.SUCCESS },
			GetGpuInstanceIdFunc:     func() (int, nvml.Return) { return m.GI, nvml.SUCCESS },
			GetComputeInstanceIdFunc: func() (int, nvml.Return) { return m.CI, nvml.SUCCESS },
		}, nvml.SUCCESS
	}
	inv := NewNVML(s)
	for rank, want := range []string{migs[0].UUID, migs[1].UUID, mdevs[1].UUID} {
		d, err := Decide(inv, Request{Mode: "task", GPUsPerTask: 1, LocalRank: rank, Node: "dgx", Lookup: envOf(nil)})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Devices) != 1 || d.Devices[0] != want {
			t.Errorf("rank %d got %v, want %s", rank, d.Devices, want)
		}
	}
}

// TestDGXA100SlurmSubset: Slurm granted GPUs 2 and 6; every rank stays
// inside them and the precheck counts 2.
func TestDGXA100SlurmSubset(t *testing.T) {
	s, mdevs := newDGX(t)
	env := envOf(map[string]string{EnvSlurmStepGPUs: "2,6", EnvCUDAVisible: "2,6"})
	inv := NewNVML(s)
	for rank, want := range []string{mdevs[2].UUID, mdevs[6].UUID} {
		d, err := Decide(inv, Request{Mode: "task", GPUsPerTask: 1, LocalRank: rank, Node: "dgx", Lookup: env})
		if err != nil || len(d.Devices) != 1 || d.Devices[0] != want {
			t.Errorf("rank %d = %v, %v; want %s", rank, d.Devices, err, want)
		}
	}
	_, err := Decide(inv, Request{Mode: "task", GPUsPerTask: 1, LocalRank: 2, Node: "dgx", Lookup: env})
	if !errors.Is(err, ErrNotEnoughGPUs) {
		t.Errorf("rank 2 of 2 granted GPUs: err = %v, want ErrNotEnoughGPUs", err)
	}
	_, err = Decide(inv, Request{Mode: "node", ExpectPerNode: 8, Node: "dgx", Lookup: env})
	if !errors.Is(err, ErrPrecheck) {
		t.Errorf("precheck with 2 of 8 granted: err = %v, want ErrPrecheck", err)
	}
}

// TestDGXA100LibraryMissing: with Init overridden to fail as on a GPU-less
// machine, Open reports ErrUnavailable and the mock records no call but Init.
func TestDGXA100LibraryMissing(t *testing.T) {
	s, _ := newDGX(t)
	s.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }
	inv, closeInv, err := Open(func() nvml.Interface { return s })
	closeInv()
	if !errors.Is(err, ErrUnavailable) || inv != nil {
		t.Fatalf("Open = %v, %v; want ErrUnavailable", inv, err)
	}
	assertCalled(t, &s.Interface, "Init")
	// And the fallback still decides, from Slurm's list.
	d, err := Decide(inv, Request{Mode: "task", GPUsPerTask: 1, LocalRank: 1, Node: "dgx",
		Lookup: envOf(map[string]string{EnvSlurmStepGPUs: "0,1"})})
	if err != nil || d.Source != "slurm:SLURM_STEP_GPUS" || len(d.Devices) != 1 || d.Devices[0] != "1" {
		t.Errorf("fallback = %+v, %v", d, err)
	}
}
