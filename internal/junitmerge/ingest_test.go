package junitmerge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIngestBytes(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		// broken is the expected type of problem, "" for a good file.
		broken string
		// statuses are the testcases read, in order.
		statuses []string
	}{
		// Why: the usual pytest file.
		{"pytest file", junitFail, "", []string{StatusPassed, StatusFailed}},
		// Why: pytest killed right after it opened the file.
		{"empty", "", brokenEmpty, nil},
		// Why: whitespace only is as empty as empty.
		{"blank", " \n\t\n", brokenEmpty, nil},
		// Why: go-junit reports zero suites and no error for text.
		{"plain text", "Traceback (most recent call last):", brokenNoSuites, nil},
		// Why: valid XML that is not junit.
		{"other XML", "<html><body>502 Bad Gateway</body></html>", brokenNoSuites, nil},
		// Why: a bare <testsuites/> has no results at all.
		{"no suites", `<?xml version="1.0"?><testsuites/>`, brokenNoSuites, nil},
		// Why: cut inside an attribute value.
		{"truncated in attribute", junitFail[:90], brokenTruncated, nil},
		// Why: cut between elements, where only the open elements tell.
		{"truncated between elements", strings.TrimSuffix(junitFail, "</testsuite></testsuites>"), brokenTruncated, nil},
		// Why: mismatched tags are malformed, not truncated.
		{"malformed", "<testsuites><testsuite name='x'></testcase></testsuites>", brokenInvalid, nil},
		// Why: binary garbage.
		{"binary", "\x00\x01\x02\xff\xfe<<<>>>", brokenInvalid, nil},
		// Why: go-junit keeps only the last result element; a failure
		// followed by a skip would read as a skip.
		{"failure then skipped", junitFailThenSkip, brokenLost, []string{StatusSkipped}},
		// Why: go-junit ignores testcases outside a <testsuite>.
		{"failing testcase outside a suite", `<testsuites><testsuite name="s" tests="1" failures="0" errors="0"><testcase name="a"/></testsuite><testcase name="b"><error message="x"/></testcase></testsuites>`,
			brokenLost, []string{StatusPassed}},
		// Why: a bare failing testcase gives go-junit zero suites.
		{"lone failing testcase", `<testcase name="b"><failure/></testcase>`, brokenNoSuites, nil},
		// Why: "<failure" in CDATA and comments is text, not a result; the
		// check must not call a good file broken.
		{"failure in CDATA and comments", `<testsuite name="s" tests="1" failures="0" errors="0"><!-- <failure> --><testcase name="a"><system-out><![CDATA[<failure message="x">]]></system-out></testcase></testsuite>`,
			"", []string{StatusPassed}},
		// Why: pytest (older versions) puts a teardown error in the same
		// testcase as the failure; go-junit keeps the error, still failing.
		{"failure and error in one testcase", `<testsuite name="s" tests="1" failures="1" errors="1"><testcase name="a"><failure message="f"/><error message="teardown"/></testcase></testsuite>`,
			"", []string{StatusError}},
		// Why: raw ESC and NUL make Go's parser fail; they are cleaned first.
		{"raw control characters", "<testsuite name=\"s\x1b[31m\" tests=\"1\" failures=\"1\" errors=\"0\"><testcase name=\"a\x00\"><failure message=\"\x1b[1mbad\x1b[0m\x07\">NUL\x00</failure></testcase></testsuite>",
			"", []string{StatusFailed}},
		// Why: character references to forbidden characters fail too.
		{"forbidden character references", `<testsuite name="s" tests="1" failures="1" errors="0"><testcase name="a&#0;"><failure message="&#x1B;[31mred&#x1b;[0m &#27;">x</failure></testcase></testsuite>`,
			"", []string{StatusFailed}},
		// Why: invalid UTF-8 (Latin-1 output) fails Go's parser too.
		{"latin-1 bytes", "<testsuite name=\"caf\xe9\" tests=\"1\" failures=\"0\" errors=\"0\"><testcase name=\"\xe9\"/></testsuite>", "", []string{StatusPassed}},
		// Why: nested suites are flattened, none lost.
		{"nested suites", `<testsuites><testsuite name="outer" tests="2" failures="1" errors="0"><testcase name="a"/><testsuite name="inner" tests="1" failures="1" errors="0"><testcase name="b"><failure/></testcase></testsuite></testsuite></testsuites>`,
			"", []string{StatusPassed, StatusFailed}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := ingestBytes([]byte(tc.raw))
			switch {
			case tc.broken == "" && in.broken != nil:
				t.Fatalf("good file reported broken: %+v", in.broken)
			case tc.broken != "" && (in.broken == nil || in.broken.Type != tc.broken):
				t.Fatalf("broken = %+v, want type %s", in.broken, tc.broken)
			}
			var got []string
			for _, s := range in.suites {
				for _, c := range s.Cases {
					got = append(got, c.Status())
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.statuses, ",") {
				t.Errorf("statuses %v, want %v", got, tc.statuses)
			}
			// Whatever came in, the merged document is valid and fails when
			// the input held a failure.
			doc, rep := assemble(fileSuites("f", "f.xml", in, Options{}), nil, fixedNow())
			path, data := writeDoc(t, doc)
			parseBack(t, data)
			if failingCases([]byte(tc.raw)) > 0 && !rep.Failed() {
				t.Error("a failure in the input merged as a pass")
			}
			if tc.name == "raw control characters" || tc.name == "forbidden character references" {
				validateSchema(t, path)
			}
		})
	}
}

// TestIngestCleansText checks what the cleaned strings hold: colour codes
// gone, other control characters visible as \u escapes.
func TestIngestCleansText(t *testing.T) {
	in := ingestBytes([]byte("<testsuite name=\"s\" tests=\"1\" failures=\"1\" errors=\"0\"><testcase name=\"a\x00b\"><failure message=\"\x1b[1mbad\x1b[0m &#x1B;[31mred&#x1B;[0m\">x\x07y</failure></testcase></testsuite>"))
	if in.broken != nil {
		t.Fatal(in.broken)
	}
	c := in.suites[0].Cases[0]
	if c.Name != `a\u0000b` {
		t.Errorf("name %q", c.Name)
	}
	if c.Failure.Message != "bad red" {
		t.Errorf("message %q", c.Failure.Message)
	}
	if c.Failure.Body != `x\u0007y` {
		t.Errorf("body %q", c.Failure.Body)
	}
}

// TestSuiteAttributesWithProperties covers go-junit's habit of replacing a
// suite's attributes with its <properties>: properties are kept, and the
// time falls back to the testcases' sum.
func TestSuiteAttributesWithProperties(t *testing.T) {
	in := ingestBytes([]byte(`<testsuite name="s" tests="2" failures="0" errors="0" time="99" hostname="h"><properties><property name="b" value="2"/><property name="a" value="1"/></properties><testcase name="x" time="1.25"/><testcase name="y" time="0.5"/></testsuite>`))
	s := in.suites[0]
	if s.Properties == nil || len(s.Properties.Property) != 2 || s.Properties.Property[0].Name != "a" {
		t.Errorf("properties %+v, want a and b sorted", s.Properties)
	}
	if got := s.Time; got != Seconds(1750e6) {
		t.Errorf("time %v, want the testcases' 1.75s", got)
	}
	plain := ingestBytes([]byte(junitPass)).suites[0]
	if plain.Properties != nil || plain.Time != Seconds(1500e6) || plain.Hostname != "from-file" || plain.Timestamp == "" {
		t.Errorf("attributes not read: %+v", plain)
	}
}

func TestMergeFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("results/GEN_0/rank0.xml", junitPass)
	write("results/GEN_0/rank1.xml", junitFail[:80])
	write("results/CTX_0/rank0.xml", junitFail)
	write("results/CTX_0/notes.txt", "not junit, not read")
	single := write("single.xml", junitPass)
	if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}

	doc, rep, err := MergeFiles([]string{filepath.Join(dir, "results"), single, single, filepath.Join(dir, "empty")}, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	names := suiteNames(doc)
	want := []string{dir + "/empty", "CTX_0/rank0", "GEN_0/rank0", "GEN_0/rank1", dir + "/single"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("suites %v, want %v (files once each, sorted, broken and empty ones kept as errors)", names, want)
	}
	var roles []string
	for _, r := range rep.Rows {
		roles = append(roles, r.Role)
	}
	if len(rep.Rows) != 4 || rep.Total.Errors != 2 || rep.Total.Failed != 1 || rep.Total.Tests != 8 {
		t.Errorf("rows %v totals %+v", roles, rep.Total)
	}
	path, _ := writeDoc(t, doc)
	validateSchema(t, path)

	if _, _, err := MergeFiles([]string{filepath.Join(dir, "missing.xml")}, Options{}); err == nil {
		t.Error("a path that does not exist should be an error")
	}
}
