package noderun

import (
	"context"
	"os"
	"syscall"
	"time"

	"github.com/noderun/noderun/internal/atomicfile"
	"github.com/noderun/noderun/internal/workspace"
)

// stopPoll is how often a runner looks for its step's stop request: one
// stat of a file on the shared workspace.
const stopPoll = 100 * time.Millisecond

// A file, not `scancel --signal=INT`: depending on the proctrack plugin
// that signal also reaches the child, and a pytest interrupted twice writes
// no junit. The file reaches the runner alone, which sends one SIGINT.

// requestStop writes the stop request of a step in one attempt: a
// requeued job's next attempt never sees it.
func requestStop(ws workspace.Layout, attempt workspace.Attempt, role string) error {
	return atomicfile.WriteFile(ws.StopFile(attempt.Key(), role), nil, 0o644)
}

// withStopRequest returns a channel that carries what sigs carries, plus
// one SIGINT when the stop request file appears. It ends with ctx.
func withStopRequest(ctx context.Context, sigs <-chan os.Signal, stopFile string) <-chan os.Signal {
	out := make(chan os.Signal, 8)
	go func() {
		t := time.NewTicker(stopPoll)
		defer t.Stop()
		poll := t.C
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				select {
				case out <- s:
				case <-ctx.Done():
					return
				}
			case <-poll:
				if _, err := os.Stat(stopFile); err == nil {
					poll = nil
					select {
					case out <- syscall.SIGINT:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()
	return out
}
