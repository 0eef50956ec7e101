package junitmerge

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMergeRealPytest merges junit files written by real pytest, in both
// junit families, and checks the merge against an independent reading of
// the same files: every outcome keeps its status, output is cleaned, and
// the result is valid for Jenkins.
func TestMergeRealPytest(t *testing.T) {
	for _, family := range []string{"xunit1", "xunit2"} {
		t.Run(family, func(t *testing.T) {
			junit := runPytest(t, family)
			want, cases := oracleStatuses(t, junit)
			// The module has one test of each kind; a pytest that wrote
			// fewer kinds would make this test prove less.
			for _, st := range []string{StatusPassed, StatusFailed, StatusError, StatusSkipped} {
				if want[st] == 0 {
					t.Fatalf("pytest's file has no %s testcase: %v", st, want)
				}
			}

			doc, rep, err := MergeFiles([]string{junit}, Options{Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			path, data := writeDoc(t, doc)
			validateSchema(t, path)
			back := parseBack(t, data)

			got := statusCounts(t, back)
			for _, st := range []string{StatusPassed, StatusFailed, StatusError, StatusSkipped} {
				if got[st] != want[st] {
					t.Errorf("%s: merged %d, pytest wrote %d", st, got[st], want[st])
				}
			}
			if back.Tests != len(cases) || back.Failures != want[StatusFailed] || back.Errors != want[StatusError] {
				t.Errorf("root totals tests=%d failures=%d errors=%d, want %d %d %d",
					back.Tests, back.Failures, back.Errors, len(cases), want[StatusFailed], want[StatusError])
			}
			if !rep.Failed() || rep.Total.Tests != len(cases) || rep.Total.Skipped != want[StatusSkipped] {
				t.Errorf("report %+v does not match pytest's %v", rep.Total, want)
			}

			// Known outcomes by name, xfail and xpass included.
			for name, st := range map[string]string{
				"test_pass": StatusPassed, "test_fixture_error": StatusError, "test_skip": StatusSkipped,
				"test_xfail": StatusSkipped, "test_xpass": StatusPassed, "test_xpass_strict": StatusFailed,
			} {
				cs := findCases(t, back, name)
				if len(cs) == 0 || cs[0].Status() != st {
					t.Errorf("%s: got %d cases, first %v; want %s", name, len(cs), statusOf(cs), st)
				}
			}

			// pytest writes ESC as the text "#x1B"; the colour sequences are
			// dropped, the words stay; unicode survives.
			if bytes.Contains(data, []byte("#x1B[")) || bytes.Contains(data, []byte{0x1b}) {
				t.Error("ANSI colour sequences survived the merge")
			}
			fail := findCases(t, back, "test_fail")[0]
			if fail.Failure == nil || !strings.Contains(fail.Failure.Message, "bold mismatch") {
				t.Errorf("test_fail's message lost its words: %+v", fail.Failure)
			}
			pass := findCases(t, back, "test_pass")[0]
			// pytest itself writes characters beyond the BMP as "#x1F680".
			if !strings.Contains(string(pass.SystemOut), "héllo wörld ✓ 日本語") {
				t.Errorf("unicode output lost: %q", pass.SystemOut)
			}
			if !strings.Contains(string(pass.SystemErr), "warning on stderr") {
				t.Errorf("stderr lost or not cleaned: %q", pass.SystemErr)
			}
		})
	}
}

func statusOf(cs []*Case) string {
	if len(cs) == 0 {
		return "none"
	}
	return cs[0].Status()
}

// TestMergeRealPytestWorkspace puts a real pytest file where the runner
// would, beside records of a crashed and a failed rank, and checks that the
// pytest results and the synthetic errors land in one valid document.
func TestMergeRealPytestWorkspace(t *testing.T) {
	junit := runPytest(t, "xunit2")
	_, cases := oracleStatuses(t, junit)
	w := newTestWorkspace(t, step("BENCHMARK", 3, true))
	raw, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	w.junit("BENCHMARK", 0, string(raw))
	w.record(rec("BENCHMARK", 0, "exited", 1))
	w.record(rec("BENCHMARK", 1, "signaled", 139, withSignal("SIGSEGV")))
	w.log("BENCHMARK", 1, "loading model\nSegmentation fault (core dumped)\n")
	w.record(rec("BENCHMARK", 2, "exited", 1))

	rep, err := MergeWorkspace(w.ws, w.opts())
	if err != nil {
		t.Fatal(err)
	}
	validateSchema(t, w.ws.Results())
	data, err := os.ReadFile(w.ws.Results())
	if err != nil {
		t.Fatal(err)
	}
	back := parseBack(t, data)
	if len(back.Suites) != 3 {
		t.Fatalf("want one suite per rank, got %d", len(back.Suites))
	}
	if n := len(back.Suites[0].Cases); n != len(cases) {
		t.Errorf("rank 0: %d testcases, pytest wrote %d", n, len(cases))
	}
	seg := back.Suites[1].Cases
	if len(seg) != 1 || seg[0].Error == nil || !strings.Contains(seg[0].Error.Body, "Segmentation fault") {
		t.Errorf("rank 1 (segfault, no junit) should be one error with the log tail, got %+v", seg)
	}
	if rep.Total.Tests != len(cases)+2 {
		t.Errorf("report counts %d tests, want %d", rep.Total.Tests, len(cases)+2)
	}
	if _, err := os.Stat(filepath.Join(w.ws.Dir, "summary.md")); err != nil {
		t.Error("summary.md not written")
	}
}
