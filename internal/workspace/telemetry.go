package workspace

import "time"

// GPUSample is one line of a task's telemetry file: one reading of one GPU,
// or one event (XID) on it. A value NVML could not give is absent.
type GPUSample struct {
	Time  time.Time `json:"time"`
	UUID  string    `json:"uuid"`
	Index int       `json:"index"`
	// Utilization of the GPU and of its memory, in percent.
	GPUUtil *uint32 `json:"gpu_util_pct,omitempty"`
	MemUtil *uint32 `json:"mem_util_pct,omitempty"`
	// MemUsed and MemTotal are in bytes.
	MemUsed  *uint64  `json:"mem_used_bytes,omitempty"`
	MemTotal *uint64  `json:"mem_total_bytes,omitempty"`
	PowerW   *float64 `json:"power_w,omitempty"`
	TempC    *uint32  `json:"temp_c,omitempty"`
	SMClock  *uint32  `json:"sm_clock_mhz,omitempty"`
	// ClockEvents are the active clock-event (throttle) reasons by name,
	// e.g. "sw_power_cap", "hw_thermal_slowdown".
	ClockEvents []string `json:"clock_events,omitempty"`
	// ECC errors since the driver loaded (volatile counters).
	ECCCorrected   *uint64 `json:"ecc_corrected,omitempty"`
	ECCUncorrected *uint64 `json:"ecc_uncorrected,omitempty"`
	// XID is set on an event line: the XID the driver reported.
	XID uint64 `json:"xid,omitempty"`
}

// GPUSummary is a task's telemetry in brief, kept in its record.
type GPUSummary struct {
	Samples     int      `json:"samples"`
	PeakMemUsed uint64   `json:"peak_mem_used_bytes"`
	UtilMean    float64  `json:"gpu_util_mean_pct"`
	UtilMax     uint32   `json:"gpu_util_max_pct"`
	TempMaxC    uint32   `json:"temp_max_c"`
	ClockEvents []string `json:"clock_events,omitempty"`
	// XIDs are the distinct XIDs seen during the task, in order of first
	// sight; XIDCount counts the events.
	XIDs     []uint64 `json:"xids,omitempty"`
	XIDCount int      `json:"xid_count,omitempty"`
	// ECCUncorrected counts uncorrected ECC errors that arose during the task.
	ECCUncorrected uint64 `json:"ecc_uncorrected"`
	// Faults describe the GPU faults (an XID, uncorrected ECC errors) in
	// phrases naming the GPU, one per GPU and XID with its count ("XID 79
	// on GPU 0 (GPU-…) ×37"), at most 8; empty when the GPUs stayed healthy.
	Faults []string `json:"faults,omitempty"`
	// Missing says why there is no telemetry (no NVML, disabled), if so.
	Missing string `json:"missing,omitempty"`
}
