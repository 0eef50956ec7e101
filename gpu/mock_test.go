package gpu

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
)

// Small hand-made NVML mocks with fixed UUIDs, built from go-nvml's generated
// mock.Interface and mock.Device. Any function a test does not set panics
// when called, so a mock also proves which NVML calls the code makes.

// gpuUUID and migUUID are fixed, valid UUIDs for mock GPU i / MIG device j.
func gpuUUID(i int) string { return fmt.Sprintf("GPU-%08d-1111-2222-3333-%012d", i, i) }
func migUUID(i, j int) string {
	return fmt.Sprintf("MIG-%08d-%04d-2222-3333-444444444444", i, j)
}

// mockGPU describes one GPU of a mock node.
type mockGPU struct {
	minor int         // /dev/nvidiaN; defaults to the index when not set via withMinors
	mig   []MIGDevice // non-nil: MIG mode on with these devices
	numa  int
	// fail makes this NVML call on the GPU return ret.
	fail string
	ret  nvml.Return
}

// mockNode is a node of len(gpus) mock GPUs; hasNUMA says whether
// LookupSymbol finds nvmlDeviceGetNumaNodeId.
func mockNode(gpus []mockGPU, hasNUMA bool) *mock.Interface {
	devs := make([]nvml.Device, len(gpus))
	for i, g := range gpus {
		devs[i] = mockDevice(i, g)
	}
	ext := &mock.ExtendedInterface{LookupSymbolFunc: func(name string) error {
		if name == "nvmlDeviceGetNumaNodeId" && !hasNUMA {
			return fmt.Errorf("symbol %s not found", name)
		}
		return nil
	}}
	return &mock.Interface{
		InitFunc:           func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc:       func() nvml.Return { return nvml.SUCCESS },
		ExtensionsFunc:     func() nvml.ExtendedInterface { return ext },
		DeviceGetCountFunc: func() (int, nvml.Return) { return len(devs), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			if i < 0 || i >= len(devs) {
				return nil, nvml.ERROR_INVALID_ARGUMENT
			}
			return devs[i], nvml.SUCCESS
		},
	}
}

// plainGPUs is n GPUs without MIG, minor = index, NUMA node index/4.
func plainGPUs(n int) []mockGPU {
	gpus := make([]mockGPU, n)
	for i := range gpus {
		gpus[i] = mockGPU{minor: i, numa: i / 4}
	}
	return gpus
}

func mockDevice(i int, g mockGPU) *mock.Device {
	r := func(op string) nvml.Return {
		if g.fail == op {
			return g.ret
		}
		return nvml.SUCCESS
	}
	var pci nvml.PciInfo
	for k, c := range fmt.Sprintf("00000000:%02X:00.0", 0x10+i) {
		pci.BusId[k] = int8(c)
	}
	migMode := nvml.DEVICE_MIG_DISABLE
	if g.mig != nil {
		migMode = nvml.DEVICE_MIG_ENABLE
	}
	migs := make([]nvml.Device, len(g.mig))
	for j, m := range g.mig {
		m := m
		migs[j] = &mock.Device{
			GetUUIDFunc:              func() (string, nvml.Return) { return m.UUID, nvml.SUCCESS },
			GetGpuInstanceIdFunc:     func() (int, nvml.Return) { return m.GI, nvml.SUCCESS },
			GetComputeInstanceIdFunc: func() (int, nvml.Return) { return m.CI, nvml.SUCCESS },
		}
	}
	return &mock.Device{
		GetUUIDFunc:       func() (string, nvml.Return) { return gpuUUID(i), r("uuid") },
		GetNameFunc:       func() (string, nvml.Return) { return "NVIDIA H100 80GB HBM3", r("name") },
		GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) { return nvml.Memory{Total: 80 << 30}, r("memory") },
		GetPciInfoFunc:    func() (nvml.PciInfo, nvml.Return) { return pci, r("pci") },
		GetMinorNumberFunc: func() (int, nvml.Return) {
			return g.minor, r("minor")
		},
		GetMigModeFunc:     func() (int, int, nvml.Return) { return migMode, migMode, r("mig") },
		GetNumaNodeIdFunc:  func() (int, nvml.Return) { return g.numa, r("numa") },
		GetCpuAffinityFunc: func(int) ([]uint, nvml.Return) { return []uint{0xff << (8 * uint(g.numa))}, r("affinity") },
		// Two empty slots around the MIG devices, as NVML reports a
		// partly used GPU.
		GetMaxMigDeviceCountFunc: func() (int, nvml.Return) { return len(migs) + 2, nvml.SUCCESS },
		GetMigDeviceHandleByIndexFunc: func(j int) (nvml.Device, nvml.Return) {
			if j == 0 || j > len(migs) {
				return nil, nvml.ERROR_NOT_FOUND
			}
			return migs[j-1], nvml.SUCCESS
		},
	}
}

// calledMethods lists the methods of a go-nvml mock that were called, from
// its XxxCalls() recorders: the complete record, not a sample.
func calledMethods(m any) []string {
	var called []string
	v := reflect.ValueOf(m)
	t := v.Type()
	for i := 0; i < t.NumMethod(); i++ {
		name := t.Method(i).Name
		if !strings.HasSuffix(name, "Calls") || t.Method(i).Type.NumIn() != 1 {
			continue
		}
		out := v.Method(i).Call(nil)
		if len(out) == 1 && out[0].Kind() == reflect.Slice && out[0].Len() > 0 {
			called = append(called, strings.TrimSuffix(name, "Calls"))
		}
	}
	return called
}

// assertCalled fails unless exactly the named methods were called.
func assertCalled(t *testing.T, m any, want ...string) {
	t.Helper()
	got := calledMethods(m)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("NVML calls = %v, want exactly %v", got, want)
	}
}
