package noderun

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// stepLog copies a child's output into its task log and into the step's
// shared log (Step.Log), which every task of the step appends to.
// The child writes into a pipe the runner made itself: exec.Cmd would
// otherwise wait in Wait for descendants that keep the output open.
type stepLog struct {
	child  *os.File // the child's stdout and stderr
	read   *os.File
	shared *os.File
	copied chan struct{}
	once   sync.Once
}

func openStepLog(taskLog io.Writer, path string) (*stepLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create the step log's directory: %w", err)
	}
	shared, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open the step log: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		shared.Close()
		return nil, fmt.Errorf("make the output pipe: %w", err)
	}
	s := &stepLog{child: w, read: r, shared: shared, copied: make(chan struct{})}
	go func() {
		defer close(s.copied)
		_, _ = io.Copy(bothLogs{taskLog, shared}, r)
	}()
	return s, nil
}

// bothLogs writes to both logs and never fails: a log that stops taking
// output must not stop the other, nor leave the child blocked on a full pipe.
type bothLogs struct{ a, b io.Writer }

func (w bothLogs) Write(p []byte) (int, error) {
	_, _ = w.a.Write(p)
	_, _ = w.b.Write(p)
	return len(p), nil
}

// started drops the runner's copy of the write end, so that the copy ends
// when the child's group has closed it.
func (s *stepLog) started() { s.child.Close() }

// close waits up to wait for the output still in the pipe, then cuts off
// whatever descendants still hold it, and returns once nothing more is
// written to either log.
func (s *stepLog) close(wait time.Duration) {
	s.once.Do(func() {
		s.child.Close()
		select {
		case <-s.copied:
		case <-time.After(wait):
		}
		s.read.Close()
		<-s.copied
		s.shared.Close()
	})
}
