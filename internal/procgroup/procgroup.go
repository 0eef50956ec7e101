// Package procgroup starts a process in a process group of its own and
// stops the whole group, so that grandchildren (the servers a pytest
// starts) do not outlive it as they do with exec.Cmd.WaitDelay.
package procgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Group is a started process and its process group.
type Group struct {
	cmd  *exec.Cmd
	pgid int
	done chan struct{}
	mu   sync.Mutex
	res  Result
	// stopped is closed when the stop sequence has ended; nil until a stop began.
	stopped chan struct{}
}

// Result is how the process ended.
type Result struct {
	// ExitCode is the exit status, or 128+signal when killed by a signal.
	ExitCode int
	// Signal is set when the process died by a signal.
	Signal syscall.Signal
	// Err is set when waiting failed for another reason.
	Err error
}

// Signaled reports whether the process died by a signal.
func (r Result) Signaled() bool { return r.Signal != 0 }

// Start starts cmd as the leader of a new process group.
func Start(cmd *exec.Cmd) (*Group, error) {
	unignoreStopSignalsInChildren()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &Group{cmd: cmd, pgid: cmd.Process.Pid, done: make(chan struct{})}
	go g.wait()
	return g, nil
}

// unignoreStopSignalsInChildren makes sure the children see the stop
// sequence's signals. A process started with SIGINT ignored (a background
// job of a script, a CI runner) passes that on through exec, so the calm
// stop's SIGINT would never reach pytest. A caught signal is reset to its
// default by exec; catching it into a channel nobody reads keeps this
// process deaf to it, as it was asked to be.
func unignoreStopSignalsInChildren() {
	for _, sig := range []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		if signal.Ignored(sig) {
			signal.Notify(make(chan os.Signal, 1), sig)
		}
	}
}

func (g *Group) wait() {
	err := g.cmd.Wait()
	res := Result{}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws, ok := ee.Sys().(syscall.WaitStatus)
		switch {
		case ok && ws.Signaled():
			res.Signal = ws.Signal()
			res.ExitCode = 128 + int(ws.Signal())
		default:
			res.ExitCode = ee.ExitCode()
		}
	default:
		res.ExitCode = -1
		res.Err = err
	}
	g.mu.Lock()
	g.res = res
	g.mu.Unlock()
	close(g.done)
}

// PID is the leader's pid, which is also the process group id.
func (g *Group) PID() int { return g.pgid }

// Done is closed when the leader has exited.
func (g *Group) Done() <-chan struct{} { return g.done }

// Result returns how the leader ended; valid after Done is closed.
func (g *Group) Result() Result {
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.res
}

// Signal sends sig to every process of the group. A group that is already
// gone is not an error.
func (g *Group) Signal(sig syscall.Signal) error {
	err := syscall.Kill(-g.pgid, sig)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal process group %d: %w", g.pgid, err)
	}
	return nil
}

// Alive reports whether any process of the group still exists (the leader
// may have exited while grandchildren live on).
func (g *Group) Alive() bool {
	return syscall.Kill(-g.pgid, 0) == nil
}

// Stop sends sig to the group and, on the first call, runs the stop
// sequence in the background: SIGTERM halfway through grace when sig is
// SIGINT (pytest writes its junit on INT, but some children end only on
// TERM), SIGKILL of the group when grace ends. A later call only sends its
// signal. escalated, if not nil, is called before each later signal. The
// channel is closed once the leader has exited and its group is gone.
func (g *Group) Stop(sig syscall.Signal, grace time.Duration, escalated func(syscall.Signal)) <-chan struct{} {
	_ = g.Signal(sig)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped == nil {
		g.stopped = make(chan struct{})
		go g.stopSequence(sig, grace, escalated)
	}
	return g.stopped
}

func (g *Group) stopSequence(first syscall.Signal, grace time.Duration, escalated func(syscall.Signal)) {
	defer close(g.stopped)
	escalate := func(sig syscall.Signal) {
		if escalated != nil {
			escalated(sig)
		}
		_ = g.Signal(sig)
	}
	var term <-chan time.Time
	if first == syscall.SIGINT {
		t := time.NewTimer(grace / 2)
		defer t.Stop()
		term = t.C
	}
	kill := time.NewTimer(grace)
	defer kill.Stop()
	for {
		select {
		case <-g.done:
			// Grandchildren may outlive the leader; nothing of a stopped
			// group survives its stop.
			if g.Alive() {
				_ = g.Signal(syscall.SIGKILL)
			}
			return
		case <-term:
			term = nil
			escalate(syscall.SIGTERM)
		case <-kill.C:
			escalate(syscall.SIGKILL)
			<-g.done
			return
		}
	}
}

// SignalName returns the conventional name of sig ("SIGTERM").
func SignalName(sig syscall.Signal) string {
	if sig == 0 {
		return ""
	}
	if n := signalNames[sig]; n != "" {
		return n
	}
	return fmt.Sprintf("SIG%d", int(sig))
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGABRT: "SIGABRT", syscall.SIGBUS: "SIGBUS",
	syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL", syscall.SIGUSR1: "SIGUSR1",
	syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2", syscall.SIGPIPE: "SIGPIPE",
	syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM", syscall.SIGCONT: "SIGCONT",
	syscall.SIGXCPU: "SIGXCPU",
}

// Interrupted is the set of signals a supervisor forwards to its children.
var Interrupted = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2}

// Running reports whether process pid exists and has not exited. A zombie
// (exited, not yet reaped, e.g. reparented to a container's init that does
// not reap) is not running.
func Running(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if !os.IsNotExist(err) {
			// No readable /proc: ask the kernel whether the pid exists.
			err := syscall.Kill(pid, 0)
			return err == nil || errors.Is(err, syscall.EPERM)
		}
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain ") ".
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return true
	}
	state := stat[i+2]
	return state != 'Z' && state != 'X'
}
