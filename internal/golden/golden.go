// Package golden compares test output with golden files under a package's
// testdata/ and rewrites them when the test binary runs with -update.
//
// It exists so that every package's tests share one -update flag and one
// way to report a mismatch, instead of each test file declaring its own flag
// and its own write/read/compare code. Only tests import it.
package golden

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/noderun/noderun/internal/testbin"
)

// update is registered once here; a test binary that imports this package
// must not declare its own -update flag.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Check compares got with the golden file at path (relative to the package
// directory, e.g. testdata/help.golden). With -update it writes got to path
// instead, creating missing directories, and checks nothing. A mismatch
// fails t with the first differing line and the command that accepts the
// new output; a missing file fails t with the command that creates it.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("create directory for golden file: %v", err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("write golden file: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file: %v (run go test %s -update to create it)", err, packageDir(t))
	}
	if bytes.Equal(got, want) {
		return
	}
	line, g, w := firstDiff(got, want)
	t.Errorf("%s differs from the output at line %d:\n  got:  %s\n  want: %s\nrun go test %s -update to accept, then review the diff",
		path, line, g, w, packageDir(t))
}

// firstDiff returns the 1-based number of the first line where got and want
// differ, and both lines quoted so that whitespace shows; a side that has no
// such line says so.
func firstDiff(got, want []byte) (line int, g, w string) {
	gl := bytes.Split(got, []byte("\n"))
	wl := bytes.Split(want, []byte("\n"))
	i := 0
	for i < len(gl) && i < len(wl) && bytes.Equal(gl[i], wl[i]) {
		i++
	}
	quote := func(lines [][]byte) string {
		if i >= len(lines) {
			return "(no such line)"
		}
		return fmt.Sprintf("%q", lines[i])
	}
	return i + 1, quote(gl), quote(wl)
}

// packageDir names the package under test relative to the module root
// (go test runs in the package directory), for the hint in messages.
func packageDir(tb testing.TB) string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	rel, err := filepath.Rel(testbin.RepoRoot(tb), wd)
	if err != nil || rel == "." {
		return "."
	}
	return "./" + filepath.ToSlash(rel)
}

// CheckSection is Check for the lines between the marker lines begin and
// end of a document kept by hand around them, such as a README: the
// section must equal got, and -update rewrites only the section.
func CheckSection(t testing.TB, path, begin, end string, got []byte) {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	b := bytes.Index(doc, []byte(begin+"\n"))
	e := bytes.Index(doc, []byte("\n"+end))
	if b < 0 || e < b {
		t.Fatalf("%s has no section between %q and %q", path, begin, end)
	}
	start, stop := b+len(begin)+1, e+1
	if *update {
		out := append(append(append([]byte(nil), doc[:start]...), got...), doc[stop:]...)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
		return
	}
	if want := doc[start:stop]; !bytes.Equal(got, want) {
		line, g, w := firstDiff(got, want)
		t.Errorf("the section %q of %s differs from the output at its line %d:\n  got:  %s\n  want: %s\nrun go test %s -update to accept, then review the diff",
			begin, path, line, g, w, packageDir(t))
	}
}
