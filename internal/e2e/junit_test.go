package e2e

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/noderun/noderun/internal/jobspec"
)

// The parts of WS/results.xml the tests look at, read with encoding/xml on
// their own rather than through the merge package under test.
type junitDoc struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Hostname   string          `xml:"hostname,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	Skipped   *junitProblem `xml:"skipped"`
}

type junitProblem struct {
	Type    string `xml:"type,attr"`
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// String is the whole problem as CI would show it.
func (p *junitProblem) String() string {
	if p == nil {
		return ""
	}
	return p.Type + ": " + p.Message + "\n" + p.Text
}

func (s *junitSuite) property(name string) (string, bool) {
	for _, p := range s.Properties {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}

// counts are a suite's cases by outcome.
type counts struct{ tests, failures, errors, skipped int }

func (s *junitSuite) counts() counts {
	c := counts{tests: len(s.Cases)}
	for _, tc := range s.Cases {
		switch {
		case tc.Failure != nil:
			c.failures++
		case tc.Error != nil:
			c.errors++
		case tc.Skipped != nil:
			c.skipped++
		}
	}
	return c
}

// results is the merged junit of a job, by task.
type results struct {
	doc    *junitDoc
	byTask map[taskKey]*junitSuite
}

// problems are the failures and errors of task k's suite.
func (r *results) problems(k taskKey) []*junitProblem {
	var out []*junitProblem
	if s := r.byTask[k]; s != nil {
		for i := range s.Cases {
			if p := s.Cases[i].Failure; p != nil {
				out = append(out, p)
			}
			if p := s.Cases[i].Error; p != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// results reads WS/results.xml and checks what holds for every job: the
// counts agree with the testcases (per suite and in total); every testcase
// has a name and an identity (classname, name) of its own; every planned
// task has exactly one suite of its own (found by the noderun.role and
// noderun.rank properties) and nothing else is there; the file is valid
// against Jenkins' junit schema.
func (j *labJob) results(spec *jobspec.Spec) *results {
	j.t.Helper()
	b, err := os.ReadFile(j.ws.Results())
	if err != nil {
		j.t.Fatalf("merged results: %v", err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(b, &doc); err != nil {
		j.t.Fatalf("results.xml: %v", err)
	}
	j.validateSchema()
	var total counts
	r := &results{doc: &doc, byTask: map[taskKey]*junitSuite{}}
	identity := map[[2]string]string{}
	for i := range doc.Suites {
		s := &doc.Suites[i]
		c := s.counts()
		if s.Tests != c.tests || s.Failures != c.failures || s.Errors != c.errors || s.Skipped != c.skipped {
			j.t.Errorf("suite %s says tests=%d failures=%d errors=%d skipped=%d, its testcases are %+v",
				s.Name, s.Tests, s.Failures, s.Errors, s.Skipped, c)
		}
		for _, tc := range s.Cases {
			if tc.Name == "" {
				// pytest writes one for a session it was interrupted in
				// (tests="0"); Jenkins would show it as a passed test.
				j.t.Errorf("suite %s has a testcase without a name (classname %q): no test of that name ran", s.Name, tc.Classname)
			}
			if other, dup := identity[[2]string{tc.Classname, tc.Name}]; dup {
				j.t.Errorf("testcase %s::%s is in suites %s and %s: consumers keep one of them", tc.Classname, tc.Name, other, s.Name)
			}
			identity[[2]string{tc.Classname, tc.Name}] = s.Name
		}
		total.tests += c.tests
		total.failures += c.failures
		total.errors += c.errors
		role, okRole := s.property("noderun.role")
		rankText, okRank := s.property("noderun.rank")
		rank, err := strconv.Atoi(rankText)
		if !okRole || !okRank || err != nil {
			j.t.Errorf("suite %s has no noderun.role/noderun.rank properties (%q, %q): it belongs to no task", s.Name, role, rankText)
			continue
		}
		k := taskKey{role, rank}
		if r.byTask[k] != nil {
			j.t.Errorf("task %s has two suites: %s and %s", k, r.byTask[k].Name, s.Name)
		}
		r.byTask[k] = s
	}
	if doc.Tests != total.tests || doc.Failures != total.failures || doc.Errors != total.errors {
		j.t.Errorf("testsuites says tests=%d failures=%d errors=%d, its testcases are %+v", doc.Tests, doc.Failures, doc.Errors, total)
	}
	for _, k := range expectedTasks(spec) {
		if r.byTask[k] == nil {
			j.t.Errorf("task %s has no suite in results.xml", k)
		}
	}
	if len(r.byTask) != len(expectedTasks(spec)) {
		j.t.Errorf("results.xml has suites for %d tasks, the plan has %d", len(r.byTask), len(expectedTasks(spec)))
	}
	return r
}

// validateSchema runs xmllint against Jenkins' junit schema, which CI lays
// beside the checkout (shared/schemas/junit-10.xsd). In CI a missing schema
// fails the test; elsewhere the check is skipped with a log line.
func (j *labJob) validateSchema() {
	j.t.Helper()
	xsd := filepath.Join(filepath.Dir(j.root), "shared", "schemas", "junit-10.xsd")
	if _, err := os.Stat(xsd); err != nil {
		if os.Getenv("CI") != "" {
			j.t.Fatalf("junit schema missing in CI: %v", err)
		}
		j.t.Logf("schema check skipped: %v", err)
		return
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		j.t.Logf("schema check skipped: no xmllint (Debian: libxml2-utils)")
		return
	}
	out, err := exec.Command(xmllint, "--noout", "--schema", xsd, j.ws.Results()).CombinedOutput()
	if err != nil {
		j.t.Errorf("results.xml is not valid against %s: %v\n%s", xsd, err, out)
	}
}

// missingWords returns the words of want that s lacks.
func missingWords(s string, want ...string) []string {
	var missing []string
	for _, w := range want {
		if !strings.Contains(s, w) {
			missing = append(missing, w)
		}
	}
	return missing
}
