package gpu

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// NVMLError is an NVML return code turned into a Go error at the package
// boundary; nothing outside gpu/ sees an nvml.Return.
type NVMLError struct {
	// Index is the GPU's NVML index, -1 for a call about no single GPU.
	Index int
	// Op says what was asked, e.g. "get UUID".
	Op     string
	Return nvml.Return
}

func (e *NVMLError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("NVML %s: %s", e.Op, e.Return.Error())
	}
	return fmt.Sprintf("GPU %d: NVML %s: %s", e.Index, e.Op, e.Return.Error())
}

// fallbackHint is what happens when NVML is unavailable; every
// ErrUnavailable message ends with it so that a log line is self-contained.
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

// Open initialises NVML through newLib (only cmd/ passes the real nvml.New)
// and returns the inventory and a function that shuts NVML down again.
//
// When Init fails, Open returns an error wrapping ErrUnavailable that says why
// and what happens next, and calls NO other NVML function, not even Shutdown:
// after a failed Init the NVML symbols are unresolved and calling one kills
// the process (see the package documentation). A nil newLib (tests, builds
// without NVML) is ErrUnavailable too. The close function is never nil and
// may be called more than once.
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
	var once sync.Once
	closeLib := func() { once.Do(func() { _ = lib.Shutdown() }) }
	return NewNVML(lib), closeLib, nil
}

// OpenOrFallback is Open with the fallback every command uses when NVML is
// unavailable: fakeGPUs simulated GPUs when fakeGPUs > 0 (submit --local),
// otherwise a nil Inventory, which tells Decide to use the GPUs Slurm
// assigned. unavailable is then why NVML could not be used (the
// ErrUnavailable message, for the log and reports); it is empty when NVML
// opened. Any other error is returned wrapped, with a nil Inventory; callers
// treat it as a failed GPU precheck. closeFn is never nil.
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
//
// It calls DeviceGetCount and DeviceGetHandleByIndex, and per device GetUUID,
// GetName, GetMemoryInfo, GetPciInfo, GetMinorNumber, GetMigMode,
// GetCpuAffinity, GetNumaNodeId (only when Extensions().LookupSymbol finds
// nvmlDeviceGetNumaNodeId: older drivers lack it, and calling a missing
// symbol kills the process), and on a GPU in MIG mode GetMaxMigDeviceCount,
// GetMigDeviceHandleByIndex, and per MIG device GetUUID, GetGpuInstanceId,
// GetComputeInstanceId. Mocks must provide these (go-nvml's dgxa100 lacks the
// NUMA, affinity and MIG-handle functions; see the tests).
func NewNVML(lib nvml.Interface) Inventory { return &nvmlInventory{lib: lib} }

type nvmlInventory struct{ lib nvml.Interface }

func (n *nvmlInventory) Source() string { return "nvml" }

// Devices asks NVML afresh on every call; a GPU that fell off the bus shows
// up the next time.
func (n *nvmlInventory) Devices() ([]Device, error) {
	count, ret := n.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, &NVMLError{Index: -1, Op: "count GPUs", Return: ret}
	}
	hasNUMA := n.lib.Extensions().LookupSymbol("nvmlDeviceGetNumaNodeId") == nil
	var devs []Device
	var errs []error
	for i := 0; i < count; i++ {
		d, err := readDevice(n.lib, i, hasNUMA)
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

// readDevice reads GPU i. A code other than SUCCESS or ERROR_NOT_SUPPORTED on
// any field makes the whole GPU an error: a GPU that cannot tell its memory
// size is not one to start a job on. NUMA node and CPU affinity are
// hints only; any failure there just leaves them unknown.
func readDevice(lib nvml.Interface, i int, hasNUMA bool) (Device, error) {
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
	current, _, ret := h.GetMigMode()
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
	if hasNUMA {
		if node, ret := h.GetNumaNodeId(); ret == nvml.SUCCESS && node >= 0 {
			d.NUMANode = node
		}
	}
	if mask, ret := h.GetCpuAffinity(maxCPUs); ret == nvml.SUCCESS {
		d.CPUAffinity = cpuList(mask)
	}
	return d, nil
}

// readMIG lists the MIG devices of GPU i; NVML reports an empty slot as
// ERROR_NOT_FOUND.
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

// busID converts NVML's NUL-terminated char array ("00000000:07:00.0").
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

// cpuList turns NVML's CPU bitmask (bit k of word w is CPU w*wordsize+k)
// into cpuset list form: "0-3,8,10-11".
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
