package gpu

import "errors"

// Inventory lists the GPUs of this node. The NVML backend (NewNVML, Open)
// asks the driver; Fake simulates GPUs for `submit --local`.
type Inventory interface {
	// Devices returns the GPUs in NVML index order (PCI bus order). A device
	// NVML fails on is left out and reported in the error (an *NVMLError,
	// several joined with errors.Join), next to the devices that answered:
	// the caller decides whether a broken GPU is fatal (Decide's precheck).
	Devices() ([]Device, error)
	// Source names the backend for logs and Decision.Source: "nvml" or "fake".
	Source() string
}

// Device is one physical GPU as NVML reports it.
type Device struct {
	// Index is NVML's index: PCI bus order, 0-based. Inside a container or a
	// device cgroup it counts only the GPUs visible there.
	Index int `json:"index"`
	// UUID is "GPU-<uuid>", the only name that is the same in every index space.
	UUID     string `json:"uuid"`
	PCIBusID string `json:"pci_bus_id,omitempty"`
	Name     string `json:"name,omitempty"`
	// MemoryBytes is the total framebuffer memory (0: not reported).
	MemoryBytes uint64 `json:"memory_bytes"`
	// Minor is N of /dev/nvidiaN, the same inside and outside a device cgroup
	// (-1: not reported).
	Minor int `json:"minor"`
	// MIGEnabled is the current MIG mode. With MIG on, CUDA can only use the
	// MIG devices, so these (not the GPU) are what Decide hands out.
	MIGEnabled bool        `json:"mig_enabled"`
	MIG        []MIGDevice `json:"mig,omitempty"`
	// NUMANode is the GPU's NUMA node (-1: unknown, or not supported by the driver).
	NUMANode int `json:"numa_node"`
	// CPUAffinity lists the CPUs close to the GPU in cpuset form, e.g.
	// "0-15,32-47" (empty: unknown).
	CPUAffinity string `json:"cpu_affinity,omitempty"`
}

// MIGDevice is one MIG device (a GPU instance + compute instance pair).
type MIGDevice struct {
	// UUID is "MIG-<uuid>" (drivers since R470).
	UUID string `json:"uuid"`
	// GI and CI are the GPU instance and compute instance ids, which the
	// older "MIG-GPU-<gpu uuid>/<gi>/<ci>" form uses.
	GI int `json:"gi"`
	CI int `json:"ci"`
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

// Values of Decision.Source besides an inventory's Source().
const (
	// SourceNone: mode none, no GPU at all.
	SourceNone = "none"
	// SourcePassthrough: no inventory and no variable that lists GPUs; the
	// environment is left as it is.
	SourcePassthrough = "passthrough"
	// SourceSlurmPrefix + variable: no inventory; the GPUs Slurm assigned
	// (SLURM_STEP_GPUS, SLURM_JOB_GPUS).
	SourceSlurmPrefix = "slurm:"
	// SourceEnvPrefix + variable: no inventory; the GPUs CUDA_VISIBLE_DEVICES
	// or GPU_DEVICE_ORDINAL list (set by Slurm's gres plugin, or by hand).
	SourceEnvPrefix = "env:"
)

// Sentinel errors; the returned errors wrap them with the details.
var (
	// ErrUnavailable: NVML cannot be used here (no driver, no library, no
	// permission). Callers fall back to Decide(nil, ...).
	ErrUnavailable = errors.New("NVML unavailable")
	// ErrPrecheck: the node has fewer GPUs than the spec expects, or NVML
	// failed on one of them.
	ErrPrecheck = errors.New("GPU precheck failed")
	// ErrNotEnoughGPUs: mode task cannot give this local rank its share.
	ErrNotEnoughGPUs = errors.New("not enough GPUs")
	// ErrInvalidDevices: a visible-devices variable holds a value that is
	// not one of the accepted forms (see ParseVisible).
	ErrInvalidDevices = errors.New("invalid visible-devices value")
	// ErrInvalidRequest: a Request field is out of range (a caller's bug or
	// a bad flag).
	ErrInvalidRequest = errors.New("invalid GPU request")
)
