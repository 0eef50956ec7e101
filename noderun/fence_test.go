package noderun

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Only rank 0 lists the markers: any other rank is released by the go file
// alone, never by the markers, which is what keeps a waiting task's cost
// independent of the step's size.
func TestStartFenceOthersWaitForGo(t *testing.T) {
	dir := t.TempDir()
	for r := 0; r < 8; r++ {
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(r)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		done <- (&startFence{Dir: dir, Rank: 5, Tasks: 8, Timeout: 30 * time.Second}).Wait(context.Background())
	}()
	select {
	case err := <-done:
		t.Fatalf("rank 5 passed a fence nobody opened, every marker there: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := os.WriteFile(filepath.Join(dir, fenceGo), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the go file did not release rank 5")
	}
}

// Rank 0 opens the fence only once every marker is there; a rank whose
// fence never opens names the missing ranks, rank 0 included.
func TestStartFenceRankZeroOpens(t *testing.T) {
	dir := t.TempDir()
	for _, r := range []string{"1", "2"} {
		if err := os.WriteFile(filepath.Join(dir, r), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := (&startFence{Dir: dir, Rank: 1, Tasks: 3, Timeout: 300 * time.Millisecond}).Wait(context.Background())
	if err == nil || !strings.Contains(err.Error(), "missing ranks [0]") {
		t.Errorf("rank 1 without rank 0: %v", err)
	}
	if err := (&startFence{Dir: dir, Rank: 0, Tasks: 3, Timeout: 5 * time.Second}).Wait(context.Background()); err != nil {
		t.Fatalf("rank 0 with every marker there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, fenceGo)); err != nil {
		t.Errorf("rank 0 passed without opening the fence: %v", err)
	}
	// Everyone arrived but rank 0 never opened the fence (it died after
	// leaving its marker): the others say so rather than name nobody.
	dir = t.TempDir()
	for _, r := range []string{"0", "1"} {
		if err := os.WriteFile(filepath.Join(dir, r), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err = (&startFence{Dir: dir, Rank: 1, Tasks: 2, Timeout: 200 * time.Millisecond}).Wait(context.Background())
	if err == nil || !strings.Contains(err.Error(), "rank 0 did not open the fence") {
		t.Errorf("rank 0 gone after arriving: %v", err)
	}
}
