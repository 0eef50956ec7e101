package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/procgroup"
	"github.com/noderun/noderun/internal/slurmlab"
	"github.com/noderun/noderun/internal/testbin"
	"github.com/noderun/noderun/internal/workspace"
)

// A real SIGTERM to the `noderun run` process reaches its child's whole
// process group (grandchild included) within 100 ms, and the runner exits
// 143 with a record of the stop: what scancel relies on.
func TestRunnerForwardsSIGTERM(t *testing.T) {
	bin := testbin.Path(t)
	ws := t.TempDir()
	pids := filepath.Join(ws, "pids")
	spec := &jobspec.Spec{
		Version: jobspec.Version, Workspace: ws, NodeLocalDir: filepath.Join(ws, "local"), Nodes: 1,
		Timeouts: jobspec.Timeouts{KillGrace: jobspec.Duration(5 * time.Second)},
		GPU:      jobspec.GPUPolicy{Precheck: "off"},
		Steps: []jobspec.Step{{Role: jobspec.RoleBenchmark, Kind: jobspec.KindBenchmark, Nodes: 1, Tasks: 1, TasksPerNode: 1,
			GPUMode: jobspec.GPUModeNone,
			Command: jobspec.Command{Argv: []string{"sh", "-c", `sleep 100 & echo $$ $! > "$1.tmp"; mv "$1.tmp" "$1"; wait`, "sh", pids}}}},
	}
	specPath := filepath.Join(ws, "job.json")
	if err := spec.Save(specPath); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--spec", specPath, "--role", jobspec.RoleBenchmark)
	cmd.Env = append(os.Environ(), "SLURM_JOB_ID=3", "SLURM_STEP_ID=1",
		"SLURM_PROCID=0", "SLURM_LOCALID=0", "SLURM_NODEID=0", "SLURMD_NODENAME=n1", "SLURM_JOB_NODELIST=n1",
		"SLURM_STEP_NODELIST=n1", "SLURM_NTASKS=1", "SLURM_STEP_NUM_TASKS=1", "SLURM_JOB_NUM_NODES=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var child, grandchild int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if b, err := os.ReadFile(pids); err == nil {
			f := strings.Fields(string(b))
			child, _ = strconv.Atoi(f[0])
			grandchild, _ = strconv.Atoi(f[1])
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the child never started")
		}
	}
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	for procgroup.Running(child) || procgroup.Running(grandchild) {
		if time.Since(sent) > 5*time.Second {
			t.Fatal("child or grandchild still alive 5 s after SIGTERM")
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(sent)
	t.Logf("process group gone %s after SIGTERM", took)
	if took > 100*time.Millisecond {
		t.Errorf("the process group was gone %s after SIGTERM, want within 100 ms", took)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 143 {
		t.Errorf("runner exit: %v, want status 143", err)
	}
	rec, err := workspace.LoadTaskRecord(workspace.New(ws).TaskRecord(jobspec.RoleBenchmark, 0))
	if err != nil || !rec.Stopped || rec.ExitCode != 143 || rec.Signal != "SIGTERM" {
		t.Errorf("task record %+v, %v", rec, err)
	}
}

// `noderun run` without --role is a usage error that says who passes it;
// it does not guess the role from DISAGG_SERVING_TYPE.
func TestRunRequiresRole(t *testing.T) {
	t.Setenv("NODERUN_RUN_ROLE", "")
	t.Setenv("DISAGG_SERVING_TYPE", jobspec.RoleBenchmark)
	var stdout, stderr bytes.Buffer
	err := NewApp(Options{Stdout: &stdout, Stderr: &stderr}).Run([]string{"noderun", "run", "--spec", filepath.Join(t.TempDir(), "job.json")})
	if code := exitcode.Of(err); code != exitcode.Usage {
		t.Errorf("exit status %d (%v), want %d", code, err, exitcode.Usage)
	}
	if err == nil || !strings.Contains(err.Error(), "--role") || !strings.Contains(err.Error(), "noderun job") {
		t.Errorf("error %q must name --role and say that `noderun job` passes it", err)
	}
}

// What the child detaches (a setsid'ed daemon, a double-forked one that
// setsid'ed too) leaves the child's process group, but not its task: the
// runner, a child subreaper, kills it when the task ends.
func TestRunnerKillsDetachedDescendants(t *testing.T) {
	bin := testbin.Path(t)
	ws := t.TempDir()
	spec := &jobspec.Spec{
		Version: jobspec.Version, Workspace: ws, NodeLocalDir: filepath.Join(ws, "local"), Nodes: 1,
		Timeouts: jobspec.Timeouts{KillGrace: jobspec.Duration(2 * time.Second)},
		GPU:      jobspec.GPUPolicy{Precheck: "off"},
		Steps: []jobspec.Step{{Role: jobspec.RoleBenchmark, Kind: jobspec.KindBenchmark, Nodes: 1, Tasks: 1, TasksPerNode: 1,
			GPUMode: jobspec.GPUModeNone,
			Command: jobspec.Command{Argv: []string{"sh", "-c", `setsid sleep 300 & (setsid sleep 301 &); sleep 0.2`}}}},
	}
	specPath := filepath.Join(ws, "job.json")
	if err := spec.Save(specPath); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--spec", specPath, "--role", jobspec.RoleBenchmark)
	cmd.Env = append(os.Environ(), "SLURM_JOB_ID=4", "SLURM_STEP_ID=1",
		"SLURM_PROCID=0", "SLURM_LOCALID=0", "SLURM_NODEID=0", "SLURMD_NODENAME=n1", "SLURM_JOB_NODELIST=n1",
		"SLURM_STEP_NODELIST=n1", "SLURM_NTASKS=1", "SLURM_STEP_NUM_TASKS=1", "SLURM_JOB_NUM_NODES=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("noderun run: %v\n%s", err, out)
	}
	// Every process of the task has NODERUN_WORKSPACE in its environment.
	left, err := slurmlab.Processes(ws)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range left {
		syscall.Kill(p.PID, syscall.SIGKILL)
		t.Errorf("outlived its task: %s", p)
	}
}

// What the node's setup leaves running (a daemon every task of the node
// uses) outlives the task that ran the setup; what the child leaves does not.
func TestRunnerSparesSetupDaemons(t *testing.T) {
	bin := testbin.Path(t)
	ws := t.TempDir()
	pidFile := filepath.Join(ws, "setup-daemon.pid")
	spec := &jobspec.Spec{
		Version: jobspec.Version, Workspace: ws, NodeLocalDir: filepath.Join(ws, "local"), Nodes: 1,
		Timeouts: jobspec.Timeouts{KillGrace: jobspec.Duration(2 * time.Second), Setup: jobspec.Duration(30 * time.Second)},
		GPU:      jobspec.GPUPolicy{Precheck: "off"},
		Setup:    &jobspec.Command{Argv: []string{"sh", "-c", `setsid sh -c 'echo $$ > "$1"; exec sleep 302' sh "$1" & while [ ! -s "$1" ]; do sleep 0.01; done`, "sh", pidFile}},
		Steps: []jobspec.Step{{Role: jobspec.RoleBenchmark, Kind: jobspec.KindBenchmark, Nodes: 1, Tasks: 1, TasksPerNode: 1,
			GPUMode: jobspec.GPUModeNone,
			Command: jobspec.Command{Argv: []string{"sh", "-c", `(setsid sleep 301 &); sleep 0.2`}}}},
	}
	specPath := filepath.Join(ws, "job.json")
	if err := spec.Save(specPath); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--spec", specPath, "--role", jobspec.RoleBenchmark)
	cmd.Env = append(os.Environ(), "SLURM_JOB_ID=5", "SLURM_STEP_ID=1",
		"SLURM_PROCID=0", "SLURM_LOCALID=0", "SLURM_NODEID=0", "SLURMD_NODENAME=n1", "SLURM_JOB_NODELIST=n1",
		"SLURM_STEP_NODELIST=n1", "SLURM_NTASKS=1", "SLURM_STEP_NUM_TASKS=1", "SLURM_JOB_NUM_NODES=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("noderun run: %v\n%s", err, out)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	daemon, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if daemon <= 0 || !procgroup.Running(daemon) {
		t.Errorf("the setup's daemon (pid %d) was killed with the task", daemon)
	} else {
		syscall.Kill(daemon, syscall.SIGKILL)
	}
	// The child's processes carry NODERUN_WORKSPACE; the setup's do not.
	left, err := slurmlab.Processes(ws)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range left {
		syscall.Kill(p.PID, syscall.SIGKILL)
		t.Errorf("the child's leftover outlived its task: %s", p)
	}
}
