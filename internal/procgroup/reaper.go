package procgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// BecomeSubreaper makes this process a child subreaper: a descendant whose
// parent exits (a double fork, a daemon that setsid'ed) is reparented to it
// instead of to init, so KillDescendants still finds it. Leaving its process
// group is not enough to outlive a task.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become a child subreaper: %w", err)
	}
	return nil
}

// killRounds bounds KillDescendants: a descendant may fork while it is
// being killed, and its child shows up in the next scan.
const killRounds = 50

// Descendants lists the living descendants of this process.
func Descendants() ([]int, error) {
	procs, err := processTree(os.Getpid())
	if err != nil {
		return nil, err
	}
	var out []int
	for _, pid := range descendants(procs, os.Getpid(), nil) {
		if !procs[pid].zombie {
			out = append(out, pid)
		}
	}
	return out, nil
}

// KillDescendants SIGKILLs every living descendant of this process but
// the spared ones and theirs, whatever its process group or session, reaps
// those reparented to it, and returns their pids. It is for the end of a
// task, when this process has reaped the children it waits for itself: it
// reaps only processes it killed.
func KillDescendants(spare ...int) ([]int, error) {
	self := os.Getpid()
	spared := map[int]bool{}
	for _, pid := range spare {
		spared[pid] = true
	}
	var killed []int
	seen := map[int]bool{}
	for round := 0; round < killRounds; round++ {
		procs, err := processTree(self)
		if err != nil {
			return killed, err
		}
		desc := descendants(procs, self, spared)
		if len(desc) == 0 {
			return killed, nil
		}
		dead := map[int]bool{}
		for _, pid := range desc {
			dead[pid] = procs[pid].zombie
			if dead[pid] {
				continue
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
				dead[pid] = true
				if !seen[pid] {
					seen[pid] = true
					killed = append(killed, pid)
				}
			}
		}
		// Reap the orphans now ours; the others are reaped by their parents,
		// which die in this round too, or become ours in the next.
		for _, pid := range desc {
			if procs[pid].ppid == self && dead[pid] {
				_, _ = unix.Wait4(pid, nil, 0, nil)
			}
		}
		time.Sleep(time.Millisecond)
	}
	return killed, errors.New("kill descendants: they kept forking")
}

// proc is a process as /proc/<pid>/stat shows it.
type proc struct {
	ppid   int
	zombie bool
}

// processTree reads root's descendants from /proc: through each thread's
// children file where the kernel has one, so a task's cost does not grow
// with the node's other processes (hundreds of runners on a big node, or a
// whole lab on one machine); else every process's stat.
func processTree(root int) (map[int]proc, error) {
	procs := map[int]proc{}
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		kids, err := children(pid)
		if errors.Is(err, errNoChildrenFile) {
			return processTable()
		}
		if err != nil && pid == root {
			return nil, err
		}
		for _, c := range kids {
			if _, dup := procs[c]; dup {
				continue
			}
			// The stat's parent, not the listing's: a pid listed by a
			// parent that died meanwhile is placed where it now is.
			if p, ok := readStat(c); ok {
				procs[c] = p
				queue = append(queue, c)
			}
		}
	}
	return procs, nil
}

var errNoChildrenFile = errors.New("no /proc/<pid>/task/<tid>/children (kernel without CONFIG_PROC_CHILDREN)")

// children lists pid's children from each of its threads' children file.
// The kernel may miss a child that exits while the file is read;
// KillDescendants walks again until a walk finds nothing. A process gone meanwhile
// has no children (err only says why, for the root).
func children(pid int) ([]int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/children")
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat(dir + "/" + t.Name()); serr == nil {
				return nil, errNoChildrenFile
			}
			continue // the thread ended meanwhile
		}
		for _, f := range bytes.Fields(b) {
			if c, err := strconv.Atoi(string(f)); err == nil {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// processTable reads every process's parent from /proc.
func processTable() (map[int]proc, error) {
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	procs := make(map[int]proc, len(dir))
	for _, e := range dir {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readStat(pid); ok {
			procs[pid] = p
		}
	}
	return procs, nil
}

// readStat reads a process's parent and whether it is dead from
// /proc/<pid>/stat; false when it is gone.
func readStat(pid int) (proc, bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	// "pid (comm) S ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return proc{}, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 2 {
		return proc{}, false
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return proc{}, false
	}
	return proc{ppid: ppid, zombie: string(f[0]) == "Z" || string(f[0]) == "X"}, true
}

// descendants lists the descendants of root in procs, parents first,
// leaving out the spared ones and their own descendants.
func descendants(procs map[int]proc, root int, spared map[int]bool) []int {
	kids := map[int][]int{}
	for pid, p := range procs {
		kids[p.ppid] = append(kids[p.ppid], pid)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range kids[pid] {
			if spared[c] {
				continue
			}
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
