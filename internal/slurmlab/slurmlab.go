// Package slurmlab lets integration tests use the local Slurm lab that
// scripts/slurm-lab.sh runs: several slurmd "nodes" (n1..nN, 4 CPUs unless
// started with --cpus, and 4 fake GPUs each) on this one machine.
//
// Tests never start the lab themselves: scripts/test.sh starts it once and
// exports NODERUN_SLURM_LAB, so `go test` without the script (or with -short)
// skips every test that calls Require. Starting daemons as root from inside a
// test binary would make `go test ./...` surprising on a developer's machine.
//
// The lab's settings that tests may rely on (see scripts/slurm-lab.sh):
// KillWait=2 (SIGTERM to SIGKILL on cancel or time limit), MinJobAge=5 (a
// finished job leaves squeue 5 to 60 s after it ended), MpiDefault=none, no
// accounting (no sacct), jobs run as root, and every node shares this host, so
// a task's node is SLURMD_NODENAME, never its hostname.
package slurmlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvVar names the lab folder. scripts/test.sh sets it after the lab is up.
const EnvVar = "NODERUN_SLURM_LAB"

// Lab is a running lab.
type Lab struct {
	// Dir is the lab folder (scripts/slurm-lab.sh --dir).
	Dir string
	// Conf is the lab's slurm.conf, what SLURM_CONF must name.
	Conf string
	// Nodes is the number of nodes, n1..Nodes.
	Nodes int
	// KillWait and Proctrack are the lab's KillWait and ProctrackType
	// (slurm-lab.sh start --kill-wait, --proctrack).
	KillWait  time.Duration
	Proctrack string
}

// The settings the tests rely on: a cancelled task is SIGKILLed 2 s after
// its SIGTERM, and slurmstepd finds every descendant of a task, as the
// no-orphan tests need (noderun runs pytest in a process group of its own).
const (
	testKillWait  = 2 * time.Second
	testProctrack = "linuxproc"
)

// pollEvery is how often the Wait helpers look again; squeue and /proc are
// cheap on a lab of a few nodes.
const pollEvery = 100 * time.Millisecond

// Require returns the lab named by NODERUN_SLURM_LAB, or skips the test when
// the variable is unset or -short is given. A lab that is named but missing or
// not answering fails the test: the suite was asked for Slurm and must not
// quietly pass without it.
func Require(t testing.TB) *Lab {
	t.Helper()
	dir := os.Getenv(EnvVar)
	if dir == "" {
		t.Skipf("no Slurm lab: %s is unset (scripts/test.sh starts the lab and sets it; "+
			"by hand: scripts/slurm-lab.sh start && eval \"$(scripts/slurm-lab.sh env)\")", EnvVar)
	}
	if testing.Short() {
		t.Skip("Slurm lab tests are skipped in -short mode")
	}
	lab, err := Open(dir)
	if err == nil {
		err = lab.fitForTests()
	}
	if err != nil {
		t.Fatalf("%s=%s: %v", EnvVar, dir, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := lab.Run(ctx, "sinfo", "-h", "-o", "%D"); err != nil {
		t.Fatalf("%s=%s: the lab does not answer (run scripts/slurm-lab.sh start --dir %s): %v", EnvVar, dir, dir, err)
	}
	return lab
}

// Open describes the lab in dir without contacting it.
func Open(dir string) (*Lab, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("open lab: %q is not an absolute path", dir)
	}
	l := &Lab{Dir: dir, Conf: filepath.Join(dir, "etc", "slurm.conf")}
	if _, err := os.Stat(l.Conf); err != nil {
		return nil, fmt.Errorf("open lab: %w (start it with scripts/slurm-lab.sh start --dir %s)", err, dir)
	}
	if err := l.readConf(filepath.Join(dir, "run", "lab.conf")); err != nil {
		return nil, fmt.Errorf("open lab: %w", err)
	}
	return l, nil
}

// readConf reads the file slurm-lab.sh writes at start: nodes=N, and
// kill_wait= and proctrack= (absent from a lab started before those
// options: 2 and linuxproc).
func (l *Lab) readConf(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	l.KillWait, l.Proctrack = testKillWait, testProctrack
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, v, _ := strings.Cut(sc.Text(), "=")
		switch key {
		case "nodes":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("%s: bad node count %q", path, v)
			}
			l.Nodes = n
		case "kill_wait":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("%s: bad kill_wait %q", path, v)
			}
			l.KillWait = time.Duration(n) * time.Second
		case "proctrack":
			l.Proctrack = v
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if l.Nodes == 0 {
		return fmt.Errorf("%s: no nodes= line", path)
	}
	return nil
}

// fitForTests says why the tests cannot use the lab, if they cannot: a lab
// started with another KillWait or process tracking (for a benchmark) makes
// their timing and no-orphan checks fail for reasons of its own.
func (l *Lab) fitForTests() error {
	if l.KillWait == testKillWait && l.Proctrack == testProctrack {
		return nil
	}
	return fmt.Errorf("the lab runs KillWait=%v and proctrack/%s, the tests need KillWait=%v and proctrack/%s "+
		"(restart it: scripts/slurm-lab.sh stop --dir %s && scripts/slurm-lab.sh start --dir %s)",
		l.KillWait, l.Proctrack, testKillWait, testProctrack, l.Dir, l.Dir)
}

// Env returns the environment for a command that talks to the lab: this
// process's environment without any SLURM_* variable (a test run inside a
// Slurm job must not leak its job into the lab's), plus SLURM_CONF.
func (l *Lab) Env() []string {
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SLURM_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "SLURM_CONF="+l.Conf)
}

// Command returns name with args, set up to talk to the lab.
func (l *Lab) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = l.Env()
	return cmd
}

// Run runs a Slurm command against the lab and returns its trimmed standard
// output; a failure carries the command's standard error.
func (l *Lab) Run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := l.Command(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("run %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// activeStates are the job states in which a job may still own processes.
var activeStates = map[string]bool{
	"PENDING": true, "CONFIGURING": true, "RUNNING": true, "COMPLETING": true,
	"SUSPENDED": true, "REQUEUED": true, "REQUEUE_HOLD": true, "REQUEUE_FED": true,
	"RESIZING": true, "SIGNALING": true, "STAGE_OUT": true, "STOPPED": true,
}

// Active reports whether a job in state may still run or own processes.
func Active(state string) bool { return activeStates[state] }

// Squeue returns the job's state as squeue prints it (RUNNING, COMPLETED,
// CANCELLED, TIMEOUT, ...), or "" once the controller has forgotten the job
// (MinJobAge after its end).
func (l *Lab) Squeue(ctx context.Context, jobID string) (string, error) {
	cmd := l.Command(ctx, "squeue", "-h", "-t", "all", "-j", jobID, "-o", "%T")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// squeue fails for an id the controller no longer knows.
		if strings.Contains(stderr.String(), "Invalid job id") {
			return "", nil
		}
		return "", fmt.Errorf("squeue job %s: %w: %s", jobID, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// Scancel cancels the job; extra args (e.g. --signal=USR2, --batch) go
// before the job id.
func (l *Lab) Scancel(ctx context.Context, jobID string, args ...string) error {
	_, err := l.Run(ctx, "scancel", append(args, jobID)...)
	return err
}

// WaitState waits until the job is in one of states and returns the state.
func (l *Lab) WaitState(ctx context.Context, jobID string, states ...string) (string, error) {
	var last string
	for {
		st, err := l.Squeue(ctx, jobID)
		if err == nil {
			last = st
			for _, want := range states {
				if st == want {
					return st, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("wait for job %s to be %s: last state %q: %w", jobID, strings.Join(states, " or "), last, ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

// WaitGone waits until the job has ended completely (no longer pending,
// running or completing, so Slurm has reaped its steps) and returns the last
// state squeue showed: COMPLETED, FAILED, CANCELLED, TIMEOUT, ..., or "" when
// the job was already forgotten.
func (l *Lab) WaitGone(ctx context.Context, jobID string) (string, error) {
	var last string
	for {
		st, err := l.Squeue(ctx, jobID)
		if err == nil {
			if !Active(st) {
				if st == "" {
					st = last
				}
				return st, nil
			}
			last = st
		}
		select {
		case <-ctx.Done():
			// Name the last squeue failure too: it is often why we waited.
			return last, fmt.Errorf("wait for job %s to end: last state %q: %w", jobID, last, errors.Join(ctx.Err(), err))
		case <-time.After(pollEvery):
		}
	}
}
