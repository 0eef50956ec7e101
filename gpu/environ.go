package gpu

import "strings"

// noGPUContainer is NVIDIA_VISIBLE_DEVICES for a task without GPUs: unlike
// "void", "none" still mounts the driver libraries, so CUDA-linked imports
// (torch, tensorrt_llm) in server and benchmark roles still load.
const noGPUContainer = "none"

// hideAll sets the variables for a task without GPUs.
func (d *Decision) hideAll() {
	d.Set[EnvCUDAVisible] = ""
	d.Set[EnvNvidiaVisible] = noGPUContainer
}

// bind sets the variables for the chosen GPUs. NVIDIA_VISIBLE_DEVICES gets
// UUIDs only here: indices in another space than the host's would select
// the wrong GPUs (containerWithoutNVML handles Slurm's host indices).
func (d *Decision) bind(chosen []string, byUUID bool) {
	d.Devices = chosen
	list := strings.Join(chosen, ",")
	d.Set[EnvCUDAVisible] = list
	d.Set[EnvCUDADeviceOrder] = "PCI_BUS_ID"
	switch {
	case byUUID && len(chosen) == 0:
		d.Set[EnvNvidiaVisible] = noGPUContainer
	case byUUID:
		d.Set[EnvNvidiaVisible] = list
	}
}

// unsetOrdinal removes Slurm's index copy of the binding Decide replaces.
func (d *Decision) unsetOrdinal(r restrictions) {
	if r.ordinal {
		d.Unset = append(d.Unset, EnvGPUOrdinal)
	}
}

func allUUIDs(ids []string) bool {
	for _, id := range ids {
		if !strings.HasPrefix(id, "GPU-") && !strings.HasPrefix(id, "MIG-") {
			return false
		}
	}
	return len(ids) > 0
}
