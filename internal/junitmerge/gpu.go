package junitmerge

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/noderun/noderun/internal/workspace"
)

// GPULine is one task's GPU telemetry in brief, or one role's, for the summary.
type GPULine struct {
	// Task is "ROLE rank K", or "ROLE" for a role's line.
	Task string
	Text string
	// Faults are the GPU faults during the task (XIDs, uncorrected ECC errors).
	Faults []string
}

// GPUSection is the summary's GPU lines: one per role, and one per task
// worth reading (a GPU fault, thermal or power throttling), at most
// maxGroupTasks of them: at 1,024 tasks a line each would bury the rest.
type GPUSection struct {
	Roles []GPULine
	Tasks []GPULine
	// Unlisted counts the tasks worth reading that Tasks leaves out.
	Unlisted int
}

// throttleEvents are the clock events that slow a healthy GPU down for a
// reason worth reading; sw_power_cap is a busy GPU's steady state.
var throttleEvents = []string{"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"}

// notable reports whether a task's GPU line is worth reading.
func notable(g *workspace.GPUSummary) bool {
	return len(g.Faults) > 0 || slices.ContainsFunc(g.ClockEvents, func(e string) bool { return slices.Contains(throttleEvents, e) })
}

// gpuSection sums up the GPU telemetry of the tasks that have it, in role
// and rank order; of the tasks worth a line, those with GPU faults come
// first, then the throttled ones, maxGroupTasks in all.
func (b *wsBuild) gpuSection() GPUSection {
	var sec GPUSection
	var faultedLines, throttledLines []GPULine
	for _, role := range b.roles() {
		var agg workspace.GPUSummary
		var tasks, faulted, throttled int
		var utilSum float64
		for _, t := range b.sortedTasks(role) {
			if t.rec == nil || t.rec.GPU == nil || t.rec.GPU.Samples == 0 {
				continue
			}
			g := t.rec.GPU
			tasks++
			agg.PeakMemUsed = max(agg.PeakMemUsed, g.PeakMemUsed)
			agg.UtilMax = max(agg.UtilMax, g.UtilMax)
			agg.TempMaxC = max(agg.TempMaxC, g.TempMaxC)
			utilSum += g.UtilMean
			if len(g.Faults) > 0 {
				faulted++
			}
			if !notable(g) {
				continue
			}
			line := GPULine{Task: fmt.Sprintf("%s rank %d", t.role, t.rank), Text: GPUText(g), Faults: g.Faults}
			if len(g.Faults) > 0 {
				faultedLines = append(faultedLines, line)
			} else {
				throttled++
				throttledLines = append(throttledLines, line)
			}
		}
		if tasks == 0 {
			continue
		}
		text := fmt.Sprintf("%d task(s), peak memory %.1f GiB, utilization %.0f%% mean, %d%% max, %d °C max",
			tasks, float64(agg.PeakMemUsed)/(1<<30), utilSum/float64(tasks), agg.UtilMax, agg.TempMaxC)
		if faulted > 0 {
			text += fmt.Sprintf(", %d with GPU faults", faulted)
		}
		if throttled > 0 {
			text += fmt.Sprintf(", %d throttled", throttled)
		}
		sec.Roles = append(sec.Roles, GPULine{Task: role, Text: text})
	}
	all := append(faultedLines, throttledLines...)
	sec.Tasks = all[:min(len(all), maxGroupTasks)]
	sec.Unlisted = len(all) - len(sec.Tasks)
	return sec
}

// UnlistedLine says how many tasks worth reading the summary leaves out.
func (s GPUSection) UnlistedLine() string {
	return fmt.Sprintf("and %d more task(s) with GPU faults or throttling: see their noderun.gpu.* properties in results.xml", s.Unlisted)
}

// GPUText is "peak memory 30.0 GiB, utilization 45% mean, 98% max, 71 °C max, ...".
func GPUText(g *workspace.GPUSummary) string {
	parts := []string{
		fmt.Sprintf("peak memory %.1f GiB", float64(g.PeakMemUsed)/(1<<30)),
		fmt.Sprintf("utilization %.0f%% mean, %d%% max", g.UtilMean, g.UtilMax),
		fmt.Sprintf("%d °C max", g.TempMaxC),
	}
	if len(g.ClockEvents) > 0 {
		parts = append(parts, "clock events "+strings.Join(g.ClockEvents, ", "))
	}
	if len(g.XIDs) > 0 {
		xids := "XID " + joinUints(g.XIDs)
		if g.XIDCount > len(g.XIDs) {
			xids += fmt.Sprintf(" (%d events)", g.XIDCount)
		}
		parts = append(parts, xids)
	}
	if g.ECCUncorrected > 0 {
		parts = append(parts, fmt.Sprintf("%d uncorrected ECC errors", g.ECCUncorrected))
	}
	return strings.Join(parts, ", ")
}

// gpuProperties put a task's GPU summary on its suites.
func gpuProperties(g *workspace.GPUSummary, telemetry string) []Property {
	if g == nil {
		return nil
	}
	if g.Samples == 0 {
		if g.Missing == "" {
			return nil
		}
		return []Property{{Name: "noderun.gpu.missing", Value: cleanText(g.Missing)}}
	}
	props := []Property{
		{Name: "noderun.gpu.telemetry", Value: cleanText(telemetry)},
		{Name: "noderun.gpu.samples", Value: strconv.Itoa(g.Samples)},
		{Name: "noderun.gpu.peak_mem_bytes", Value: strconv.FormatUint(g.PeakMemUsed, 10)},
		{Name: "noderun.gpu.util_mean_pct", Value: strconv.FormatFloat(g.UtilMean, 'f', 1, 64)},
		{Name: "noderun.gpu.util_max_pct", Value: strconv.FormatUint(uint64(g.UtilMax), 10)},
		{Name: "noderun.gpu.temp_max_c", Value: strconv.FormatUint(uint64(g.TempMaxC), 10)},
		{Name: "noderun.gpu.ecc_uncorrected", Value: strconv.FormatUint(g.ECCUncorrected, 10)},
	}
	if len(g.ClockEvents) > 0 {
		props = append(props, Property{Name: "noderun.gpu.clock_events", Value: cleanText(strings.Join(g.ClockEvents, ","))})
	}
	if len(g.XIDs) > 0 {
		props = append(props, Property{Name: "noderun.gpu.xids", Value: joinUints(g.XIDs)})
	}
	if g.XIDCount > 0 {
		props = append(props, Property{Name: "noderun.gpu.xid_count", Value: strconv.Itoa(g.XIDCount)})
	}
	if len(g.Faults) > 0 {
		props = append(props, Property{Name: "noderun.gpu.faults", Value: cleanText(strings.Join(g.Faults, "; "))})
	}
	return props
}

func joinUints(v []uint64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatUint(x, 10)
	}
	return strings.Join(s, ",")
}
