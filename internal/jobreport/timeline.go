package jobreport

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/noderun/noderun/internal/junitmerge"
	"github.com/noderun/noderun/internal/workspace"
)

// Geometry of the timeline, in pixels.
const (
	labelWidth = 240
	barsWidth  = 860
	rowHeight  = 18
	axisHeight = 26
	// statusWidth leaves room for the status after the bars.
	statusWidth = 150
)

// Colours are SVG attributes, not CSS: Jenkins serves published HTML
// under a Content-Security-Policy that blocks inline CSS, and the
// timeline must keep its meaning there.
var (
	runFill = map[string]string{
		junitmerge.TaskPassed:               "#43a047",
		junitmerge.TaskRootCause:            "#b71c1c",
		junitmerge.TaskFailed:               "#e53935",
		junitmerge.TaskTimedOut:             "#ef6c00",
		junitmerge.TaskStopped:              "#9e9e9e",
		junitmerge.TaskStoppedAfterDeciding: "#90a4ae",
		junitmerge.TaskNoEnd:                "#6d4c41",
	}
	phaseFill = map[string]string{"setup": "#64b5f6", "fence": "#ffd54f", "stop": "#424242"}
	legend    = []swatch{
		{"node setup", phaseFill["setup"]}, {"start fence", phaseFill["fence"]},
		{"ran, passed", runFill[junitmerge.TaskPassed]}, {"root cause", runFill[junitmerge.TaskRootCause]},
		{"failed", runFill[junitmerge.TaskFailed]}, {"timed out", runFill[junitmerge.TaskTimedOut]},
		{"stopped", runFill[junitmerge.TaskStopped]}, {"stopped after the deciding step", runFill[junitmerge.TaskStoppedAfterDeciding]},
		{"stopping", phaseFill["stop"]}, {"no end recorded (running, or its runner was lost)", runFill[junitmerge.TaskNoEnd]},
		{"no record", "#fff3e0"},
	}
)

type swatch struct{ Name, Fill string }

// timeline is one row per task on a common time axis.
type timeline struct {
	Width, Height int
	// BarsLeft is where time starts, BarsRight where it ends.
	BarsLeft, BarsRight float64
	Start               string
	Span                string
	Ticks               []tick
	Rows                []timelineRow
	Legend              []swatch
}

type tick struct {
	X     float64
	Label string
}

// timelineRow draws one task: a bar over its life and, on it, its phases.
type timelineRow struct {
	Y, TextY float64
	Task     string // "ROLE/rank", a stable handle for tests and tools
	Label    string // "ROLE rank K @ node"
	Class    string // junitmerge.Task*
	Status   string
	Why      string
	X, W     float64
	Phases   []segment
	StatusX  float64
	// Alarm marks a status to read first: the root cause, a failure, a task lost.
	Alarm      bool
	Log, Junit string
}

type segment struct {
	Class string // setup, fence, run, stop
	Fill  string
	X, W  float64
	Title string
}

func newTimeline(ws workspace.Layout, rep *junitmerge.Report) *timeline {
	if len(rep.Tasks) == 0 {
		return nil
	}
	t0, t1 := span(rep)
	total := t1.Sub(t0)
	x := func(at time.Time) float64 {
		if at.IsZero() {
			return labelWidth
		}
		f := float64(at.Sub(t0)) / float64(total)
		return labelWidth + math.Max(0, math.Min(1, f))*barsWidth
	}
	tl := &timeline{
		Width:     labelWidth + barsWidth + statusWidth,
		Height:    axisHeight + rowHeight*len(rep.Tasks) + 4,
		BarsLeft:  labelWidth,
		BarsRight: labelWidth + barsWidth,
		Start:     t0.UTC().Format(time.RFC3339),
		Span:      seconds(total),
		Ticks:     ticks(total, func(d time.Duration) float64 { return x(t0.Add(d)) }),
		Legend:    legend,
	}
	for i, t := range rep.Tasks {
		y := float64(axisHeight + i*rowHeight)
		row := timelineRow{
			Y: y + 2, TextY: y + rowHeight - 5,
			Task:  t.Role + "/" + strconv.Itoa(t.Rank),
			Label: fmt.Sprintf("%s rank %d", t.Role, t.Rank),
			Class: t.Class, Status: statusOf(t), Why: t.Why,
			Alarm: t.Class != junitmerge.TaskPassed && t.Class != junitmerge.TaskStopped && t.Class != junitmerge.TaskStoppedAfterDeciding,
			Log:   link(ws, ws.TaskLog(t.Role, t.Rank)),
			Junit: link(ws, ws.Junit(t.Role, t.Rank)),
		}
		r := t.Record
		if r == nil {
			row.X, row.W = labelWidth, barsWidth
			row.StatusX = labelWidth + barsWidth + 6
			tl.Rows = append(tl.Rows, row)
			continue
		}
		if r.Node != "" {
			row.Label += " @ " + r.Node
		}
		end := r.End
		if end.IsZero() {
			end = t1
		}
		row.X = x(r.Start)
		row.W = math.Max(1, x(end)-row.X)
		row.StatusX = row.X + row.W + 6
		p := r.Phases
		add := func(class string, from, to time.Time, title string) {
			if from.IsZero() || to.IsZero() || to.Before(from) {
				return
			}
			fill := phaseFill[class]
			if class == "run" {
				fill = runFill[t.Class]
			}
			row.Phases = append(row.Phases, segment{Class: class, Fill: fill, X: x(from), W: math.Max(1, x(to)-x(from)), Title: title + " " + seconds(to.Sub(from))})
		}
		add("setup", p.SetupStart, p.SetupEnd, "node setup")
		add("fence", p.FenceStart, p.FenceEnd, "start fence wait")
		stop := end
		if !p.StopAt.IsZero() && p.StopAt.Before(end) {
			stop = p.StopAt
		}
		add("run", p.ChildStart, stop, "child ran")
		if !p.StopAt.IsZero() {
			add("stop", stop, end, "stopping")
		}
		tl.Rows = append(tl.Rows, row)
	}
	return tl
}

// span is the time the timeline covers: the job's, widened to every task's.
func span(rep *junitmerge.Report) (t0, t1 time.Time) {
	widen := func(from, to time.Time) {
		if !from.IsZero() && (t0.IsZero() || from.Before(t0)) {
			t0 = from
		}
		if to.After(t1) {
			t1 = to
		}
	}
	if res := rep.Result; res != nil {
		widen(res.Start, res.End)
	}
	for _, t := range rep.Tasks {
		if r := t.Record; r != nil {
			widen(r.Start, r.End)
		}
	}
	if t0.IsZero() {
		t0 = rep.Generated
	}
	if !t1.After(t0) {
		t1 = t0.Add(time.Second)
	}
	return t0, t1
}

// clockSteps are the tick steps, in seconds, of spans from a minute up:
// what a clock shows round.
var clockSteps = []float64{15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400}

// ticks are about six marks at round steps along a span of total: 1, 2 or
// 5 times a power of ten seconds below a minute, clock steps above.
func ticks(total time.Duration, x func(time.Duration) float64) []tick {
	raw := total.Seconds() / 6
	step := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= step*m {
			step *= m
			break
		}
	}
	if raw > 10 {
		last := clockSteps[len(clockSteps)-1]
		step = last * math.Ceil(raw/last) // days
		if i := sort.SearchFloat64s(clockSteps, raw); i < len(clockSteps) {
			step = clockSteps[i]
		}
	}
	var out []tick
	for s := 0.0; s <= total.Seconds()+1e-9; s += step {
		d := time.Duration(s * float64(time.Second))
		out = append(out, tick{X: x(d), Label: "+" + seconds(d)})
	}
	return out
}

// seconds shows a duration as people read it in a report: 0.35s, 12s, 4m05s.
func seconds(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return strconv.FormatFloat(math.Round(d.Seconds()*100)/100, 'f', -1, 64) + "s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Round(time.Second).Seconds())) + "s"
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
