package noderun

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/internal/procgroup"
)

// Like srun --kill-on-bad-exit=1, one failed task ends the step: the others
// get SIGTERM and, after the kill wait, SIGKILL, even when they ignore TERM.
func TestLocalStepKillOnBadExit(t *testing.T) {
	s := &localStep{done: make(chan struct{}), killWait: 300 * time.Millisecond, log: zerolog.Nop()}
	for _, script := range []string{`trap "" TERM; sleep 30`, `sleep 0.2; exit 3`} {
		g, err := procgroup.Start(exec.Command("sh", "-c", script))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.Signal(syscall.SIGKILL) })
		s.tasks = append(s.tasks, g)
	}
	go s.wait()
	select {
	case <-s.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the task that ignores SIGTERM outlived the kill wait")
	}
	if code := s.ExitCode(); code != 3 {
		t.Errorf("step exit code %d, want the failed task's 3", code)
	}
	if r := s.tasks[0].Result(); r.ExitCode != 137 {
		t.Errorf("the task that ignored SIGTERM ended with %+v, want SIGKILL", r)
	}
}
