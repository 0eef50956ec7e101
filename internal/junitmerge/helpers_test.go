package junitmerge

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixedNow is the clock of every test, so outputs are comparable.
func fixedNow() time.Time { return time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC) }

// junitSchema is Jenkins' junit-10.xsd, from its junit plugin (MIT).
const junitSchema = "testdata/junit-10.xsd"

// validateSchema checks a file against junit-10.xsd with xmllint.
func validateSchema(t testing.TB, path string) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not installed (Debian: libxml2-utils)")
	}
	out, err := exec.Command(xmllint, "--noout", "--schema", junitSchema, path).CombinedOutput()
	if err != nil {
		t.Fatalf("%s does not validate against junit-10.xsd: %v\n%s", path, err, out)
	}
}

// parseBack decodes merged output with Go's XML parser, token by token to
// the end (so nothing after the root goes unseen), then into a Document.
func parseBack(t testing.TB, data []byte) *Document {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("merged output does not parse: %v", err)
		}
	}
	var doc Document
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("merged output does not decode: %v", err)
	}
	return &doc
}

// pytestPython returns a python3 that has pytest, or skips. The first
// python3 on PATH may be a pyenv one without it; Debian's python3-pytest
// lives beside /usr/bin/python3.
func pytestPython(t testing.TB) string {
	t.Helper()
	var candidates []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		candidates = append(candidates, filepath.Join(dir, "python3"))
	}
	candidates = append(candidates, "/usr/bin/python3")
	for _, c := range candidates {
		if err := exec.Command(c, "-m", "pytest", "--version").Run(); err == nil {
			return c
		}
	}
	t.Skip("no python3 with pytest (Debian: python3-pytest)")
	return ""
}

// runPytest runs the testdata module in a temporary directory with the
// given junit family and returns the junit file pytest wrote.
func runPytest(t testing.TB, family string) string {
	t.Helper()
	python := pytestPython(t)
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "pytest", "test_mixed.py"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "test_mixed.py"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	junit := filepath.Join(dir, "junit-"+family+".xml")
	cmd := exec.Command(python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
		"-o", "junit_family="+family, "-o", "junit_logging=all", "--junit-xml="+junit, "test_mixed.py")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	// Status 1: tests failed, as the module intends. Anything else is a
	// broken setup, not a result.
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("pytest: %v (want exit status 1)\n%s", err, out)
	}
	return junit
}

// oracleCase is a testcase as a plain encoding/xml decode of a file sees
// it: independent of go-junit, to check the merge against.
type oracleCase struct {
	Classname string     `xml:"classname,attr"`
	Name      string     `xml:"name,attr"`
	Failure   []struct{} `xml:"failure"`
	Error     []struct{} `xml:"error"`
	Skipped   []struct{} `xml:"skipped"`
}

func (c oracleCase) status() string {
	switch {
	case len(c.Error) > 0:
		return StatusError
	case len(c.Failure) > 0:
		return StatusFailed
	case len(c.Skipped) > 0:
		return StatusSkipped
	}
	return StatusPassed
}

// oracleStatuses counts the statuses of a pytest file's testcases.
func oracleStatuses(t testing.TB, path string) (map[string]int, []oracleCase) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Cases []oracleCase `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	counts := map[string]int{}
	var cases []oracleCase
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			counts[c.status()]++
			cases = append(cases, c)
		}
	}
	return counts, cases
}

// unsealed decodes the sealed testcases of doc's suites back into Cases,
// as results.xml holds them, for tests that look at a merge's testcases,
// and returns doc.
func unsealed(t testing.TB, doc *Document) *Document {
	t.Helper()
	for _, s := range doc.Suites {
		if s.sealed == nil {
			continue
		}
		var back Suite
		if err := xml.Unmarshal(appendSuite(nil, s), &back); err != nil {
			t.Fatalf("sealed suite %s does not decode: %v", s.Name, err)
		}
		s.Cases, s.sealed = back.Cases, nil
	}
	return doc
}

// statusCounts counts a merged document's testcases by status.
func statusCounts(t testing.TB, doc *Document) map[string]int {
	counts := map[string]int{}
	for _, s := range unsealed(t, doc).Suites {
		for _, c := range s.Cases {
			counts[c.Status()]++
		}
	}
	return counts
}

// findCase returns the testcases of doc whose name contains name.
func findCases(t testing.TB, doc *Document, name string) []*Case {
	var out []*Case
	for _, s := range unsealed(t, doc).Suites {
		for _, c := range s.Cases {
			if strings.Contains(c.Name, name) {
				out = append(out, c)
			}
		}
	}
	return out
}

// writeDoc encodes doc into a file and returns its path and bytes.
func writeDoc(t testing.TB, doc *Document) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := doc.Write(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "merged.xml")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

// suiteNames lists the suites of doc by name, in order.
func suiteNames(doc *Document) []string {
	var names []string
	for _, s := range doc.Suites {
		names = append(names, s.Name)
	}
	return names
}
