package gpu

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/noderun/noderun/internal/workspace"
)

// Telemetry reads the live state of a task's GPUs.
type Telemetry interface {
	// Sample reads each GPU once; what NVML cannot give stays nil. It
	// reads no further GPU once ctx is done.
	Sample(ctx context.Context, now time.Time) []workspace.GPUSample
	// WaitEvent waits up to timeout for an XID on one of the GPUs. When
	// NVML fails the wait it still takes the timeout, and says why.
	WaitEvent(timeout time.Duration) (workspace.GPUSample, bool, error)
	// Missing names the NVML functions the driver lacks; Sample and
	// WaitEvent do without them.
	Missing() []string
	// Close frees the telemetry. Call it only once no call of it is running:
	// the event set must not be freed under a wait.
	Close()
}

// TelemetrySource opens the telemetry of the GPUs a task was given, by
// UUID; a MIG device is read through its parent GPU. While a telemetry is
// open (or opening) the inventory's close leaves NVML initialised: a reader
// may still be inside a call.
type TelemetrySource interface {
	OpenTelemetry(devices []string) (Telemetry, error)
}

// ErrNoTelemetryGPU is returned when no given device is a GPU NVML shows.
var ErrNoTelemetryGPU = errors.New("no GPU of the task is known to NVML")

// The functions telemetry calls, each looked up before its first call.
const (
	symUtil          = "nvmlDeviceGetUtilizationRates"
	symPower         = "nvmlDeviceGetPowerUsage"
	symTemp          = "nvmlDeviceGetTemperature"
	symClock         = "nvmlDeviceGetClockInfo"
	symClockEvents   = "nvmlDeviceGetCurrentClocksEventReasons"
	symThrottle      = "nvmlDeviceGetCurrentClocksThrottleReasons" // before R535
	symECC           = "nvmlDeviceGetTotalEccErrors"
	symEventCreate   = "nvmlEventSetCreate"
	symEventRegister = "nvmlDeviceRegisterEvents"
	symEventWait     = "nvmlEventSetWait_v2"
	symEventWaitV1   = "nvmlEventSetWait"
	symEventFree     = "nvmlEventSetFree"
)

// clockEventNames name NVML's clock-event (throttle) reason bits.
var clockEventNames = []struct {
	bit  uint64
	name string
}{
	{nvml.ClocksEventReasonGpuIdle, "gpu_idle"},
	{nvml.ClocksEventReasonApplicationsClocksSetting, "applications_clocks_setting"},
	{nvml.ClocksEventReasonSwPowerCap, "sw_power_cap"},
	{0x8, "hw_slowdown"},
	{nvml.ClocksEventReasonSyncBoost, "sync_boost"},
	{0x20, "sw_thermal_slowdown"},
	{0x40, "hw_thermal_slowdown"},
	{0x80, "hw_power_brake_slowdown"},
	{0x100, "display_clock_setting"},
}

// ClockEventNames turns NVML's clock-event reason bitmask into names.
func ClockEventNames(mask uint64) []string {
	var names []string
	for _, e := range clockEventNames {
		if mask&e.bit != 0 {
			names = append(names, e.name)
			mask &^= e.bit
		}
	}
	if mask != 0 {
		names = append(names, fmt.Sprintf("0x%x", mask))
	}
	return names
}

type telemetryGPU struct {
	index int
	uuid  string
	h     nvml.Device
}

type nvmlTelemetry struct {
	inv     *nvmlInventory
	closed  sync.Once
	gpus    []telemetryGPU
	sym     *symbols
	set     nvml.EventSet // nil: no XID events
	missing []string
}

// OpenTelemetry implements TelemetrySource.
func (n *nvmlInventory) OpenTelemetry(devices []string) (tel Telemetry, err error) {
	n.users.Add(1)
	defer func() {
		if err != nil {
			n.users.Add(-1)
		}
	}()
	// One lookup per device, not a fresh inventory: a sick GPU the task was
	// not given must not hold up its telemetry.
	t := &nvmlTelemetry{inv: n, sym: n.sym}
	var errs []error
	for _, uuid := range devices {
		g, err := n.telemetryGPU(uuid)
		if err != nil {
			errs = append(errs, err) // left out, as a GPU NVML fails on is for the task
			continue
		}
		if !slices.ContainsFunc(t.gpus, func(o telemetryGPU) bool { return o.uuid == g.uuid }) {
			t.gpus = append(t.gpus, g)
		}
	}
	if len(t.gpus) == 0 {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoTelemetryGPU, strings.Join(devices, ","), errors.Join(errs...))
	}
	slices.SortFunc(t.gpus, func(a, b telemetryGPU) int { return a.index - b.index })
	for _, s := range []string{symUtil, symPower, symTemp, symClock, symECC} {
		if !n.sym.has(s) {
			t.missing = append(t.missing, s)
		}
	}
	if !n.sym.has(symClockEvents) && !n.sym.has(symThrottle) {
		t.missing = append(t.missing, symClockEvents)
	}
	t.openEvents(n.lib)
	return t, nil
}

// telemetryGPU finds the GPU of a device by its UUID; a MIG device is
// read through its parent GPU.
func (n *nvmlInventory) telemetryGPU(uuid string) (telemetryGPU, error) {
	h, ret := n.lib.DeviceGetHandleByUUID(uuid)
	if ret != nvml.SUCCESS {
		return telemetryGPU{}, &NVMLError{Index: -1, Op: "get handle of " + uuid, Return: ret}
	}
	if strings.HasPrefix(uuid, "MIG-") {
		if h, ret = h.GetDeviceHandleFromMigDeviceHandle(); ret != nvml.SUCCESS {
			return telemetryGPU{}, &NVMLError{Index: -1, Op: "get the parent GPU of " + uuid, Return: ret}
		}
	}
	index, ret := h.GetIndex()
	if ret != nvml.SUCCESS {
		return telemetryGPU{}, &NVMLError{Index: -1, Op: "get index of " + uuid, Return: ret}
	}
	gpuUUID, ret := h.GetUUID()
	if ret != nvml.SUCCESS {
		return telemetryGPU{}, &NVMLError{Index: index, Op: "get UUID", Return: ret}
	}
	return telemetryGPU{index: index, uuid: gpuUUID, h: h}, nil
}

// openEvents registers the GPUs for XID events; without the functions or
// support on any GPU there are no events, which Missing reports.
func (t *nvmlTelemetry) openEvents(lib nvml.Interface) {
	for _, s := range []string{symEventCreate, symEventRegister, symEventFree} {
		if !t.sym.has(s) {
			t.missing = append(t.missing, s)
			return
		}
	}
	if !t.sym.has(symEventWait) && !t.sym.has(symEventWaitV1) {
		t.missing = append(t.missing, symEventWait)
		return
	}
	set, ret := lib.EventSetCreate()
	if ret != nvml.SUCCESS {
		return
	}
	registered := 0
	for _, g := range t.gpus {
		if g.h.RegisterEvents(nvml.EventTypeXidCriticalError, set) == nvml.SUCCESS {
			registered++
		}
	}
	if registered == 0 {
		_ = set.Free()
		return
	}
	t.set = set
}

func (t *nvmlTelemetry) Missing() []string { return t.missing }

func (t *nvmlTelemetry) Sample(ctx context.Context, now time.Time) []workspace.GPUSample {
	out := make([]workspace.GPUSample, 0, len(t.gpus))
	for _, g := range t.gpus {
		if ctx.Err() != nil {
			break
		}
		out = append(out, t.read(g, now))
	}
	return out
}

func (t *nvmlTelemetry) read(g telemetryGPU, now time.Time) workspace.GPUSample {
	s := workspace.GPUSample{Time: now, UUID: g.uuid, Index: g.index}
	if mem, ret := g.h.GetMemoryInfo(); ret == nvml.SUCCESS {
		s.MemUsed, s.MemTotal = &mem.Used, &mem.Total
	}
	if t.sym.has(symUtil) {
		if u, ret := g.h.GetUtilizationRates(); ret == nvml.SUCCESS {
			s.GPUUtil, s.MemUtil = &u.Gpu, &u.Memory
		}
	}
	if t.sym.has(symPower) {
		if mw, ret := g.h.GetPowerUsage(); ret == nvml.SUCCESS {
			w := float64(mw) / 1000
			s.PowerW = &w
		}
	}
	if t.sym.has(symTemp) {
		if c, ret := g.h.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
			s.TempC = &c
		}
	}
	if t.sym.has(symClock) {
		if mhz, ret := g.h.GetClockInfo(nvml.CLOCK_SM); ret == nvml.SUCCESS {
			s.SMClock = &mhz
		}
	}
	var reasons uint64
	ret := nvml.ERROR_NOT_SUPPORTED
	switch {
	case t.sym.has(symClockEvents):
		reasons, ret = g.h.GetCurrentClocksEventReasons()
	case t.sym.has(symThrottle):
		reasons, ret = g.h.GetCurrentClocksThrottleReasons()
	}
	if ret == nvml.SUCCESS {
		s.ClockEvents = ClockEventNames(reasons)
	}
	if t.sym.has(symECC) {
		if n, ret := g.h.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.VOLATILE_ECC); ret == nvml.SUCCESS {
			s.ECCCorrected = &n
		}
		if n, ret := g.h.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC); ret == nvml.SUCCESS {
			s.ECCUncorrected = &n
		}
	}
	return s
}

func (t *nvmlTelemetry) WaitEvent(timeout time.Duration) (workspace.GPUSample, bool, error) {
	if t.set == nil {
		time.Sleep(timeout)
		return workspace.GPUSample{}, false, nil
	}
	start := time.Now()
	e, ret := t.set.Wait(uint32(timeout.Milliseconds()))
	switch {
	case ret == nvml.ERROR_TIMEOUT:
		return workspace.GPUSample{}, false, nil
	case ret != nvml.SUCCESS:
		// A GPU that fell off the bus fails the wait at once (GPU_IS_LOST):
		// the reader would spin on a core.
		time.Sleep(timeout - time.Since(start))
		return workspace.GPUSample{}, false, &NVMLError{Index: -1, Op: "wait for XID events", Return: ret}
	case e.EventType&nvml.EventTypeXidCriticalError == 0:
		return workspace.GPUSample{}, false, nil
	}
	s := workspace.GPUSample{Time: time.Now().UTC(), Index: -1, XID: e.EventData}
	for _, g := range t.gpus {
		if g.h == e.Device {
			s.UUID, s.Index = g.uuid, g.index
		}
	}
	return s, true, nil
}

func (t *nvmlTelemetry) Close() {
	t.closed.Do(func() {
		if t.set != nil {
			_ = t.set.Free()
			t.set = nil
		}
		t.inv.users.Add(-1)
	})
}
