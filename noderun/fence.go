package noderun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/noderun/noderun/internal/atomicfile"
	"github.com/noderun/noderun/internal/exitcode"
)

// Polling of the fence on the shared workspace. Rank 0 lists the markers;
// every other task only stats the go file, backing off, so a waiting task
// costs the filesystem the same whatever the step's size.
const (
	fencePoll    = 50 * time.Millisecond
	fenceMaxPoll = time.Second
	fenceGo      = "go"
)

// startFence makes every task of a step wait until all of them arrived,
// replacing the reference's marker-file barrier (3600 s) with a bounded one
// that says who is missing.
type startFence struct {
	Dir     string // shared: WS/.noderun/fence/<job>.<restart>/<role>
	Rank    int
	Tasks   int
	Timeout time.Duration
}

// Wait leaves this task's marker and returns once every task has left its
// own: rank 0 sees them all and opens the fence with the go file.
func (f *startFence) Wait(ctx context.Context) error {
	if err := atomicfile.Touch(filepath.Join(f.Dir, strconv.Itoa(f.Rank)), 0o644); err != nil {
		return exitcode.With(exitcode.FenceTimeout, fmt.Errorf("leave start marker: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	poll := fencePoll
	for {
		open, err := f.open()
		if err != nil {
			return exitcode.With(exitcode.FenceTimeout, err)
		}
		if open {
			return nil
		}
		select {
		case <-ctx.Done():
			missing := f.missing()
			err := fmt.Errorf("start fence: %d of %d tasks arrived within %s; missing ranks %v", f.Tasks-len(missing), f.Tasks, f.Timeout, missing)
			if len(missing) == 0 {
				err = fmt.Errorf("start fence: every task arrived, but rank 0 did not open the fence within %s (see its runner log)", f.Timeout)
			}
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				err = fmt.Errorf("start fence: %w", ctx.Err())
			}
			return exitcode.With(exitcode.FenceTimeout, err)
		case <-time.After(poll):
		}
		if f.Rank != 0 {
			poll = min(poll*3/2, fenceMaxPoll)
		}
	}
}

// open reports whether the fence is open. Rank 0 opens it once every
// marker is there; the others look for the go file only.
func (f *startFence) open() (bool, error) {
	goFile := filepath.Join(f.Dir, fenceGo)
	if f.Rank != 0 {
		_, err := os.Stat(goFile)
		return err == nil, nil
	}
	if len(f.missing()) > 0 {
		return false, nil
	}
	if err := atomicfile.Touch(goFile, 0o644); err != nil {
		return false, fmt.Errorf("open the start fence: %w", err)
	}
	return true, nil
}

// missing lists the ranks without a marker, from one directory listing.
func (f *startFence) missing() []int {
	entries, err := os.ReadDir(f.Dir)
	if err != nil {
		entries = nil
	}
	arrived := make(map[int]bool, len(entries))
	for _, e := range entries {
		if rank, err := strconv.Atoi(e.Name()); err == nil {
			arrived[rank] = true
		}
	}
	var missing []int
	for r := 0; r < f.Tasks; r++ {
		if !arrived[r] {
			missing = append(missing, r)
		}
	}
	return missing
}
