package jobreport

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/junitmerge"
	"github.com/noderun/noderun/internal/workspace"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// failedJob builds a workspace where GEN_0 rank 1 failed, rank 0 was
// stopped because of it and BENCHMARK rank 0 left no record.
func failedJob(t *testing.T) workspace.Layout {
	t.Helper()
	ws := workspace.New(t.TempDir())
	save := func(rec *workspace.TaskRecord) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(ws.TaskRecord(rec.Role, rec.Rank)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := ws.SaveTaskRecord(rec); err != nil {
			t.Fatal(err)
		}
	}
	phases := workspace.Phases{SetupStart: at(0.1), SetupEnd: at(2), FenceStart: at(2), FenceEnd: at(3), ChildStart: at(3)}
	failed := &workspace.TaskRecord{Role: "GEN_0", Rank: 1, Node: "n2", JobID: "42", State: workspace.StateExited, ExitCode: 3,
		Start: at(0), End: at(20), Phases: phases, Log: ws.TaskLog("GEN_0", 1)}
	stopped := &workspace.TaskRecord{Role: "GEN_0", Rank: 0, Node: "n1", JobID: "42", State: workspace.StateSignaled, ExitCode: 130, Signal: "SIGINT",
		Stopped: true, Start: at(0), End: at(22), Phases: phases, Log: ws.TaskLog("GEN_0", 0)}
	stopped.Phases.StopAt = at(20.5)
	stopped.GPU = &workspace.GPUSummary{Samples: 4, PeakMemUsed: 3 << 30, UtilMean: 50, UtilMax: 90, TempMaxC: 70,
		XIDs: []uint64{79}, Faults: []string{"GPU 0 (GPU-a): XID 79 after 7s"}}
	save(failed)
	save(stopped)
	if err := os.MkdirAll(ws.LogDir("GEN_0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ws.TaskLog("GEN_0", 1), []byte("E   AssertionError: <b>bad</b>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Telemetry of rank 0: two GPUs, an XID on the first.
	if err := os.MkdirAll(filepath.Dir(ws.Telemetry("GEN_0", 0)), 0o755); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i, s := range []float64{3, 8, 13, 18} {
		for g := 0; g < 2; g++ {
			u, m, tot := uint32(20*i), uint64(i)<<30, uint64(4)<<30
			b, _ := json.Marshal(workspace.GPUSample{Time: at(s), UUID: []string{"GPU-a", "GPU-b"}[g], Index: g, GPUUtil: &u, MemUsed: &m, MemTotal: &tot})
			lines = append(lines, string(b))
		}
	}
	b, _ := json.Marshal(workspace.GPUSample{Time: at(10), UUID: "GPU-a", XID: 79})
	lines = append(lines, string(b), `{"time": "truncated`)
	if err := os.WriteFile(ws.Telemetry("GEN_0", 0), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	one := 1
	res := &workspace.JobResult{JobID: "42", Outcome: workspace.OutcomeFailed, ExitCode: 1, Reason: "GEN_0 rank 1 failed",
		Start: at(0), End: at(23),
		RootCause: &workspace.RootCause{Role: "GEN_0", Rank: &one, Node: "n2", ExitCode: 3, Log: "logs/GEN_0/rank1.log",
			FirstError: "E   AssertionError: <b>bad</b>", End: at(20)}}
	if err := ws.SaveJobResult(res); err != nil {
		t.Fatal(err)
	}
	return ws
}

func render(t *testing.T, ws workspace.Layout) string {
	t.Helper()
	doc, rep := junitmerge.BuildWorkspace(ws, junitmerge.Options{Now: func() time.Time { return at(30) }})
	if err := Write(ws, doc, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(ws.Report())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReportOfAFailedJob(t *testing.T) {
	page := render(t, failedJob(t))
	for _, want := range []string{
		`id="outcome" class="badge o-failed">failed<`,
		// The root cause leads, escaped: a log line is text, never markup.
		`<code>GEN_0 rank 1 @ n2</code>, exit status 3`,
		`first error: <code>E   AssertionError: &lt;b&gt;bad&lt;/b&gt;</code>`,
		`<a href="logs/GEN_0/rank1.log">`,
		// The stopped rank says why, its stop is drawn.
		`data-task="GEN_0/0" data-class="stopped"`,
		`stopped because GEN_0 rank 1 failed`,
		`class="phase stop c-stopped"`,
		`class="phase setup c-root_cause"`,
		`class="phase fence c-root_cause"`,
		// GPU telemetry: a line per GPU on each chart, the XID marked and the fault named.
		`GPU fault: GPU 0 (GPU-a): XID 79 after 7s`,
		`<title>XID event</title>`,
		`4 samples, peak memory 3.0 GiB`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if n := strings.Count(page, `<rect class="task-bar`); n != 2 {
		t.Errorf("%d task bars, want one per task with a record or expected (2)", n)
	}
	if n := strings.Count(page, "<polyline"); n != 4 {
		t.Errorf("%d chart lines, want 4 (2 GPUs × utilization and memory)", n)
	}
	// Jenkins' default Content-Security-Policy blocks inline CSS: the
	// timeline's colours are SVG attributes, and no style= attribute is used.
	if !regexp.MustCompile(`<rect class="phase run c-root_cause"[^>]* fill="#b71c1c"`).MatchString(page) {
		t.Error("the root cause's run is not drawn in its colour by an SVG attribute")
	}
	if strings.Contains(page, " style=") {
		t.Error("report.html uses style= attributes, which Jenkins' CSP blocks")
	}
	// Self-contained: nothing to fetch.
	for _, re := range []string{`<script`, `<link`, `src=`, `url\(`, `@import`, `href="https?:`} {
		if regexp.MustCompile(re).MatchString(page) {
			t.Errorf("report.html refers outside itself: %s", re)
		}
	}
}

// Each task of the spec has a row, in the spec's order, those that left
// no record too. The spec is a real one (launcher's golden disagg job).
func TestReportDrawsEveryTaskInOrder(t *testing.T) {
	ws := failedJob(t)
	spec, err := jobspec.Load(filepath.Join("..", "..", "launcher", "testdata", "golden", "disagg-e2e", "job.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.Save(ws.Spec()); err != nil {
		t.Fatal(err)
	}
	page := render(t, ws)
	var rows []string
	for _, m := range regexp.MustCompile(`data-task="([^"]+)" data-class="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		rows = append(rows, m[1]+" "+m[2])
	}
	want := []string{"GEN_0/0 stopped", "GEN_0/1 root_cause", "GEN_0/2 missing", "GEN_0/3 missing",
		"CTX_0/0 missing", "CTX_1/0 missing", "DISAGG_SERVER/0 missing", "BENCHMARK/0 missing"}
	if strings.Join(rows, ", ") != strings.Join(want, ", ") {
		t.Errorf("timeline rows %q, want %q", rows, want)
	}
	if strings.Count(page, `task-bar c-missing`) != 6 || !strings.Contains(page, ">no record<") {
		t.Error("tasks without a record are not drawn as missing")
	}
}

func TestTicksAreRound(t *testing.T) {
	var got []string
	for _, tk := range ticks(23*time.Second, func(time.Duration) float64 { return 0 }) {
		got = append(got, tk.Label)
	}
	if want := "+0s +5s +10s +15s +20s"; strings.Join(got, " ") != want {
		t.Errorf("ticks %q, want %q", got, want)
	}
	// Long jobs get clock steps, not 1-2-5 seconds.
	got = nil
	for _, tk := range ticks(100*time.Minute, func(time.Duration) float64 { return 0 }) {
		got = append(got, tk.Label)
	}
	if want := "+0s +30m00s +1h00m +1h30m"; strings.Join(got, " ") != want {
		t.Errorf("ticks of 100 min %q, want %q", got, want)
	}
	for d, want := range map[time.Duration]string{350 * time.Millisecond: "0.35s", 12 * time.Second: "12s", 245 * time.Second: "4m05s", 150 * time.Minute: "2h30m"} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%s) = %q, want %q", d, got, want)
		}
	}
}

// noderun report on a job that runs: no result yet, a task without an end.
// The page says running, not failed, and shows no exit status.
func TestReportOfARunningJob(t *testing.T) {
	ws := failedJob(t)
	if err := os.Remove(ws.JobResult()); err != nil {
		t.Fatal(err)
	}
	rec, err := workspace.LoadTaskRecord(ws.TaskRecord("GEN_0", 0))
	if err != nil {
		t.Fatal(err)
	}
	rec.End, rec.State, rec.Phases.StopAt = time.Time{}, workspace.StateRunning, time.Time{}
	if err := ws.SaveTaskRecord(rec); err != nil {
		t.Fatal(err)
	}
	page := render(t, ws)
	if !strings.Contains(page, `class="badge o-running">running<`) || strings.Contains(page, "exit status 0") {
		t.Errorf("a running job's page does not say running:\n%.800s", page)
	}
	if !regexp.MustCompile(`data-task="GEN_0/0"[\s\S]*?>running<`).MatchString(page) {
		t.Error("the running task is not labelled running")
	}
}

// A day of samples is not read whole: a bounded number of lines, spread
// from the start of the file to its end.
func TestReadSamplesOfALargeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rank0.jsonl")
	var b strings.Builder
	n := 0
	for b.Len() < 3*maxReadBytes {
		u := uint32(n % 100)
		line, _ := json.Marshal(workspace.GPUSample{Time: at(float64(n)), UUID: "GPU-a", GPUUtil: &u})
		b.Write(append(line, '\n'))
		n++
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := readSamples(path)
	if len(got) == 0 || len(got) > maxReadLines {
		t.Fatalf("%d samples read of %d, want 1 to %d", len(got), n, maxReadLines)
	}
	first, last := got[0].Time.Sub(t0).Seconds(), got[len(got)-1].Time.Sub(t0).Seconds()
	if first > float64(n)/100 || last < float64(n)*0.99 {
		t.Errorf("samples span %.0f–%.0f s of 0–%d s: not spread over the file", first, last, n)
	}
}

// Charts are drawn for maxCharted tasks, GPU faults first; the others keep
// their summary line, and the page says how many lost their charts.
func TestReportBoundsCharts(t *testing.T) {
	ws := workspace.New(t.TempDir())
	var tasks []junitmerge.TaskRun
	for k := 0; k < maxCharted+8; k++ {
		rec := &workspace.TaskRecord{Role: "GEN_0", Rank: k, State: workspace.StateExited, Start: at(0), End: at(10),
			GPU: &workspace.GPUSummary{Samples: 2, UtilMax: 50}}
		if k == maxCharted+5 {
			rec.GPU.Faults = []string{"XID 79 on GPU 0"}
		}
		if err := os.MkdirAll(filepath.Dir(ws.Telemetry("GEN_0", k)), 0o755); err != nil {
			t.Fatal(err)
		}
		u := uint32(50)
		line, _ := json.Marshal(workspace.GPUSample{Time: at(1), UUID: "GPU-a", GPUUtil: &u})
		if err := os.WriteFile(ws.Telemetry("GEN_0", k), line, 0o644); err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, junitmerge.TaskRun{Role: "GEN_0", Rank: k, Record: rec, Class: junitmerge.TaskPassed})
	}
	views, uncharted := gpuViews(ws, tasks)
	charted := 0
	for _, v := range views {
		if len(v.Charts) > 0 {
			charted++
		}
	}
	if len(views) != len(tasks) || charted != maxCharted || uncharted != 8 {
		t.Errorf("%d views, %d charted, %d uncharted; want %d, %d, 8", len(views), charted, uncharted, len(tasks), maxCharted)
	}
	if views[0].Task != "GEN_0/"+strconv.Itoa(maxCharted+5) || len(views[0].Charts) == 0 {
		t.Errorf("the task with a GPU fault is not charted first: %s", views[0].Task)
	}
}
