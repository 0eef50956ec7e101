package slurmlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Without NODERUN_SLURM_LAB a plain `go test ./...` must skip the lab tests,
// never fail them and never start daemons.
func TestRequireSkipsWithoutLab(t *testing.T) {
	t.Setenv(EnvVar, "")
	var skipped, reached bool
	t.Run("inner", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Require(t)
		reached = true
	})
	if !skipped || reached {
		t.Fatalf("Require with %s unset: skipped=%v, returned=%v; want a skip", EnvVar, skipped, reached)
	}
}

func TestOpen(t *testing.T) {
	write := func(t *testing.T, dir, rel, body string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		files   map[string]string
		rel     bool
		want    int
		wantErr string
		// unfit is what fitForTests says, "" when the tests may use the lab.
		unfit string
	}{
		// What slurm-lab.sh writes: the node count comes from run/lab.conf.
		{name: "lab", files: map[string]string{"etc/slurm.conf": "", "run/lab.conf": "nodes=3\nport_base=17000\n"}, want: 3},
		// A folder without slurm.conf is no lab; the error says how to start one.
		{name: "no conf", files: map[string]string{"run/lab.conf": "nodes=3\n"}, wantErr: "slurm-lab.sh start"},
		// A damaged lab.conf must not silently mean zero nodes.
		{name: "bad count", files: map[string]string{"etc/slurm.conf": "", "run/lab.conf": "nodes=x\n"}, wantErr: "bad node count"},
		{name: "no count", files: map[string]string{"etc/slurm.conf": "", "run/lab.conf": "port_base=1\n"}, wantErr: "no nodes= line"},
		// A benchmark's lab (bench-scale.sh): the tests must not use it.
		{name: "cluster KillWait", files: map[string]string{"etc/slurm.conf": "", "run/lab.conf": "nodes=3\nkill_wait=30\nproctrack=linuxproc\n"},
			want: 3, unfit: "KillWait=30s and proctrack/linuxproc, the tests need KillWait=2s"},
		{name: "pgid", files: map[string]string{"etc/slurm.conf": "", "run/lab.conf": "nodes=3\nkill_wait=2\nproctrack=pgid\n"},
			want: 3, unfit: "proctrack/pgid"},
		{name: "bad kill_wait", files: map[string]string{"etc/slurm.conf": "", "run/lab.conf": "nodes=3\nkill_wait=x\n"}, wantErr: "bad kill_wait"},
		// A relative path would change meaning for jobs that run elsewhere.
		{name: "relative", rel: true, wantErr: "not an absolute path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for rel, body := range tc.files {
				write(t, dir, rel, body)
			}
			if tc.rel {
				dir = "lab"
			}
			lab, err := Open(dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Open: err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if lab.Nodes != tc.want || lab.Conf != filepath.Join(dir, "etc", "slurm.conf") || lab.Dir != dir {
				t.Fatalf("Open = %+v, want %d nodes in %s", lab, tc.want, dir)
			}
			err = lab.fitForTests()
			switch {
			case tc.unfit == "" && err != nil:
				t.Fatalf("fitForTests: %v, want nil", err)
			case tc.unfit != "" && (err == nil || !strings.Contains(err.Error(), tc.unfit)):
				t.Fatalf("fitForTests: %v, want an error containing %q", err, tc.unfit)
			}
		})
	}
}

// A test run inside a Slurm job must not hand its own job to the lab's
// commands.
func TestEnvDropsOuterSlurm(t *testing.T) {
	t.Setenv("SLURM_JOB_ID", "4242")
	t.Setenv("SLURM_CONF", "/etc/slurm/slurm.conf")
	t.Setenv("NODERUN_TEST_KEEP", "yes")
	lab := &Lab{Dir: "/lab", Conf: "/lab/etc/slurm.conf"}
	env := lab.Env()
	if slices.Contains(env, "SLURM_JOB_ID=4242") || slices.Contains(env, "SLURM_CONF=/etc/slurm/slurm.conf") {
		t.Errorf("Env kept the outer Slurm variables: %v", env)
	}
	if !slices.Contains(env, "SLURM_CONF=/lab/etc/slurm.conf") || !slices.Contains(env, "NODERUN_TEST_KEEP=yes") {
		t.Errorf("Env = %v, want SLURM_CONF of the lab and the other variables", env)
	}
}

// Processes finds a process by its environment (how a task's children are
// traced back to a workspace) and stops finding it once it is gone.
func TestProcessesFindsByEnvironment(t *testing.T) {
	marker := fmt.Sprintf("slurmlab-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	cmd := exec.Command("sleep", "60")
	cmd.Env = append(os.Environ(), "NODERUN_WORKSPACE=/tmp/"+marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })

	procs, err := Processes(marker)
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != 1 || procs[0].PID != cmd.Process.Pid || procs[0].Cmdline != "sleep 60" {
		t.Fatalf("Processes(%q) = %v, want only pid %d (sleep 60)", marker, procs, cmd.Process.Pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-done // reaped: no zombie left behind
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if left, err := WaitNoProcesses(ctx, marker); err != nil {
		t.Fatalf("after kill: %v: %v", err, left)
	}
	if _, err := Processes(""); err == nil {
		t.Error("Processes(\"\") must refuse to match everything")
	}
}

// Against the lab: a cancelled job ends, and every process it started is
// gone within KillWait — the property the no-orphans tests build on.
func TestLabCancelLeavesNoProcesses(t *testing.T) {
	lab := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	marker := fmt.Sprintf("slurmlab-lab-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	// Two tasks on two nodes, each a bash whose argv carries the marker.
	script := fmt.Sprintf("srun --export=ALL -N2 --ntasks-per-node=1 bash -c 'sleep 300; : %s'", marker)
	id, err := lab.Run(ctx, "sbatch", "--parsable", "-N2", "--ntasks-per-node=1", "-o", "/dev/null", "--wrap", script)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lab.Scancel(context.Background(), id) })
	if st, err := lab.WaitState(ctx, id, "RUNNING"); err != nil {
		t.Fatalf("job %s never ran: %v (state %q)", id, err, st)
	}
	// srun's own argv names the marker too: count the tasks only. A bash
	// that has forked for sleep but not yet exec'd shows twice for a moment.
	var procs, tasks []Process
	for len(tasks) != 2 && ctx.Err() == nil {
		if procs, err = Processes(marker); err != nil {
			t.Fatal(err)
		}
		tasks = slices.DeleteFunc(slices.Clone(procs), func(p Process) bool { return strings.HasPrefix(p.Cmdline, "srun ") })
		time.Sleep(pollEvery)
	}
	if len(tasks) != 2 {
		t.Fatalf("found %v, want the job's two tasks", procs)
	}
	if err := lab.Scancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, err := lab.WaitGone(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st != "CANCELLED" && st != "" {
		t.Errorf("job %s ended %q after scancel, want CANCELLED", id, st)
	}
	waitCtx, waitCancel := context.WithTimeout(ctx, 10*time.Second)
	defer waitCancel()
	if left, err := WaitNoProcesses(waitCtx, marker); err != nil {
		t.Fatalf("after scancel: %v: %v", err, left)
	}
}
