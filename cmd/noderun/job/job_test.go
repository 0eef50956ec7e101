package job

import "testing"

// `noderun job` run by hand must not overwrite a finished job's results:
// only the batch step of a job passes.
func TestInBatchStep(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"batch step", map[string]string{"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "n[1-2]"}, true},
		{"outside Slurm", map[string]string{}, false},
		// Inside an srun step or salloc's interactive step of some job.
		{"another step", map[string]string{"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "n1", "SLURM_STEP_ID": "0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := inBatchStep(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if (err == nil) != tc.ok {
				t.Errorf("inBatchStep = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
