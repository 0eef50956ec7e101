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
// stat of a file on the shared workspace, so a step of n tasks costs the
// filesystem n stats a second and each runner sees a stop within a second.
const stopPoll = time.Second

// A file, not `scancel --signal=INT`: depending on the proctrack plugin
// that signal also reaches the child, and a pytest interrupted twice writes
// no junit. The file reaches the runner alone, which sends one SIGINT.

// requestStop writes the stop request of a step in one attempt: a
// requeued job's next attempt never sees it.
func requestStop(ws workspace.Layout, attempt workspace.Attempt, role string) error {
	return atomicfile.WriteFile(ws.StopFile(attempt.Key(), role), nil, 0o644)
}

// stopWatch looks for a step's stop request every Every.
type stopWatch struct {
	File  string
	Every time.Duration
	// Tick starts a ticker and returns its channel and its stop; nil:
	// time.NewTicker. Stat looks for File; nil: os.Stat.
	Tick func(time.Duration) (<-chan time.Time, func())
	Stat func(string) (os.FileInfo, error)
}

func newStopWatch(file string) stopWatch { return stopWatch{File: file, Every: stopPoll} }

// withStopRequest returns a channel that carries what sigs carries, plus
// one SIGINT when the stop request file appears. It ends with ctx.
func (w stopWatch) withStopRequest(ctx context.Context, sigs <-chan os.Signal) <-chan os.Signal {
	tick, stat := w.Tick, w.Stat
	if tick == nil {
		tick = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	if stat == nil {
		stat = os.Stat
	}
	out := make(chan os.Signal, 8)
	poll, stopTicker := tick(w.Every)
	go func() {
		defer stopTicker()
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
				if _, err := stat(w.File); err == nil {
					poll = nil
					stopTicker()
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
