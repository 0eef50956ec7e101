package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/noderun/noderun/internal/workspace"
)

// junitparserScript prints every testcase of a junit file as junitparser
// (Debian's python3-junitparser) reads it: suite, classname, name.
const junitparserScript = `
import json, sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
suites = [xml] if xml._tag == "testsuite" else list(xml)
print(json.dumps([[s.name, c.classname, c.name] for s in suites for c in s]))
`

// junitparserPython returns a python3 that imports junitparser, or skips.
// The first python3 on PATH may be a pyenv one without Debian's packages.
func junitparserPython(t *testing.T) string {
	t.Helper()
	var candidates []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		candidates = append(candidates, filepath.Join(dir, "python3"))
	}
	for _, c := range append(candidates, "/usr/bin/python3") {
		if exec.Command(c, "-c", "import junitparser").Run() == nil {
			return c
		}
	}
	t.Skip("no python3 with junitparser (Debian: python3-junitparser)")
	return ""
}

// checkIdentity reads a merged results.xml with junitparser, a consumer
// that keys testcases on (classname, name) as Jenkins does, and checks that
// no two testcases share that key and that the deciding task's testcases
// keep exactly the classname and name pytest gave them in its own file.
func checkIdentity(t *testing.T, ws, decidingRole string) {
	t.Helper()
	python := junitparserPython(t)
	l := workspace.New(ws)
	out, err := exec.Command(python, "-c", junitparserScript, l.Results()).Output()
	if err != nil {
		t.Fatalf("junitparser cannot read results.xml: %v", err)
	}
	var cases [][3]string
	if err := json.Unmarshal(out, &cases); err != nil {
		t.Fatalf("junitparser's output %q: %v", out, err)
	}
	bySuite := map[[2]string]string{}
	for _, c := range cases {
		key := [2]string{c[1], c[2]}
		if other, dup := bySuite[key]; dup {
			t.Errorf("testcase classname=%q name=%q is in suites %s and %s", c[1], c[2], other, c[0])
		}
		bySuite[key] = c[0]
	}

	raw, err := os.ReadFile(l.Junit(decidingRole, 0))
	if err != nil {
		t.Fatalf("the deciding task's own junit file: %v", err)
	}
	var own struct {
		Cases []struct {
			Classname string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
		} `xml:"testsuite>testcase"`
	}
	if err := xml.Unmarshal(raw, &own); err != nil || len(own.Cases) == 0 {
		t.Fatalf("the deciding task's junit file holds no testcase (%v):\n%s", err, raw)
	}
	for _, c := range own.Cases {
		suite, ok := bySuite[[2]string{c.Classname, c.Name}]
		if !ok || !strings.HasPrefix(suite, decidingRole+"/rank0") {
			t.Errorf("pytest's testcase %s::%s is not in results.xml under %s rank 0 (suite %q)", c.Classname, c.Name, decidingRole, suite)
		}
	}
}
