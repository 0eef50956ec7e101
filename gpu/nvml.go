package gpu

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// NVMLError is an NVML return code turned into a Go error at this boundary.
type NVMLError struct {
	Index  int    // -1: a call about no single GPU
	Op     string // e.g. "get UUID"
	Return nvml.Return
}

func (e *NVMLError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("NVML %s: %s", e.Op, e.Return.Error())
	}
	return fmt.Sprintf("GPU %d: NVML %s: %s", e.Index, e.Op, e.Return.Error())
}

// fallbackHint ends every ErrUnavailable message: what happens instead.
const fallbackHint = "falling back to the GPUs Slurm assigned (" +
	EnvCUDAVisible + ", " + EnvGPUOrdinal + ", " + EnvSlurmStepGPUs + ", " + EnvSlurmJobGPUs +
	"), or leaving the GPU environment as it is"

func unavailable(why string) error {
	return fmt.Errorf("%w: %s; %s", ErrUnavailable, why, fallbackHint)
}

// initFailure explains a failed nvml.Init in the user's words.
func initFailure(ret nvml.Return) string {
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return "libnvidia-ml.so.1 not found: no NVIDIA driver on this machine (or not mounted into this container)"
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return "the NVIDIA kernel driver is not loaded"
	case nvml.ERROR_NO_PERMISSION:
		return "no permission to open the GPU devices (/dev/nvidia*)"
	case nvml.ERROR_LIB_RM_VERSION_MISMATCH:
		return "libnvidia-ml.so.1 does not match the loaded kernel driver (driver updated without reboot?)"
	default:
		return fmt.Sprintf("nvmlInit failed: %s (code %d)", ret.Error(), int(ret))
	}
}

// Open initialises NVML through newLib and returns the inventory and an
// idempotent close function (never nil). When Init fails, or newLib is nil,
// the error wraps ErrUnavailable, and no other NVML function is called, not
// even Shutdown: without the library that would kill the process.
func Open(newLib func() nvml.Interface) (Inventory, func(), error) {
	noop := func() {}
	if newLib == nil {
		return nil, noop, unavailable("this noderun was started without NVML")
	}
	lib := newLib()
	if lib == nil {
		return nil, noop, unavailable("no NVML library handle")
	}
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, noop, unavailable(initFailure(ret))
	}
	inv := &nvmlInventory{lib: lib, sym: newSymbols(lib)}
	var once sync.Once
	closeLib := func() {
		once.Do(func() {
			// Shutting NVML down under a reader still in a call can crash the
			// process; the process is about to exit anyway.
			if inv.users.Load() == 0 {
				_ = lib.Shutdown()
			}
		})
	}
	return inv, closeLib, nil
}

// OpenOrFallback is Open with the commands' fallback when NVML is
// unavailable: Fake(fakeGPUs) when fakeGPUs > 0, else a nil Inventory, with
// unavailable saying why. Any other error comes back wrapped.
func OpenOrFallback(newLib func() nvml.Interface, fakeGPUs int) (inv Inventory, unavailable string, closeFn func(), err error) {
	inv, closeFn, err = Open(newLib)
	switch {
	case err == nil:
		return inv, "", closeFn, nil
	case !errors.Is(err, ErrUnavailable):
		return nil, "", closeFn, fmt.Errorf("open NVML: %w", err)
	case fakeGPUs > 0:
		return Fake(fakeGPUs), err.Error(), closeFn, nil
	default:
		return nil, err.Error(), closeFn, nil
	}
}

// NewNVML returns the inventory of an initialised NVML library.
func NewNVML(lib nvml.Interface) Inventory { return &nvmlInventory{lib: lib, sym: newSymbols(lib)} }

type nvmlInventory struct {
	lib nvml.Interface
	sym *symbols
	// users counts the telemetries open or opening: NVML stays up for them.
	users atomic.Int32
}

func (n *nvmlInventory) Source() string { return "nvml" }

// Devices asks NVML afresh, so a GPU that fell off the bus shows next time.
func (n *nvmlInventory) Devices() ([]Device, error) {
	count, ret := n.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, &NVMLError{Index: -1, Op: "count GPUs", Return: ret}
	}
	var devs []Device
	var errs []error
	for i := 0; i < count; i++ {
		d, err := readDevice(n.lib, n.sym, i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		devs = append(devs, d)
	}
	return devs, errors.Join(errs...)
}

// maxCPUs bounds the CPU affinity mask asked for. go-nvml sizes its buffer
// in bytes where NVML counts bits, so the mask it returns covers 8× this.
const maxCPUs = 1024

// readDevice reads GPU i. Any failure but ERROR_NOT_SUPPORTED fails the GPU:
// it is no GPU to start a job on. NUMA node and CPU affinity are only hints.
// A driver without the MIG functions (before R450) has no MIG devices.
func readDevice(lib nvml.Interface, sym *symbols, i int) (Device, error) {
	d := Device{Index: i, Minor: -1, NUMANode: -1}
	fail := func(op string, ret nvml.Return) (Device, error) {
		return Device{}, &NVMLError{Index: i, Op: op, Return: ret}
	}
	h, ret := lib.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		return fail("get handle", ret)
	}
	if d.UUID, ret = h.GetUUID(); ret != nvml.SUCCESS {
		return fail("get UUID", ret)
	}
	if d.Name, ret = h.GetName(); !okOrUnsupported(ret) {
		return fail("get name", ret)
	}
	mem, ret := h.GetMemoryInfo()
	if !okOrUnsupported(ret) {
		return fail("get memory info", ret)
	}
	d.MemoryBytes = mem.Total
	pci, ret := h.GetPciInfo()
	if !okOrUnsupported(ret) {
		return fail("get PCI info", ret)
	}
	d.PCIBusID = busID(pci)
	minor, ret := h.GetMinorNumber()
	switch ret {
	case nvml.SUCCESS:
		d.Minor = minor
	case nvml.ERROR_NOT_SUPPORTED:
	default:
		return fail("get minor number", ret)
	}
	current, ret := nvml.DEVICE_MIG_DISABLE, nvml.ERROR_NOT_SUPPORTED
	if sym.has("nvmlDeviceGetMigMode") {
		current, _, ret = h.GetMigMode()
	}
	if !okOrUnsupported(ret) {
		return fail("get MIG mode", ret)
	}
	if ret == nvml.SUCCESS && current == nvml.DEVICE_MIG_ENABLE {
		d.MIGEnabled = true
		migs, err := readMIG(h, i)
		if err != nil {
			return Device{}, err
		}
		d.MIG = migs
	}
	if sym.has("nvmlDeviceGetNumaNodeId") {
		if node, ret := h.GetNumaNodeId(); ret == nvml.SUCCESS && node >= 0 {
			d.NUMANode = node
		}
	}
	if sym.has("nvmlDeviceGetCpuAffinity") {
		if mask, ret := h.GetCpuAffinity(maxCPUs); ret == nvml.SUCCESS {
			d.CPUAffinity = cpuList(mask)
		}
	}
	return d, nil
}

// readMIG lists the MIG devices of GPU i; empty slots are ERROR_NOT_FOUND.
func readMIG(h nvml.Device, i int) ([]MIGDevice, error) {
	fail := func(op string, ret nvml.Return) ([]MIGDevice, error) {
		return nil, &NVMLError{Index: i, Op: op, Return: ret}
	}
	slots, ret := h.GetMaxMigDeviceCount()
	if ret != nvml.SUCCESS {
		return fail("get max MIG device count", ret)
	}
	var migs []MIGDevice
	for j := 0; j < slots; j++ {
		m, ret := h.GetMigDeviceHandleByIndex(j)
		if ret == nvml.ERROR_NOT_FOUND {
			continue
		}
		if ret != nvml.SUCCESS {
			return fail(fmt.Sprintf("get MIG device %d", j), ret)
		}
		var md MIGDevice
		if md.UUID, ret = m.GetUUID(); ret != nvml.SUCCESS {
			return fail(fmt.Sprintf("get UUID of MIG device %d", j), ret)
		}
		if md.GI, ret = m.GetGpuInstanceId(); ret != nvml.SUCCESS {
			return fail(fmt.Sprintf("get GPU instance of MIG device %d", j), ret)
		}
		if md.CI, ret = m.GetComputeInstanceId(); ret != nvml.SUCCESS {
			return fail(fmt.Sprintf("get compute instance of MIG device %d", j), ret)
		}
		migs = append(migs, md)
	}
	return migs, nil
}

func okOrUnsupported(ret nvml.Return) bool {
	return ret == nvml.SUCCESS || ret == nvml.ERROR_NOT_SUPPORTED
}

func busID(p nvml.PciInfo) string {
	if s := cString(p.BusId[:]); s != "" {
		return s
	}
	return cString(p.BusIdLegacy[:])
}

func cString(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

// cpuList turns NVML's CPU bitmask into cpuset list form: "0-3,8,10-11".
func cpuList(mask []uint) string {
	var parts []string
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		if start == end {
			parts = append(parts, strconv.Itoa(start))
		} else {
			parts = append(parts, strconv.Itoa(start)+"-"+strconv.Itoa(end))
		}
		start = -1
	}
	cpu := 0
	for _, w := range mask {
		for b := 0; b < bits.UintSize; b, cpu = b+1, cpu+1 {
			if w&(1<<uint(b)) != 0 {
				if start < 0 {
					start = cpu
				}
			} else {
				flush(cpu - 1)
			}
		}
	}
	flush(cpu - 1)
	return strings.Join(parts, ",")
}
