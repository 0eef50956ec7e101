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

// fencePoll is how often a task looks for the other tasks' markers. The
// markers live on the shared workspace, so this is one directory listing
// per poll per task; 50 ms keeps that cheap even for hundreds of tasks.
const fencePoll = 50 * time.Millisecond

// startFence makes every task of a step wait until all of them arrived,
// replacing the reference's marker-file barrier (3600 s) with a bounded one
// that says who is missing.
type startFence struct {
	Dir     string // shared: WS/.noderun/fence/<job>.<restart>/<role>
	Rank    int
	Tasks   int
	Timeout time.Duration
}

// Wait leaves this task's marker and returns once Tasks markers exist.
func (f *startFence) Wait(ctx context.Context) error {
	if err := atomicfile.WriteFile(filepath.Join(f.Dir, strconv.Itoa(f.Rank)), nil, 0o644); err != nil {
		return exitcode.With(exitcode.FenceTimeout, fmt.Errorf("leave start marker: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	t := time.NewTicker(fencePoll)
	defer t.Stop()
	for {
		missing := f.missing()
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("start fence: %d of %d tasks arrived within %s; missing ranks %v", f.Tasks-len(missing), f.Tasks, f.Timeout, missing)
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				err = fmt.Errorf("start fence: %w", ctx.Err())
			}
			return exitcode.With(exitcode.FenceTimeout, err)
		case <-t.C:
		}
	}
}

// missing lists the ranks without a marker, from one directory listing:
// the fence directory is on the shared filesystem, polled by every task.
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
