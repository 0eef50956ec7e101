package junitmerge

import (
	"strings"
	"testing"
)

// pytest's own statuses 2–5 read as what they mean; "no tests collected"
// names the test id and the flags that build it, so users fix the id rather
// than look for a crash.
func TestPytestStatusMeaning(t *testing.T) {
	const role = "GEN_0"
	const id = "perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-tiny]"
	for _, tc := range []struct {
		name   string
		code   int
		log    string
		mods   []recMod
		want   []string
		absent string
	}{
		{"interrupted", 2, "!!!! KeyboardInterrupt !!!!\n", nil, []string{"status 2", "interrupted"}, ""},
		{"internal error", 3, "INTERNALERROR> Traceback (most recent call last):\n", nil, []string{"internal error (status 3)"}, ""},
		{"usage error", 4, "ERROR: usage: pytest [options]\npytest: error: unrecognized arguments: --bogus\n", nil, []string{"usage error", "--pytest-arg", "/defs"}, ""},
		{"no tests collected", 5, "collected 0 items\n=== no tests ran in 0.01s ===\n", nil, []string{"collected no tests (status 5)", id, "/defs", "--test-prefix", "--config-name",
			"--server-name", "--test-module", "--test-function"}, ""},
		// A failing test's status 1 is explained by the tests themselves.
		{"tests failed", 1, "FAILED x\n", nil, []string{"exited with status 1"}, "pytest"},
		// A task that runs no pytest (a server) has statuses of its own.
		{"not pytest", 5, "no tests ran\n", []recMod{withoutJunit()}, []string{"exited with status 5"}, "pytest"},
		// A test process that dies with os._exit(3) is no internal error of
		// pytest's: without pytest's own words the status is plain.
		{"a crash with status 3", 3, "E   RuntimeError: boom\n", nil, []string{"exited with status 3"}, "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := step(role, 1, true)
			st.Command.Dir = "/src/defs"
			w := newTestWorkspace(t, st)
			w.spec.Job.TestID = id
			w.record(rec(role, 0, "exited", tc.code, tc.mods...))
			w.log(role, 0, tc.log)
			doc, _ := BuildWorkspace(w.ws, w.opts())
			_, data := writeDoc(t, doc)
			var msg string
			for _, s := range parseBack(t, data).Suites {
				for _, c := range s.Cases {
					if r := result(c); c.Name == "task" && r != nil {
						msg = r.Message
					}
				}
			}
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
			if tc.absent != "" && strings.Contains(msg, tc.absent) {
				t.Errorf("message %q says %q", msg, tc.absent)
			}
		})
	}
}
