package e2e

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/nvmlstandin"
	"github.com/noderun/noderun/internal/workspace"
)

// Real Slurm with the stand-in libnvidia-ml.so.1 on LD_LIBRARY_PATH: the
// workers find their GPUs through the release binary's NVML path, are bound
// by UUID to the GPUs Slurm gave the step, and sample them.
func TestLabTelemetryWithStandinNVML(t *testing.T) {
	lt := requireLab(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lib := nvmlstandin.BuildT(t)
	j := newJob(t, lt, "agg-tiny.yaml", "--server-name", "tiny_tp4", "--test-prefix", "aggr", "--gpu-sample", "200ms")
	j.env = append(j.env, "LD_LIBRARY_PATH="+lib, "NVMLSTANDIN_GPUS=4", "NVMLSTANDIN_UTIL=20,60", "EXAMPLE_SLEEP=2")
	if code := j.run(ctx); code != 0 {
		t.Fatalf("noderun submit --wait exited %d, want 0", code)
	}
	spec := j.spec()
	recs := j.records(spec)
	for _, k := range expectedTasks(spec) {
		rec := recs[k]
		if rec == nil {
			t.Fatalf("task %s: no record", k)
		}
		// NVML shows the node's 4 GPUs; the task gets the job's share of
		// them, which only Slurm's grant can have narrowed it to, by UUID.
		v := j.view(k)
		if len(rec.GPUs) != spec.GPU.PerNode || spec.GPU.PerNode >= 4 || v == nil || deref(v.CUDAVisible) != strings.Join(rec.GPUs, ",") ||
			slices.ContainsFunc(rec.GPUs, func(u string) bool { return !strings.HasPrefix(u, "GPU-5a1d0000-") }) {
			t.Errorf("task %s: GPUs %v, child saw CUDA_VISIBLE_DEVICES=%s; want %d stand-in GPUs by UUID", k, rec.GPUs, deref(v.CUDAVisible), spec.GPU.PerNode)
		}
		if g := rec.GPU; g == nil || g.Samples == 0 || g.UtilMax != 60 || g.Missing != "" {
			t.Errorf("task %s: GPU summary %+v", k, rec.GPU)
		}
		if _, err := os.Stat(j.ws.Telemetry(k.role, k.rank)); err != nil {
			t.Errorf("task %s: %v", k, err)
		}
	}
	// The report draws each task's GPUs: a utilization and a memory line per GPU.
	if dom := j.checkReport(ctx, spec, workspace.OutcomePassed, ""); dom != "" {
		for _, k := range expectedTasks(spec) {
			re := regexp.MustCompile(`(?s)<div class="gpu" data-task="` + regexp.QuoteMeta(k.role+"/"+strconv.Itoa(k.rank)) + `">.*?</div>\s*</div>`)
			if n := strings.Count(re.FindString(dom), "<polyline"); n != 2*spec.GPU.PerNode {
				t.Errorf("report.html: task %s has %d chart lines, want 2 per GPU (%d)", k, n, 2*spec.GPU.PerNode)
			}
		}
	}
	j.checkNoOrphans(ctx)
}
