package gpu

import "strings"

// noGPUContainer is NVIDIA_VISIBLE_DEVICES for a task without GPUs. "none"
// (not "void"): the container runtime then mounts the driver libraries but
// no device, so a server or benchmark role that imports CUDA-linked Python
// packages (torch, tensorrt_llm) still starts, and sees no GPU — as
// CUDA_VISIBLE_DEVICES="" says for CUDA. "void" would make a container
// without libcuda, and such imports fail. The variable only matters for a
// container created from the task's environment; CUDA_VISIBLE_DEVICES is
// what hides the GPUs from a process already inside one.
const noGPUContainer = "none"

// hideAll sets the variables for a task without GPUs.
func (d *Decision) hideAll() {
	d.Set[EnvCUDAVisible] = ""
	d.Set[EnvNvidiaVisible] = noGPUContainer
}

// bind sets the variables for the chosen GPUs. NVIDIA_VISIBLE_DEVICES is set
// only when chosen are UUIDs (byUUID): indices there would be read in the
// host's numbering by a container runtime.
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
