package junitmerge

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// noderun stops a step with SIGINT so that pytest writes its junit. pytest
// then writes the tests that completed plus an empty, nameless testcase;
// that one must not count as a pass.
func TestMergeInterruptedPytest(t *testing.T) {
	python := pytestPython(t)
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	module := "import time, pathlib\n" +
		"def test_done():\n    pass\n" +
		"def test_slow():\n    pathlib.Path(" + `"` + started + `"` + ").touch()\n    time.sleep(60)\n"
	if err := writeFile(filepath.Join(dir, "test_int.py"), module); err != nil {
		t.Fatal(err)
	}
	junit := filepath.Join(dir, "junit.xml")
	cmd := exec.Command(python, "-m", "pytest", "-p", "no:cacheprovider", "--junit-xml="+junit, "test_int.py")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("pytest never reached test_slow")
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	doc, report, err := MergeFiles([]string{junit}, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range unsealed(t, doc).Suites {
		for _, c := range s.Cases {
			names = append(names, c.Name+":"+c.Status())
		}
	}
	if len(names) != 1 || names[0] != "test_done:"+StatusPassed {
		t.Errorf("testcases %v, want only test_done passed", names)
	}
	if report.Total.Passed != 1 {
		t.Errorf("passed = %d, want 1", report.Total.Passed)
	}
}
