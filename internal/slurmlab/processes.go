package slurmlab

import (
	"github.com/noderun/noderun/internal/procgroup"

	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Process is a live process found by Processes.
type Process struct {
	PID int
	// Cmdline is the command line, arguments joined by spaces.
	Cmdline string
}

// String formats the process for a test failure message.
func (p Process) String() string { return fmt.Sprintf("pid %d: %s", p.PID, p.Cmdline) }

// Processes lists the live processes of this host (all lab nodes share it)
// whose command line or environment contains substr, such as a workspace
// path: noderun's tasks and their children name the workspace in argv or
// inherit NODERUN_WORKSPACE. Zombies and this process are left out, and so
// are processes that end while being read. Reading other users' environments
// needs root, as the lab runs jobs as root.
func Processes(substr string) ([]Process, error) {
	if substr == "" {
		return nil, fmt.Errorf("list processes: empty pattern would match every process")
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	needle := []byte(substr)
	var found []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue // gone, or a zombie / kernel thread (empty cmdline)
		}
		if !procgroup.Running(pid) {
			continue // a zombie holds nothing and cannot be killed: no orphan
		}
		match := bytes.Contains(cmdline, needle)
		if !match {
			env, err := os.ReadFile(filepath.Join(dir, "environ"))
			match = err == nil && bytes.Contains(env, needle)
		}
		if match {
			args := strings.TrimRight(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})), " ")
			found = append(found, Process{PID: pid, Cmdline: args})
		}
	}
	return found, nil
}

// WaitNoProcesses waits until Processes(substr) finds nothing and returns
// nil, or returns the processes still there when ctx ends.
func WaitNoProcesses(ctx context.Context, substr string) ([]Process, error) {
	for {
		procs, err := Processes(substr)
		if err != nil {
			return nil, err
		}
		if len(procs) == 0 {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return procs, fmt.Errorf("%d processes matching %q still run: %w", len(procs), substr, ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}
