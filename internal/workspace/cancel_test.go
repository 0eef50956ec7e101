package workspace

import (
	"testing"
	"time"
)

// A cancel note names the canceller of its own job only, and one taken
// back (scancel failed) names nobody.
func TestCancelNote(t *testing.T) {
	ws := New(t.TempDir())
	since := time.Now().Add(-time.Second)
	if err := ws.WriteCancelNote("7", "noderun cancel"); err != nil {
		t.Fatal(err)
	}
	if n := ws.LoadCancelNote("7", since); n == nil || n.Why != "noderun cancel" || n.By == "" {
		t.Errorf("note of job 7: %+v", n)
	}
	if n := ws.LoadCancelNote("8", since); n != nil {
		t.Errorf("job 8 was credited with job 7's cancel: %+v", n)
	}
	if n := ws.LoadCancelNote("7", time.Now().Add(time.Hour)); n != nil {
		t.Errorf("a note older than the job counts: %+v", n)
	}
	if err := ws.RemoveCancelNote(); err != nil {
		t.Fatal(err)
	}
	if n := ws.LoadCancelNote("7", since); n != nil {
		t.Errorf("a taken-back note still names %s", n.By)
	}
	if err := ws.RemoveCancelNote(); err != nil {
		t.Errorf("removing no note: %v", err)
	}
}
