package workspace

import (
	"errors"
	"os"
	"sync"
	"testing"
)

// Of submits that claim one workspace at once, exactly one wins, and the
// record is the winner's.
func TestClaimOwnerRace(t *testing.T) {
	ws := New(t.TempDir())
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = ws.ClaimOwner(&Owner{SubmissionID: id})
		}()
	}
	wg.Wait()
	winner := ""
	for i, err := range errs {
		switch {
		case err == nil && winner == "":
			winner = ids[i]
		case err == nil:
			t.Errorf("%s and %s both claimed the workspace", winner, ids[i])
		case !errors.Is(err, os.ErrExist):
			t.Errorf("%s: %v, want os.ErrExist", ids[i], err)
		}
	}
	if o, err := ws.LoadOwner(); err != nil || o.SubmissionID != winner {
		t.Errorf("owner %+v, %v; want %q", o, err, winner)
	}
	if got := files(t, ws.Dir); len(got) != 1 {
		t.Errorf("left %q, want only the owner", got)
	}
}

// RemoveOwner removes the owner it was given, never a newer claim.
func TestRemoveOwner(t *testing.T) {
	ws := New(t.TempDir())
	old := &Owner{JobID: "6", SubmissionID: "a"}
	if err := ws.SaveOwner(&Owner{SubmissionID: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := ws.RemoveOwner(old); !errors.Is(err, ErrOwnerChanged) {
		t.Errorf("remove a changed owner: %v, want ErrOwnerChanged", err)
	}
	if o, err := ws.LoadOwner(); err != nil || o.SubmissionID != "b" {
		t.Errorf("owner %+v, %v; want b's claim kept", o, err)
	}
	if err := ws.SaveOwner(old); err != nil {
		t.Fatal(err)
	}
	if err := ws.RemoveOwner(old); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.LoadOwner(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("owner left: %v", err)
	}
	if err := ws.RemoveOwner(old); err != nil {
		t.Errorf("remove a missing owner: %v", err)
	}
}
