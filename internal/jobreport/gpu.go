package jobreport

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/noderun/noderun/internal/junitmerge"
	"github.com/noderun/noderun/internal/workspace"
)

// Chart geometry, in pixels, and the most points a line keeps: a day-long
// task sampled every 5 s would otherwise put 17,000 points in the page.
const (
	chartWidth  = 420
	chartHeight = 90
	maxPoints   = 240
	// maxReadBytes is how much of a telemetry file is read whole; of a
	// larger one, maxReadLines lines spread over it. The page is written at
	// the end of the job, within Slurm's KillWait: 1,024 day-long tasks
	// hold some 17 million lines.
	maxReadBytes = 1 << 20
	maxReadLines = 4000
	// maxCharted is how many tasks get charts; the others keep their line.
	maxCharted = 32
)

// gpuView is one task's GPUs: its summary and its charts.
type gpuView struct {
	Task    string
	Label   string
	Summary string
	Faults  []string
	Missing string
	Charts  []chart
}

type chart struct {
	Title         string
	Width, Height int
	Top           string // the value at the top of the chart
	Series        []series
	// Events are x positions of XID events.
	Events []float64
}

type series struct {
	Name   string
	Points string
	Color  string
}

// palette tells GPUs apart on one chart.
var palette = []string{"#1565c0", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457", "#4e342e", "#37474f"}

// gpuViews lists the tasks with telemetry; the first maxCharted of them,
// those with GPU faults first, get charts.
func gpuViews(ws workspace.Layout, tasks []junitmerge.TaskRun) (views []gpuView, uncharted int) {
	var faulty, healthy []junitmerge.TaskRun
	for _, t := range tasks {
		if t.Record != nil && t.Record.GPU != nil && len(t.Record.GPU.Faults) > 0 {
			faulty = append(faulty, t)
		} else {
			healthy = append(healthy, t)
		}
	}
	for _, t := range append(faulty, healthy...) {
		var sum *workspace.GPUSummary
		if t.Record != nil {
			sum = t.Record.GPU
		}
		path := ws.Telemetry(t.Role, t.Rank)
		if sum == nil {
			if _, err := os.Stat(path); err != nil {
				continue
			}
		}
		var samples []workspace.GPUSample
		if len(views) < maxCharted {
			samples = readSamples(path)
		} else {
			uncharted++
		}
		if len(samples) == 0 && sum == nil {
			continue
		}
		v := gpuView{Task: t.Role + "/" + strconv.Itoa(t.Rank), Label: fmt.Sprintf("%s rank %d", t.Role, t.Rank)}
		if t.Record != nil && t.Record.Node != "" {
			v.Label += " @ " + t.Record.Node
		}
		if sum != nil {
			v.Summary, v.Faults, v.Missing = summaryLine(sum), sum.Faults, sum.Missing
		}
		v.Charts = charts(samples)
		views = append(views, v)
	}
	return views, uncharted
}

// readSamples reads a telemetry file, or maxReadLines lines spread over a
// large one; a line that does not parse (the last one of a killed task) is
// left out.
func readSamples(path string) []workspace.GPUSample {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil
	}
	var out []workspace.GPUSample
	add := func(line []byte) {
		var s workspace.GPUSample
		if json.Unmarshal(line, &s) == nil && !s.Time.IsZero() {
			out = append(out, s)
		}
	}
	if info.Size() <= maxReadBytes {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			add(sc.Bytes())
		}
		return out
	}
	// The line after each of maxReadLines evenly spaced offsets.
	r := bufio.NewReader(f)
	for i := int64(1); i <= maxReadLines; i++ {
		if _, err := f.Seek(info.Size()*i/(maxReadLines+1), io.SeekStart); err != nil {
			break
		}
		r.Reset(f)
		if _, err := r.ReadBytes('\n'); err != nil { // the rest of a cut line
			break
		}
		line, err := r.ReadBytes('\n')
		if err != nil && len(line) == 0 {
			break
		}
		add(line)
	}
	return out
}

func summaryLine(s *workspace.GPUSummary) string {
	if s.Samples == 0 {
		return ""
	}
	return fmt.Sprintf("%d samples, %s", s.Samples, junitmerge.GPUText(s))
}

// charts draws utilization and memory over the task's samples, one line
// per GPU, with its XID events marked.
func charts(samples []workspace.GPUSample) []chart {
	if len(samples) == 0 {
		return nil
	}
	t0, t1 := samples[0].Time, samples[0].Time
	byGPU := map[string][]workspace.GPUSample{}
	var memTop uint64
	for _, s := range samples {
		if s.Time.Before(t0) {
			t0 = s.Time
		}
		if s.Time.After(t1) {
			t1 = s.Time
		}
		byGPU[s.UUID] = append(byGPU[s.UUID], s)
		if s.MemTotal != nil {
			memTop = max(memTop, *s.MemTotal)
		}
		if s.MemUsed != nil {
			memTop = max(memTop, *s.MemUsed)
		}
	}
	uuids := make([]string, 0, len(byGPU))
	for u := range byGPU {
		uuids = append(uuids, u)
	}
	sort.Slice(uuids, func(i, j int) bool { return byGPU[uuids[i]][0].Index < byGPU[uuids[j]][0].Index })
	total := max(t1.Sub(t0), time.Second)
	x := func(at time.Time) float64 { return float64(at.Sub(t0)) / float64(total) * chartWidth }
	util := chart{Title: "GPU utilization", Width: chartWidth, Height: chartHeight, Top: "100%"}
	mem := chart{Title: "memory used", Width: chartWidth, Height: chartHeight, Top: fmt.Sprintf("%.1f GiB", float64(memTop)/(1<<30))}
	for i, u := range uuids {
		name := fmt.Sprintf("GPU %d (%s)", byGPU[u][0].Index, u)
		color := palette[i%len(palette)]
		var up, mp []string
		readings := byGPU[u]
		stride := max(1, len(readings)/maxPoints)
		for k, s := range readings {
			if s.XID != 0 {
				util.Events = append(util.Events, x(s.Time))
				continue
			}
			if k%stride != 0 {
				continue
			}
			if s.GPUUtil != nil {
				up = append(up, point(x(s.Time), float64(*s.GPUUtil)/100))
			}
			if s.MemUsed != nil && memTop > 0 {
				mp = append(mp, point(x(s.Time), float64(*s.MemUsed)/float64(memTop)))
			}
		}
		if len(up) > 0 {
			util.Series = append(util.Series, series{Name: name, Points: strings.Join(up, " "), Color: color})
		}
		if len(mp) > 0 {
			mem.Series = append(mem.Series, series{Name: name, Points: strings.Join(mp, " "), Color: color})
		}
	}
	mem.Events = util.Events
	return []chart{util, mem}
}

// point places a value (0 to 1 of the chart's top) at x.
func point(x, frac float64) string {
	y := chartHeight - frac*chartHeight
	return strconv.FormatFloat(x, 'f', 1, 64) + "," + strconv.FormatFloat(y, 'f', 1, 64)
}
