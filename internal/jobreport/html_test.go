package jobreport

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

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
		`peak memory 3.0 GiB`,
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

// Each task of the spec has a row, those that left no record too.
func TestReportDrawsEveryTaskInOrder(t *testing.T) {
	ws := failedJob(t)
	doc, rep := junitmerge.BuildWorkspace(ws, junitmerge.Options{})
	rep.Tasks = append(rep.Tasks, junitmerge.TaskRun{Role: "BENCHMARK", Rank: 0, Class: junitmerge.TaskMissing})
	if err := Write(ws, doc, rep); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(ws.Report())
	page := string(b)
	got := regexp.MustCompile(`data-task="([^"]+)" data-class="([^"]+)"`).FindAllStringSubmatch(page, -1)
	var rows []string
	for _, m := range got {
		rows = append(rows, m[1]+" "+m[2])
	}
	want := []string{"GEN_0/0 stopped", "GEN_0/1 root_cause", "BENCHMARK/0 missing"}
	if strings.Join(rows, ", ") != strings.Join(want, ", ") {
		t.Errorf("timeline rows %q, want %q", rows, want)
	}
	if !strings.Contains(page, `task-bar c-missing`) || !strings.Contains(page, ">no record<") {
		t.Error("a task without a record is not drawn as missing")
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
	for d, want := range map[time.Duration]string{350 * time.Millisecond: "0.35s", 12 * time.Second: "12s", 245 * time.Second: "4m05s"} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%s) = %q, want %q", d, got, want)
		}
	}
}
