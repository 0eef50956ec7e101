package junitmerge

import (
	"os"
	"strings"
	"testing"

	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// A task with GPU telemetry gets a GPU line in the summary, a warning per
// fault, and the summary as properties of its suite; a task whose
// telemetry is missing gets no line, only the reason as a property.
func TestGPUTelemetryInResults(t *testing.T) {
	w := newTestWorkspace(t, step(jobspec.RoleWorker, 2, true))
	gpuRec := func(g *workspace.GPUSummary) recMod { return func(r *workspace.TaskRecord) { r.GPU = g } }
	w.record(rec(jobspec.RoleWorker, 0, workspace.StateExited, 0, gpuRec(&workspace.GPUSummary{
		Samples: 12, PeakMemUsed: 3 << 30, UtilMean: 44.5, UtilMax: 97, TempMaxC: 71,
		ClockEvents: []string{"sw_power_cap"}, XIDs: []uint64{79},
		Faults: []string{"XID 79 on GPU 1 (GPU-b)"},
	})))
	w.record(rec(jobspec.RoleWorker, 1, workspace.StateExited, 0, gpuRec(&workspace.GPUSummary{Missing: "NVML unavailable"})))
	w.junit(jobspec.RoleWorker, 0, junitPass)
	w.junit(jobspec.RoleWorker, 1, junitPass)

	rep, err := MergeWorkspace(w.ws, w.opts())
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"WORKER rank 0: peak memory 3.0 GiB, utilization 44% mean, 97% max, 71 °C max, clock events sw_power_cap, XID 79\n",
		"warning: GPU fault in WORKER rank 0: XID 79 on GPU 1 (GPU-b)\n",
	} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, &table)
		}
	}
	if strings.Contains(table.String(), "WORKER rank 1:") {
		t.Errorf("a task without telemetry has a GPU line:\n%s", &table)
	}
	md, _ := os.ReadFile(w.ws.Summary())
	if !strings.Contains(string(md), "**GPU fault** in `WORKER rank 0`") {
		t.Errorf("summary.md lacks the fault:\n%s", md)
	}
	xml, _ := os.ReadFile(w.ws.Results())
	for _, want := range []string{
		`<property name="noderun.gpu.xids" value="79">`,
		`<property name="noderun.gpu.util_max_pct" value="97">`,
		`<property name="noderun.gpu.telemetry" value="telemetry/WORKER/rank0.jsonl">`,
		`<property name="noderun.gpu.missing" value="NVML unavailable">`,
	} {
		if !strings.Contains(string(xml), want) {
			t.Errorf("results.xml lacks %s", want)
		}
	}
	validateSchema(t, w.ws.Results())
}
