package junitmerge

import (
	"strings"
	"testing"

	"github.com/noderun/noderun/internal/jobspec"
)

// TestLogTailHidesSecrets: a crashed task's log printed its environment and
// its command line; the tail in results.xml keeps none of the secrets —
// neither the merging process's nor the job config's — while pytest's own
// text is left as it is.
func TestLogTailHidesSecrets(t *testing.T) {
	st := step("GEN_0", 1, true)
	st.Command.Env = []jobspec.EnvVar{{Name: "EXAMPLE_PASSWORD", Value: "cfg-secret-1"}}
	w := newTestWorkspace(t, st)
	w.record(rec("GEN_0", 0, "exited", 3))
	w.log("GEN_0", 0, "HF_TOKEN=env-secret-2\nusing cfg-secret-1 and env-secret-2\nenv OTHER_KEY=inline-3 run\n")
	opts := w.opts()
	opts.Environ = []string{"HF_TOKEN=env-secret-2", "PATH=/bin"}
	doc, _ := BuildWorkspace(w.ws, opts)
	cs := findCases(t, doc, "task")
	if len(cs) != 1 || cs[0].Error == nil {
		t.Fatalf("want one error, got %s", describe(cs))
	}
	body := cs[0].Error.Body
	for _, s := range []string{"cfg-secret-1", "env-secret-2", "inline-3"} {
		if strings.Contains(body, s) {
			t.Errorf("the tail holds %s:\n%s", s, body)
		}
	}
	if !strings.Contains(body, "using <redacted> and <redacted>") {
		t.Errorf("the tail lost its text around the secrets:\n%s", body)
	}
}
