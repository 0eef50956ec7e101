package gpu

import "errors"

// Inventory lists the GPUs of this node: NVML (Open) or simulated (Fake).
type Inventory interface {
	// Devices returns the GPUs in NVML index order; those NVML fails on are
	// left out and reported in the error, for the caller to judge.
	Devices() ([]Device, error)
	Source() string // "nvml" or "fake"
}

// Device is one GPU as NVML reports it (-1, 0, "": not reported).
type Device struct {
	Index       int    `json:"index"` // NVML's: PCI bus order among the GPUs visible here
	UUID        string `json:"uuid"`
	PCIBusID    string `json:"pci_bus_id,omitempty"`
	Name        string `json:"name,omitempty"`
	MemoryBytes uint64 `json:"memory_bytes"`
	Minor       int    `json:"minor"` // N of /dev/nvidiaN, the same inside a cgroup
	// With MIG on, CUDA can use only the MIG devices, so Decide hands out those.
	MIGEnabled  bool        `json:"mig_enabled"`
	MIG         []MIGDevice `json:"mig,omitempty"`
	NUMANode    int         `json:"numa_node"`
	CPUAffinity string      `json:"cpu_affinity,omitempty"` // cpuset form, "0-15,32-47"
}

// MIGDevice is one MIG device: a GPU instance and compute instance pair.
type MIGDevice struct {
	UUID string `json:"uuid"` // "MIG-<uuid>"
	GI   int    `json:"gi"`
	CI   int    `json:"ci"`
}

// Environment variables Decide reads and writes.
const (
	EnvNvidiaVisible   = "NVIDIA_VISIBLE_DEVICES"
	EnvCUDAVisible     = "CUDA_VISIBLE_DEVICES"
	EnvCUDADeviceOrder = "CUDA_DEVICE_ORDER"
	EnvGPUOrdinal      = "GPU_DEVICE_ORDINAL"
	EnvSlurmStepGPUs   = "SLURM_STEP_GPUS"
	EnvSlurmJobGPUs    = "SLURM_JOB_GPUS"
)

// Values of Decision.Source besides an inventory's: mode none, nothing to
// decide from, or the variable the GPUs came from without an inventory.
const (
	SourceNone        = "none"
	SourcePassthrough = "passthrough"
	SourceSlurmPrefix = "slurm:"
	SourceEnvPrefix   = "env:"
)

// Sentinel errors; the returned errors wrap them with the details.
var (
	ErrUnavailable    = errors.New("NVML unavailable") // callers fall back to Decide(nil, …)
	ErrPrecheck       = errors.New("GPU precheck failed")
	ErrNotEnoughGPUs  = errors.New("not enough GPUs") // for this local rank's share
	ErrInvalidDevices = errors.New("invalid visible-devices value")
	ErrInvalidRequest = errors.New("invalid GPU request")
)
