package procgroup

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tree read through the children files holds the same descendants as
// a scan of every process: a child, its child, and a setsid'ed grandchild.
func TestProcessTreeMatchesProcessTable(t *testing.T) {
	pidFile := t.TempDir() + "/pids"
	cmd := exec.Command("sh", "-c", `sleep 30 & setsid sleep 31 & echo $! $$ > "$1.tmp"; mv "$1.tmp" "$1"; wait`, "sh", pidFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b, _ := os.ReadFile(pidFile)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(pidFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shell never wrote its pids")
		}
	}
	self := os.Getpid()
	tree, err := processTree(self)
	if err != nil {
		t.Fatal(err)
	}
	table, err := processTable()
	if err != nil {
		t.Fatal(err)
	}
	got, want := descendants(tree, self, nil), descendants(table, self, nil)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("descendants through the children files %v, through every process %v", got, want)
	}
	b, _ := os.ReadFile(pidFile)
	for _, f := range strings.Fields(string(b)) {
		if pid, _ := strconv.Atoi(f); !slices.Contains(got, pid) {
			t.Errorf("pid %d (of %q) not among the descendants %v", pid, b, got)
		}
	}
	if len(got) < 3 {
		t.Errorf("descendants %v, want the shell and its two sleeps", got)
	}
}
