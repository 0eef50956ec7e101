package junitmerge

import (
	"fmt"
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

// Many tasks: one line per role, task lines only for faults and thermal or
// power throttling, at most maxGroupTasks of them, and a count of the rest.
func TestGPUSectionIsBounded(t *testing.T) {
	const tasks = 40
	w := newTestWorkspace(t, step(jobspec.RoleWorker, tasks, true))
	for k := range tasks {
		g := &workspace.GPUSummary{Samples: 5, UtilMean: 50, UtilMax: 90, TempMaxC: 60, ClockEvents: []string{"sw_power_cap"}}
		switch {
		case k%4 == 1: // a fault: 10 tasks
			g.XIDs, g.XIDCount, g.Faults = []uint64{79}, 37, []string{"XID 79 on GPU 0 (GPU-a) ×37"}
		case k%4 == 2: // thermal throttling: 10 tasks
			g.ClockEvents = append(g.ClockEvents, "hw_thermal_slowdown")
		}
		w.record(rec(jobspec.RoleWorker, k, workspace.StateExited, 0, func(r *workspace.TaskRecord) { r.GPU = g }))
		w.junit(jobspec.RoleWorker, k, junitPass)
	}
	rep, err := MergeWorkspace(w.ws, w.opts())
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	out := table.String()
	for _, want := range []string{
		"  WORKER: 40 task(s), peak memory 0.0 GiB, utilization 50% mean, 90% max, 60 °C max, 10 with GPU faults, 10 throttled\n",
		"  WORKER rank 1: peak memory 0.0 GiB, utilization 50% mean, 90% max, 60 °C max, clock events sw_power_cap, XID 79 (37 events)\n",
		"  and 12 more task(s) with GPU faults or throttling",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "  WORKER rank "); n != maxGroupTasks {
		t.Errorf("%d task lines, want %d:\n%s", n, maxGroupTasks, out)
	}
	if n := strings.Count(out, "warning: GPU fault"); n > maxGroupTasks {
		t.Errorf("%d fault warnings, want at most %d", n, maxGroupTasks)
	}
	if strings.Contains(out, "WORKER rank 0:") {
		t.Errorf("a healthy task has a line:\n%s", out)
	}
	// Faulted tasks (ranks 1, 5, 9, …) take the lines before throttled ones.
	for _, k := range []int{1, 5, 9, 13, 17, 21, 25, 29} {
		if !strings.Contains(out, fmt.Sprintf("  WORKER rank %d: ", k)) {
			t.Errorf("faulted rank %d has no line though throttled ranks do:\n%s", k, out)
		}
	}
	if strings.Contains(out, "WORKER rank 2: ") {
		t.Errorf("a throttled task took the line of a faulted one:\n%s", out)
	}
}
