package procgroup

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestRunning(t *testing.T) {
	if !Running(os.Getpid()) {
		t.Error("this process is not running?")
	}
	// An exited child not yet waited for is a zombie: not running.
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for Running(pid) {
		if time.Now().After(deadline) {
			t.Fatal("an exited, unreaped child still counts as running")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Wait()
	if Running(pid) {
		t.Error("a reaped child counts as running")
	}
}

// Stop reaches grandchildren that ignore SIGTERM: the whole group is killed.
func TestStopKillsTheGroup(t *testing.T) {
	cmd := exec.Command("sh", "-c", `trap "" TERM; sleep 100 & echo $!; wait`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	g, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	var grandchild int
	buf := make([]byte, 32)
	n, _ := out.Read(buf)
	for _, c := range buf[:n] {
		if c >= '0' && c <= '9' {
			grandchild = grandchild*10 + int(c-'0')
		}
	}
	if killed := g.Stop(200 * time.Millisecond); !killed {
		t.Error("a leader ignoring SIGTERM ended without SIGKILL")
	}
	if r := g.Result(); r.Signal != syscall.SIGKILL || r.ExitCode != 137 {
		t.Errorf("result %+v, want killed by SIGKILL (137)", r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for Running(grandchild) {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d survived the group's SIGKILL", grandchild)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
