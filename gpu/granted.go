package gpu

// restrictions are the visible-devices variables set in the environment.
type restrictions struct {
	slurm     *Visible // SLURM_STEP_GPUS, else SLURM_JOB_GPUS
	cuda      *Visible // CUDA_VISIBLE_DEVICES, else GPU_DEVICE_ORDINAL
	container *Visible // NVIDIA_VISIBLE_DEVICES
	ordinal   bool     // GPU_DEVICE_ORDINAL is set
}

// readRestrictions parses also the variables a higher one overrides:
// garbage anywhere is a configuration error worth stopping for.
func readRestrictions(lookup func(string) (string, bool)) (restrictions, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	var r restrictions
	get := func(name string) (*Visible, error) {
		val, ok := lookup(name)
		if !ok {
			return nil, nil
		}
		v, err := ParseVisible(name, val)
		if err != nil {
			return nil, err
		}
		return &v, nil
	}
	first := func(names ...string) (*Visible, error) {
		var found *Visible
		for _, n := range names {
			v, err := get(n)
			if err != nil {
				return nil, err
			}
			if found == nil {
				found = v
			}
		}
		return found, nil
	}
	var err error
	if r.slurm, err = first(EnvSlurmStepGPUs, EnvSlurmJobGPUs); err != nil {
		return r, err
	}
	if r.cuda, err = first(EnvCUDAVisible, EnvGPUOrdinal); err != nil {
		return r, err
	}
	if r.container, err = get(EnvNvidiaVisible); err != nil {
		return r, err
	}
	_, r.ordinal = lookup(EnvGPUOrdinal)
	return r, nil
}

// taskBound reports that Slurm bound this task to part of the step's GPUs.
func (r restrictions) taskBound(cudaLen, slurmLen int) bool {
	return r.cuda != nil && r.slurm != nil && !r.cuda.All && !r.slurm.All && cudaLen < slurmLen
}

// appliedByRuntime reports an index list the container runtime already
// applied: its indices are the host's, so one lies past NVML's last.
func appliedByRuntime(v *Visible, gpus int) bool {
	if !v.isIndexList() || len(v.Tokens) != gpus {
		return false
	}
	for _, t := range v.Tokens {
		if t.Index >= gpus {
			return true
		}
	}
	return false
}

func (v *Visible) tokensOrNil() []Token {
	if v == nil {
		return nil
	}
	return v.Tokens
}
