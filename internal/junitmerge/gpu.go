package junitmerge

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/noderun/noderun/internal/workspace"
)

// GPULine is one task's GPU telemetry in brief, for the summary.
type GPULine struct {
	// Task is "ROLE rank K".
	Task string
	Text string
	// Faults are the GPU faults during the task (XIDs, uncorrected ECC errors).
	Faults []string
}

// gpuLines are the GPU lines of the tasks that have telemetry, in role and rank order.
func (b *wsBuild) gpuLines() []GPULine {
	var lines []GPULine
	for _, role := range b.roles() {
		for _, t := range b.sortedTasks(role) {
			if t.rec == nil || t.rec.GPU == nil || t.rec.GPU.Samples == 0 {
				continue
			}
			lines = append(lines, GPULine{Task: fmt.Sprintf("%s rank %d", t.role, t.rank),
				Text: gpuText(t.rec.GPU), Faults: t.rec.GPU.Faults})
		}
	}
	return lines
}

// gpuText is "peak memory 30.0 GiB, utilization 45% mean, 98% max, 71 °C max, ...".
func gpuText(g *workspace.GPUSummary) string {
	parts := []string{
		fmt.Sprintf("peak memory %.1f GiB", float64(g.PeakMemUsed)/(1<<30)),
		fmt.Sprintf("utilization %.0f%% mean, %d%% max", g.UtilMean, g.UtilMax),
		fmt.Sprintf("%d °C max", g.TempMaxC),
	}
	if len(g.ClockEvents) > 0 {
		parts = append(parts, "clock events "+strings.Join(g.ClockEvents, ", "))
	}
	if len(g.XIDs) > 0 {
		parts = append(parts, "XID "+joinUints(g.XIDs))
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
