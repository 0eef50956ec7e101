package procgroup

import (
	"errors"
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
// a scan of every process: a shell, its child, and a setsid'ed one.
func TestProcessTreeMatchesProcessTable(t *testing.T) {
	if _, err := children(os.Getpid()); errors.Is(err, errNoChildrenFile) {
		t.Skip("this kernel has no children files: processTree is processTable")
	}
	pidFile := t.TempDir() + "/pids"
	// The shell's builtin echo writes the pids: no process comes and goes
	// between the two scans.
	cmd := exec.Command("sh", "-c", `sleep 30 & a=$!; setsid sleep 31 & echo $a $! $$ > "$1"; wait`, "sh", pidFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	t.Cleanup(func() {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			for _, f := range strings.Fields(string(b)) {
				pid, _ := strconv.Atoi(f)
				pids = append(pids, pid)
			}
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
	for _, pid := range pids {
		if !slices.Contains(got, pid) {
			t.Errorf("pid %d (of %v) not among the descendants %v", pid, pids, got)
		}
	}
}
