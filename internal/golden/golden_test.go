package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps failures instead of reporting them, so
// that a test can check what Check says when it fails. The embedded TB is nil:
// calling any method not overridden here panics, which shows Check uses more
// of testing.TB than this test knows about.
type recorder struct {
	testing.TB
	errors []string
	fatal  string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// Fatalf stops the calling goroutine, as testing.T's does.
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// check runs Check on its own goroutine so that Fatalf can end it.
func check(path string, got []byte) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Check(r, path, got)
	}()
	<-done
	return r
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name   string
		golden string // "" means the file does not exist
		got    string
		errors []string // parts of the one Errorf message; nil means none
		fatal  []string // parts of the Fatalf message; nil means none
	}{
		// The ordinary passing case must stay silent.
		{name: "match", golden: "a\nb\n", got: "a\nb\n"},
		// A changed line is named by number, both sides quoted, with the
		// command that accepts it for this package.
		{name: "changed line", golden: "a\nb\nc\n", got: "a\nx \nc\n",
			errors: []string{"line 2", `got:  "x "`, `want: "b"`, "go test ./internal/golden -update to accept"}},
		// Output that stops early: the golden file's extra line is shown and
		// the output side says it has none.
		{name: "shorter output", golden: "a\nb\nc", got: "a\nb",
			errors: []string{"line 3", "got:  (no such line)", `want: "c"`}},
		// Output that goes on past the golden file's end.
		{name: "longer output", golden: "a\n", got: "a\nb\n",
			errors: []string{"line 2", `got:  "b"`, `want: ""`}},
		// Only the final newline is lost: still a mismatch, and one the
		// message can point at.
		{name: "lost final newline", golden: "a\n", got: "a",
			errors: []string{"line 2", "got:  (no such line)", `want: ""`}},
		// A new test without its golden file says how to create it.
		{name: "missing file", got: "a\n", fatal: []string{"read golden file", "-update to create it"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.golden")
			if tc.golden != "" {
				if err := os.WriteFile(path, []byte(tc.golden), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := check(path, []byte(tc.got))
			if tc.errors == nil && len(r.errors) > 0 {
				t.Errorf("unexpected failure: %q", r.errors)
			}
			if tc.errors != nil {
				if len(r.errors) != 1 {
					t.Fatalf("got %d failures %q, want 1", len(r.errors), r.errors)
				}
				for _, part := range tc.errors {
					if !strings.Contains(r.errors[0], part) {
						t.Errorf("message lacks %q:\n%s", part, r.errors[0])
					}
				}
			}
			if tc.fatal == nil && r.fatal != "" {
				t.Errorf("unexpected fatal failure: %q", r.fatal)
			}
			for _, part := range tc.fatal {
				if !strings.Contains(r.fatal, part) {
					t.Errorf("fatal message lacks %q: %q", part, r.fatal)
				}
			}
		})
	}
}

// With -update, Check writes the output (creating directories) whatever the
// old file held, and the next plain run accepts it.
func TestCheckUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "testdata", "sub", "out.golden")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	*update = true
	t.Cleanup(func() { *update = false })
	if r := check(path, []byte("new\n")); len(r.errors) > 0 || r.fatal != "" {
		t.Fatalf("update failed: %q %q", r.errors, r.fatal)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "new\n" {
		t.Fatalf("golden file holds %q (%v), want %q", data, err, "new\n")
	}

	// A directory that does not exist yet is created.
	fresh := filepath.Join(filepath.Dir(path), "new", "out.golden")
	if r := check(fresh, []byte("x")); len(r.errors) > 0 || r.fatal != "" {
		t.Fatalf("update into a new directory failed: %q %q", r.errors, r.fatal)
	}

	*update = false
	if r := check(path, []byte("new\n")); len(r.errors) > 0 || r.fatal != "" {
		t.Errorf("plain run after update failed: %q %q", r.errors, r.fatal)
	}
}
