package workspace

import (
	"os"
	"path/filepath"
	"testing"
)

// A requeued job's second attempt starts with the first one's outputs in
// the workspace: they move aside, intact, and are listed; a rerun of the
// same attempt moves nothing.
func TestArchiveEarlier(t *testing.T) {
	ws := New(t.TempDir())
	first := Attempt{Submission: "s1", JobID: "7"}
	rec := &TaskRecord{Role: "GEN_0", JobID: "7", Submission: "s1", State: StateExited, ExitCode: 1}
	if err := ws.SaveTaskRecord(rec); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(ws.TaskLog("GEN_0", 0)), 0o755)
	os.WriteFile(ws.TaskLog("GEN_0", 0), []byte("first\n"), 0o644)
	if err := ws.SaveJobResult(&JobResult{JobID: "7", Submission: "s1", Outcome: OutcomeCancelled}); err != nil {
		t.Fatal(err)
	}
	if dir, err := ws.ArchiveEarlier(first); dir != "" || err != nil {
		t.Fatalf("same attempt: archived to %q (%v), want nothing moved", dir, err)
	}
	dir, err := ws.ArchiveEarlier(Attempt{Submission: "s1", JobID: "7", Restart: 1})
	if err != nil || dir != ws.AttemptDir(first.Key()) {
		t.Fatalf("archive = %q, %v; want %s", dir, err, ws.AttemptDir(first.Key()))
	}
	for _, gone := range []string{ws.TasksDir(), ws.LogsDir(), ws.JobResult()} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s is still there", gone)
		}
	}
	kept := New(dir)
	if b, _ := os.ReadFile(kept.TaskLog("GEN_0", 0)); string(b) != "first\n" {
		t.Errorf("kept log %q", b)
	}
	got, err := ws.Attempts()
	if err != nil || len(got) != 1 {
		t.Fatalf("attempts %+v, %v", got, err)
	}
	if a := got[0]; a.Attempt != 0 || a.JobID != "7" || a.Outcome != OutcomeCancelled || a.Dir != ".noderun/attempts/7.s1.0" {
		t.Errorf("attempt %+v", a)
	}
}

// Records of another attempt are not this one's, whatever their job id.
func TestAttemptOwns(t *testing.T) {
	a := Attempt{Submission: "s2", JobID: "7", Restart: 1}
	for _, c := range []struct {
		rec  TaskRecord
		want bool
	}{
		{TaskRecord{JobID: "7", Submission: "s2", Attempt: 1}, true},
		{TaskRecord{JobID: "7", Submission: "s2", Attempt: 0}, false}, // the earlier attempt
		{TaskRecord{JobID: "7", Submission: "s1", Attempt: 1}, false}, // an earlier job with the same id
		{TaskRecord{JobID: "8", Submission: "s2", Attempt: 1}, false},
		{TaskRecord{JobID: "7", Attempt: 1}, true}, // written before submission ids
	} {
		if got := a.Owns(&c.rec); got != c.want {
			t.Errorf("Owns(%+v) = %v, want %v", c.rec, got, c.want)
		}
	}
}
