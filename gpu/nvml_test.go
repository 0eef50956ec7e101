package gpu

import (
	"errors"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
)

// TestOpenInitFailure: after a failed Init any NVML call can kill the
// process, so the mock must record Init and nothing else.
func TestOpenInitFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		ret  nvml.Return
		why  string // in the message: the reason in the user's words
	}{
		// The GPU-less machine: the case the whole safety story is about.
		{"library not found", nvml.ERROR_LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 not found: no NVIDIA driver on this machine"},
		// A container with the libraries mounted on a node whose driver is gone.
		{"driver not loaded", nvml.ERROR_DRIVER_NOT_LOADED, "kernel driver is not loaded"},
		// A driver update without reboot: a common cause of a broken node.
		{"version mismatch", nvml.ERROR_LIB_RM_VERSION_MISMATCH, "does not match the loaded kernel driver"},
		// Anything else still says what NVML said.
		{"other", nvml.ERROR_UNKNOWN, "ERROR_UNKNOWN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lib := &mock.Interface{InitFunc: func() nvml.Return { return tc.ret }}
			inv, closeInv, err := Open(func() nvml.Interface { return lib })
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if inv != nil {
				t.Errorf("inventory = %v, want nil", inv)
			}
			closeInv() // must be safe, and must not call Shutdown
			for _, want := range []string{"NVML unavailable", tc.why, "falling back to the GPUs Slurm assigned"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q lacks %q", err, want)
				}
			}
			assertCalled(t, lib, "Init")
		})
	}
}

// TestOpenNil covers tests and builds that pass no NVML constructor.
func TestOpenNil(t *testing.T) {
	inv, closeInv, err := Open(nil)
	closeInv()
	if !errors.Is(err, ErrUnavailable) || inv != nil {
		t.Fatalf("Open(nil) = %v, %v; want nil inventory and ErrUnavailable", inv, err)
	}
}

// TestOpenClose checks the happy path pairs Init with exactly one Shutdown,
// however often the caller closes.
func TestOpenClose(t *testing.T) {
	lib := mockNode(plainGPUs(2), true)
	inv, closeInv, err := Open(func() nvml.Interface { return lib })
	if err != nil {
		t.Fatal(err)
	}
	if inv.Source() != "nvml" {
		t.Errorf("Source = %q, want nvml", inv.Source())
	}
	closeInv()
	closeInv()
	if n := len(lib.ShutdownCalls()); n != 1 {
		t.Errorf("Shutdown called %d times, want 1", n)
	}
}

// TestDevices checks every field is read and converted, on a node with a
// MIG GPU among plain ones.
func TestDevices(t *testing.T) {
	gpus := plainGPUs(3)
	gpus[1].mig = []MIGDevice{{UUID: migUUID(1, 0), GI: 1, CI: 0}, {UUID: migUUID(1, 1), GI: 2, CI: 0}}
	gpus[2].minor = 7
	devs, err := NewNVML(mockNode(gpus, true)).Devices()
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 3 {
		t.Fatalf("got %d devices, want 3", len(devs))
	}
	d0 := devs[0]
	want0 := Device{Index: 0, UUID: gpuUUID(0), PCIBusID: "00000000:10:00.0", Name: "NVIDIA H100 80GB HBM3",
		MemoryBytes: 80 << 30, Minor: 0, NUMANode: 0, CPUAffinity: "0-7"}
	if !equalDevice(d0, want0) {
		t.Errorf("device 0 = %+v\nwant %+v", d0, want0)
	}
	if !devs[1].MIGEnabled || len(devs[1].MIG) != 2 || devs[1].MIG[1] != gpus[1].mig[1] {
		t.Errorf("device 1 MIG = %v %+v, want on with %+v", devs[1].MIGEnabled, devs[1].MIG, gpus[1].mig)
	}
	if devs[2].Minor != 7 || devs[2].MIGEnabled {
		t.Errorf("device 2 = %+v, want minor 7 and MIG off", devs[2])
	}
}

func equalDevice(a, b Device) bool {
	return a.Index == b.Index && a.UUID == b.UUID && a.PCIBusID == b.PCIBusID && a.Name == b.Name &&
		a.MemoryBytes == b.MemoryBytes && a.Minor == b.Minor && a.MIGEnabled == b.MIGEnabled &&
		len(a.MIG) == len(b.MIG) && a.NUMANode == b.NUMANode && a.CPUAffinity == b.CPUAffinity
}

// TestDevicesOptionalFields checks what a driver may legitimately not
// report, and that a missing NUMA symbol is never called (a missing symbol
// kills the process under lazy binding).
func TestDevicesOptionalFields(t *testing.T) {
	gpus := plainGPUs(1)
	gpus[0].fail, gpus[0].ret = "minor", nvml.ERROR_NOT_SUPPORTED
	lib := mockNode(gpus, false)
	devs, err := NewNVML(lib).Devices()
	if err != nil {
		t.Fatal(err)
	}
	if devs[0].Minor != -1 || devs[0].NUMANode != -1 {
		t.Errorf("minor %d NUMA %d, want -1 -1", devs[0].Minor, devs[0].NUMANode)
	}
	h, _ := lib.DeviceGetHandleByIndex(0)
	if n := len(h.(*mock.Device).GetNumaNodeIdCalls()); n != 0 {
		t.Errorf("GetNumaNodeId called %d times without the symbol", n)
	}
}

// TestDevicesError checks a GPU NVML fails on is reported with its index
// and NVML's words, and the healthy GPUs still come back.
func TestDevicesError(t *testing.T) {
	for _, tc := range []struct {
		name, op string
		ret      nvml.Return
		want     string
	}{
		// A GPU that fell off the bus: the classic cause of a short node.
		{"lost", "uuid", nvml.ERROR_GPU_IS_LOST, "GPU 2: NVML get UUID: ERROR_GPU_IS_LOST"},
		// Errors on secondary fields count too: NOT_SUPPORTED is the only pass.
		{"memory", "memory", nvml.ERROR_UNKNOWN, "GPU 2: NVML get memory info: ERROR_UNKNOWN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gpus := plainGPUs(4)
			gpus[2].fail, gpus[2].ret = tc.op, tc.ret
			devs, err := NewNVML(mockNode(gpus, true)).Devices()
			var ne *NVMLError
			if !errors.As(err, &ne) || ne.Index != 2 || ne.Return != tc.ret {
				t.Fatalf("err = %v, want an *NVMLError for GPU 2", err)
			}
			if err.Error() != tc.want {
				t.Errorf("err = %q, want %q", err, tc.want)
			}
			if len(devs) != 3 || devs[2].Index != 3 {
				t.Errorf("devices = %+v, want GPUs 0, 1, 3", devs)
			}
		})
	}
}

// TestDevicesCountError: NVML failing as a whole returns no devices.
func TestDevicesCountError(t *testing.T) {
	lib := mockNode(plainGPUs(2), true)
	lib.DeviceGetCountFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
	devs, err := NewNVML(lib).Devices()
	if err == nil || devs != nil || !strings.Contains(err.Error(), "count GPUs") {
		t.Errorf("Devices() = %v, %v; want nil and a count error", devs, err)
	}
}

func TestCPUList(t *testing.T) {
	for _, tc := range []struct {
		mask []uint
		want string
	}{
		{nil, ""},                                // nothing reported
		{[]uint{0b1}, "0"},                       // a single CPU is not a range
		{[]uint{0xff}, "0-7"},                    // one range
		{[]uint{0b1011_0000_1111}, "0-3,8-9,11"}, // gaps
		// a range crossing a word boundary: CPU 63 and 64 are neighbours
		{[]uint{1 << 63, 0b11}, "63-65"},
		// the last CPU of the mask is in a range that must be flushed
		{[]uint{0, ^uint(0)}, "64-127"},
	} {
		if got := cpuList(tc.mask); got != tc.want {
			t.Errorf("cpuList(%b) = %q, want %q", tc.mask, got, tc.want)
		}
	}
}

// TestFake checks the simulated inventory is stable and valid: its UUIDs
// must pass ParseVisible, or a simulated CUDA_VISIBLE_DEVICES would not.
func TestFake(t *testing.T) {
	devs, err := Fake(3).Devices()
	if err != nil || len(devs) != 3 {
		t.Fatalf("Fake(3) = %v, %v", devs, err)
	}
	if devs[2].UUID != "GPU-00000000-0000-0000-0000-000000000002" {
		t.Errorf("UUID of fake GPU 2 = %q", devs[2].UUID)
	}
	for _, d := range devs {
		if _, err := ParseVisible("X", d.UUID); err != nil {
			t.Error(err)
		}
	}
	if devs, _ := Fake(-1).Devices(); len(devs) != 0 {
		t.Errorf("Fake(-1) has %d GPUs", len(devs))
	}
}

// TestOpenOrFallback checks which inventory each command gets: NVML when it
// opens, simulated GPUs only when asked for and NVML is unavailable, and
// otherwise none (Slurm's binding), always with the reason to log.
func TestOpenOrFallback(t *testing.T) {
	noLib := func() nvml.Interface {
		return &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }}
	}
	twoGPUs := func() nvml.Interface { return mockNode(plainGPUs(2), true) }
	for _, tc := range []struct {
		name       string
		newLib     func() nvml.Interface
		fakeGPUs   int
		wantSource string // "" means a nil Inventory
		wantWhy    string // in unavailable; "" means unavailable must be empty
	}{
		// A GPU node: NVML wins even when --fake-gpus is set, so that a
		// local-simulation setting leaking onto a real node changes nothing.
		{name: "nvml", newLib: twoGPUs, fakeGPUs: 2, wantSource: "nvml"},
		// submit --local on a machine without a driver.
		{name: "fake", newLib: noLib, fakeGPUs: 2, wantSource: "fake", wantWhy: "libnvidia-ml.so.1 not found"},
		// A driverless node under Slurm: no inventory, Slurm's binding decides.
		{name: "slurm fallback", newLib: noLib, wantWhy: "libnvidia-ml.so.1 not found"},
		// No NVML constructor at all (tests, builds without NVML) is the same case.
		{name: "nil constructor", wantWhy: "started without NVML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, why, closeInv, err := OpenOrFallback(tc.newLib, tc.fakeGPUs)
			if err != nil {
				t.Fatal(err)
			}
			closeInv()
			source := ""
			if inv != nil {
				source = inv.Source()
			}
			if source != tc.wantSource {
				t.Errorf("source = %q, want %q", source, tc.wantSource)
			}
			if (tc.wantWhy == "" && why != "") || !strings.Contains(why, tc.wantWhy) {
				t.Errorf("unavailable = %q, want one containing %q", why, tc.wantWhy)
			}
			if tc.wantSource == "fake" {
				if devs, _ := inv.Devices(); len(devs) != tc.fakeGPUs {
					t.Errorf("%d simulated GPUs, want %d", len(devs), tc.fakeGPUs)
				}
			}
		})
	}
}
