package e2e

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/noderun/noderun/internal/jobspec"
)

// checkReport opens the job's report.html in a real browser (Debian's
// chromium, headless): the DOM it built must show the outcome, the root
// cause when there is one, and one timeline bar per task of the spec; its
// screenshot must not be blank. In CI a missing browser fails the test.
// It returns the DOM ("" when there is no browser).
func (j *labJob) checkReport(ctx context.Context, spec *jobspec.Spec, outcome, cause string) string {
	j.t.Helper()
	page := j.ws.Report()
	if _, err := os.Stat(page); err != nil {
		j.t.Errorf("no report.html: %v", err)
		return ""
	}
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		if os.Getenv("CI") != "" {
			j.t.Fatal("no chromium in CI: scripts/test.sh installs Debian's chromium")
		}
		j.t.Log("report.html browser check skipped: no chromium (Debian: chromium)")
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	profile := j.t.TempDir()
	headless := func(args ...string) []byte {
		// --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + profile, "--window-size=1280,900"}
		cmd := exec.CommandContext(ctx, browser, append(append(base, args...), "file://"+page)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			j.t.Errorf("%s %v: %v\n%s", filepath.Base(browser), args, err, errOut.String())
		}
		return out.Bytes()
	}
	dom := string(headless("--dump-dom"))
	if !strings.Contains(dom, `id="outcome" class="badge o-`+outcome+`">`+outcome+`<`) {
		j.t.Errorf("report.html in the browser does not show outcome %s:\n%.600s", outcome, dom)
	}
	if cause != "" && !regexp.MustCompile(`id="root-cause"[^>]*>\s*<strong>Root cause:</strong> <code>`+regexp.QuoteMeta(cause)).MatchString(dom) {
		j.t.Errorf("report.html in the browser does not name the root cause %s", cause)
	}
	bars := map[string]int{}
	for _, m := range regexp.MustCompile(`<g class="task" data-task="([^"]+)"`).FindAllStringSubmatch(dom, -1) {
		bars[m[1]]++
	}
	tasks := 0
	for _, st := range spec.Steps {
		for k := 0; k < st.Tasks; k++ {
			tasks++
			if key := st.Role + "/" + strconv.Itoa(k); bars[key] != 1 {
				j.t.Errorf("timeline: %d rows for task %s, want 1", bars[key], key)
			}
		}
	}
	if n := strings.Count(dom, `<rect class="task-bar`); n != tasks {
		j.t.Errorf("timeline: %d bars, want one per task (%d)", n, tasks)
	}
	shot := filepath.Join(j.t.TempDir(), "report.png")
	headless("--screenshot=" + shot)
	j.checkNotBlank(shot)
	return dom
}

// checkNotBlank fails when the screenshot has a single colour.
func (j *labJob) checkNotBlank(path string) {
	j.t.Helper()
	f, err := os.Open(path)
	if err != nil {
		j.t.Errorf("screenshot: %v", err)
		return
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		j.t.Errorf("screenshot %s: %v", path, err)
		return
	}
	colours := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, bl, a}] = true
		}
	}
	if len(colours) < 8 {
		j.t.Errorf("screenshot of report.html is blank (%d colours)", len(colours))
	}
}
