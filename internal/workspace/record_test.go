package workspace

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTaskRecords(t *testing.T) {
	ws := New(t.TempDir())
	for _, r := range []*TaskRecord{{Role: "GEN_0", Rank: 1}, {Role: "GEN_0", Rank: 0}, {Role: "BENCHMARK", Rank: 0}} {
		if err := ws.SaveTaskRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	// Names the runner never writes (a temporary file, a foreign file) are
	// skipped; a record that does not parse is reported.
	dir := filepath.Join(ws.TasksDir(), "GEN_0")
	for name, content := range map[string]string{".2.json.tmp-1": "{", "notes.json": "{", "-1.json": "{", "3.json": "{"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recs, errs := ws.TaskRecords()
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s/%d", r.Role, r.Rank))
	}
	if want := "BENCHMARK/0 GEN_0/0 GEN_0/1"; strings.Join(got, " ") != want {
		t.Errorf("records %q, want %s", got, want)
	}
	if len(errs) != 1 {
		t.Errorf("errors %v, want one for 3.json", errs)
	}
}

// A workspace where no task has run yet has no records and no error.
func TestTaskRecordsNone(t *testing.T) {
	recs, errs := New(t.TempDir()).TaskRecords()
	if len(recs) != 0 || len(errs) != 0 {
		t.Errorf("TaskRecords = %v, %v; want nothing", recs, errs)
	}
}

// A record is its owner's only, and an error quoting a command line keeps
// its secrets out; the record passed in is left as it was.
func TestSaveTaskRecordHidesSecrets(t *testing.T) {
	ws := New(t.TempDir())
	rec := &TaskRecord{Role: "GEN_0", Rank: 0, Error: "setup failed: env SETUP_TOKEN=abc123 false: exit status 1"}
	if err := ws.SaveTaskRecord(rec); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(ws.TaskRecord("GEN_0", 0))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("record mode %v, want 0600", info.Mode().Perm())
	}
	saved, err := LoadTaskRecord(ws.TaskRecord("GEN_0", 0))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(saved.Error, "abc123") || !strings.Contains(saved.Error, "SETUP_TOKEN=<redacted>") {
		t.Errorf("saved error %q", saved.Error)
	}
	if !strings.Contains(rec.Error, "abc123") {
		t.Error("SaveTaskRecord changed the record it was given")
	}
}
