package noderun

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/gpu"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/procgroup"
	"github.com/noderun/noderun/internal/workspace"
)

// testSpec is a one-node spec whose single step runs argv.
func testSpec(t *testing.T, kind string, argv ...string) *jobspec.Spec {
	t.Helper()
	ws := t.TempDir()
	role := jobspec.RoleWorker
	mode := jobspec.GPUModeNode
	switch kind {
	case jobspec.KindServer:
		role, mode = jobspec.RoleDisaggServer, jobspec.GPUModeNone
	case jobspec.KindBenchmark:
		role, mode = jobspec.RoleBenchmark, jobspec.GPUModeNone
	}
	return &jobspec.Spec{
		Version: jobspec.Version, Workspace: ws, NodeLocalDir: filepath.Join(ws, "nodelocal"), Nodes: 2,
		Timeouts: jobspec.Timeouts{
			Setup: jobspec.Duration(10 * time.Second), Fence: jobspec.Duration(10 * time.Second),
			KillGrace: jobspec.Duration(500 * time.Millisecond),
		},
		GPU: jobspec.GPUPolicy{Precheck: "off"},
		Steps: []jobspec.Step{{
			Role: role, Kind: kind, Nodes: 2, Tasks: 2, TasksPerNode: 1, GPUMode: mode,
			Command: jobspec.Command{Argv: argv, Dir: ws},
		}},
	}
}

// slurmEnv is what srun gives task rank on node nodeName.
func slurmEnv(jobID string, rank, local int, node string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"SLURM_JOB_ID=" + jobID, "SLURM_STEP_ID=0", "SLURM_PROCID=" + strconv.Itoa(rank),
		"SLURM_LOCALID=" + strconv.Itoa(local), "SLURM_NODEID=0", "SLURMD_NODENAME=" + node,
		"SLURM_JOB_NODELIST=n[1-2]", "SLURM_STEP_NODELIST=n[1-2]", "SLURM_NTASKS=8",
		"SLURM_STEP_NUM_TASKS=8", "SLURM_JOB_NUM_NODES=2",
	}
	return append(env, extra...)
}

// runTask runs one task of the spec's first step, as `noderun run --role`.
func runTask(t *testing.T, spec *jobspec.Spec, env []string, sigs chan os.Signal) (int, error) {
	t.Helper()
	return runAs(t, spec, spec.Steps[0].Role, env, sigs)
}

func runAs(t *testing.T, spec *jobspec.Spec, role string, env []string, sigs chan os.Signal) (int, error) {
	t.Helper()
	return Run(context.Background(), RunOptions{Spec: spec, Role: role, Environ: env, Log: zerolog.Nop(), Signals: sigs, Hostname: "testhost"})
}

func record(t *testing.T, spec *jobspec.Spec, rank int) *workspace.TaskRecord {
	t.Helper()
	rec, err := workspace.LoadTaskRecord(workspace.New(spec.Workspace).TaskRecord(spec.Steps[0].Role, rank))
	if err != nil {
		t.Fatalf("task record: %v", err)
	}
	return rec
}

// childEntries runs a shell as the step's child and returns the
// environment exec gave it, in exec's order (/proc/PID/environ, which the
// shell's own rearranging does not touch).
func childEntries(t *testing.T, spec *jobspec.Spec, o RunOptions) []string {
	t.Helper()
	out := filepath.Join(spec.Workspace, "child.env")
	spec.Steps[0].Command.Argv = []string{"sh", "-c", `cat /proc/$$/environ > "$1"`, "sh", out}
	o.Spec, o.Role, o.Log, o.Signals, o.Hostname = spec, spec.Steps[0].Role, zerolog.Nop(), make(chan os.Signal), "testhost"
	if code, err := Run(context.Background(), o); code != 0 || err != nil {
		t.Fatalf("run: code %d, err %v", code, err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// envOf is childEntries as a map.
func envOf(t *testing.T, spec *jobspec.Spec, env []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, kv := range childEntries(t, spec, RunOptions{Environ: env}) {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// The child's env is sorted and the same on every run, although the GPU
// variables come from a map and the task's env arrives in any order.
func TestRunEnvironmentSorted(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker, "true")
	spec.Steps[0].Command.Env = []jobspec.EnvVar{{Name: "ZZ_LAST", Value: "1"}, {Name: "AA_FIRST", Value: "2"}}
	env := slurmEnv("7", 0, 0, "n1", "MIDDLE=x", "BETA=y")
	var first []string
	for i := 0; i < 30; i++ {
		got := childEntries(t, spec, RunOptions{Environ: env, GPUs: gpu.Fake(4)})
		if !sort.StringsAreSorted(got) {
			t.Fatalf("run %d: child env not sorted:\n%s", i, strings.Join(got, "\n"))
		}
		if i == 0 {
			first = got
			if !slices.ContainsFunc(got, func(kv string) bool { return strings.HasPrefix(kv, "CUDA_VISIBLE_DEVICES=GPU-") }) {
				t.Fatalf("no GPU variables in the child env:\n%s", strings.Join(got, "\n"))
			}
		} else if !slices.Equal(got, first) {
			t.Fatalf("run %d: child env differs from run 0:\n%s\nwant\n%s", i, strings.Join(got, "\n"), strings.Join(first, "\n"))
		}
		rand.Shuffle(len(env), func(i, j int) { env[i], env[j] = env[j], env[i] })
	}
}

func TestRunEnvironment(t *testing.T) {
	launcher := []string{"PMI_RANK=1", "PMIX_NAMESPACE=x", "MPI_LOCALRANKID=0", "OMPI_COMM_WORLD_SIZE=8", "SLURM_CPUS_ON_NODE=4"}
	tests := []struct {
		name      string
		kind      string
		nodes     int
		wantGone  bool // launcher variables stripped
		wantSlurm bool // SLURM_JOB_ID still visible
	}{
		// Servers and the benchmark must not look like MPI ranks, or pytest initialises MPI and fails.
		{"server strips launcher env", jobspec.KindServer, 2, true, false},
		{"benchmark strips launcher env", jobspec.KindBenchmark, 2, true, false},
		// Multi-node workers need PMI/PMIx to form their MPI world.
		{"multi-node worker keeps launcher env", jobspec.KindWorker, 2, false, true},
		// Single-node jobs strip it as the reference does, even for workers.
		{"single-node worker strips launcher env", jobspec.KindWorker, 1, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec(t, tc.kind, "true")
			spec.Nodes = tc.nodes
			spec.Steps[0].Nodes, spec.Steps[0].Tasks = tc.nodes, tc.nodes
			got := envOf(t, spec, slurmEnv("7", 0, 0, "n1", launcher...))
			for _, kv := range launcher {
				name, _, _ := strings.Cut(kv, "=")
				if _, ok := got[name]; ok == tc.wantGone {
					t.Errorf("%s present=%v, want stripped=%v", name, ok, tc.wantGone)
				}
			}
			if _, ok := got["SLURM_JOB_ID"]; ok != tc.wantSlurm {
				t.Errorf("SLURM_JOB_ID present=%v, want %v", ok, tc.wantSlurm)
			}
			if got["SLURM_PROCID"] != "0" {
				t.Errorf("SLURM_PROCID = %q, want it kept", got["SLURM_PROCID"])
			}
			if got[EnvRole] != spec.Steps[0].Role || got[EnvWorkspace] != spec.Workspace || got[EnvRank] != "0" {
				t.Errorf("NODERUN_* = %q %q %q", got[EnvRole], got[EnvWorkspace], got[EnvRank])
			}
		})
	}
}

// Values with spaces, quotes and $ must reach the child byte for byte:
// nothing between the spec and exec may be a shell.
func TestRunEnvValuesLiteral(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker, "true")
	pwned := filepath.Join(spec.Workspace, "pwned")
	tricky := `a b "c" 'd' $HOME ${X} $(touch ` + pwned + `) ` + "`touch " + pwned + "`; \\n"
	spec.Steps[0].Command.Env = []jobspec.EnvVar{{Name: "TRICKY", Value: tricky}, {Name: "DROP_ME", Value: "x"}}
	spec.Steps[0].Command.Unset = []string{"GONE"}
	spec.Steps[0].Command.LDLibraryPath = []string{"/opt/a", "/opt/b"}
	got := envOf(t, spec, slurmEnv("7", 0, 0, "n1", "GONE=1", "LD_LIBRARY_PATH=/usr/lib/x"))
	if got["TRICKY"] != tricky {
		t.Errorf("TRICKY = %q, want %q", got["TRICKY"], tricky)
	}
	if _, ok := got["GONE"]; ok {
		t.Error("GONE is in the unset list but reached the child")
	}
	if got["LD_LIBRARY_PATH"] != "/opt/a:/opt/b:/usr/lib/x" {
		t.Errorf("LD_LIBRARY_PATH = %q", got["LD_LIBRARY_PATH"])
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a value was executed by a shell")
	}
}

func TestRunExitStatusAndRecord(t *testing.T) {
	tests := []struct {
		name      string
		argv      []string
		wantCode  int
		wantState string
		wantSig   string
	}{
		// The child's own status passes through unchanged.
		{"exit 3", []string{"sh", "-c", "exit 3"}, 3, workspace.StateExited, ""},
		{"exit 0", []string{"true"}, 0, workspace.StateExited, ""},
		// A child killed by a signal gives 128+signal, as a shell would.
		{"killed by SIGSEGV", []string{"sh", "-c", "kill -SEGV $$"}, 128 + 11, workspace.StateSignaled, "SIGSEGV"},
		// A command that is not there is the runner's fault, with the shell's code.
		{"not found", []string{"no-such-command-noderun"}, exitcode.NotFound, workspace.StateFailedToStart, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec(t, jobspec.KindWorker, tc.argv...)
			code, _ := runTask(t, spec, slurmEnv("9", 1, 0, "n2"), make(chan os.Signal))
			if code != tc.wantCode {
				t.Fatalf("exit status %d, want %d", code, tc.wantCode)
			}
			rec := record(t, spec, 1)
			if rec.State != tc.wantState || rec.ExitCode != tc.wantCode || rec.Signal != tc.wantSig {
				t.Errorf("record state=%s exit=%d signal=%q", rec.State, rec.ExitCode, rec.Signal)
			}
			if rec.Node != "n2" || rec.Host != "testhost" || rec.Role != jobspec.RoleWorker || rec.JobID != "9" || rec.End.IsZero() {
				t.Errorf("record identity: %+v", rec)
			}
		})
	}
}

// A test root missing on the node is named as such, with its own status,
// not as the command not found that exec would report for a missing cwd.
func TestRunMissingTestRoot(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker, "true")
	missing := filepath.Join(spec.Workspace, "no-such-dir")
	spec.Steps[0].Command.Dir = missing
	code, err := runTask(t, spec, slurmEnv("9", 1, 0, "n2"), make(chan os.Signal))
	if code != exitcode.NoTestRoot {
		t.Fatalf("exit status %d (%v), want %d", code, err, exitcode.NoTestRoot)
	}
	want := "test root " + missing + " does not exist on node n2"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want it to say %q", err, want)
	}
	if rec := record(t, spec, 1); rec.State != workspace.StateFailedToStart || !strings.Contains(rec.Error, want) {
		t.Errorf("record state=%s error=%q", rec.State, rec.Error)
	}
}

// pytest steps get their own junit path; a stale file is removed first.
func TestRunAddsJunitPath(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker)
	spec.Steps[0].Pytest = true
	argsOut := filepath.Join(spec.Workspace, "args")
	spec.Steps[0].Command.Argv = []string{"sh", "-c", `printf '%s\n' "$@" > ` + argsOut, "pytest", "perf/x.py::t[a-b]"}
	junit := workspace.New(spec.Workspace).Junit(jobspec.RoleWorker, 1)
	if err := os.MkdirAll(filepath.Dir(junit), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(junit, []byte("stale"), 0o644)
	if code, err := runTask(t, spec, slurmEnv("9", 1, 0, "n1"), make(chan os.Signal)); code != 0 {
		t.Fatalf("code %d err %v", code, err)
	}
	b, _ := os.ReadFile(argsOut)
	want := "perf/x.py::t[a-b]\n--junit-xml=" + junit + "\n"
	if string(b) != want {
		t.Errorf("child argv = %q, want %q", b, want)
	}
	if _, err := os.Stat(junit); err == nil {
		t.Error("stale junit file was left for the new attempt")
	}
	if rec := record(t, spec, 1); rec.Junit != junit {
		t.Errorf("record junit = %q", rec.Junit)
	}
}

// The runner alone writes DISAGG_SERVING_TYPE, from the step's role, and
// only in a disaggregated job.
func TestRunServingType(t *testing.T) {
	tests := []struct {
		name    string
		layout  string
		kind    string
		taskEnv []string         // what srun or the submitting shell left
		stepEnv []jobspec.EnvVar // what the spec's command sets
		want    string           // "": unset
	}{
		// A disaggregated role sees its own role, whatever the task env held.
		{"disaggregated server", jobspec.LayoutDisaggregated, jobspec.KindServer, []string{"DISAGG_SERVING_TYPE=BENCHMARK"}, nil, jobspec.RoleDisaggServer},
		{"disaggregated benchmark", jobspec.LayoutDisaggregated, jobspec.KindBenchmark, nil, nil, jobspec.RoleBenchmark},
		// The spec's command env cannot give the role a second value.
		{"step env cannot override", jobspec.LayoutDisaggregated, jobspec.KindServer, nil, []jobspec.EnvVar{{Name: "DISAGG_SERVING_TYPE", Value: "GEN_9"}}, jobspec.RoleDisaggServer},
		// An aggregated worker must not inherit a role that CI exported.
		{"aggregated worker", jobspec.LayoutAggregated, jobspec.KindWorker, []string{"DISAGG_SERVING_TYPE=BENCHMARK"}, nil, ""},
		{"aggregated step env", jobspec.LayoutAggregated, jobspec.KindWorker, nil, []jobspec.EnvVar{{Name: "DISAGG_SERVING_TYPE", Value: "GEN_9"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec(t, tc.kind, "true")
			spec.Job.Layout = tc.layout
			spec.Steps[0].Command.Env = tc.stepEnv
			got, ok := envOf(t, spec, slurmEnv("7", 0, 0, "n1", tc.taskEnv...))[jobspec.EnvServingType]
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("DISAGG_SERVING_TYPE = %q (set %v), want %q", got, ok, tc.want)
			}
		})
	}
}

func TestRunRoleAndSlurmErrors(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker, "true")
	// Without --role the runner does not guess, even from DISAGG_SERVING_TYPE.
	code, err := runAs(t, spec, "", slurmEnv("9", 0, 0, "n1", "DISAGG_SERVING_TYPE="+jobspec.RoleWorker), make(chan os.Signal))
	if code != exitcode.Usage || !errors.Is(err, ErrNoRole) {
		t.Errorf("no role: code %d err %v", code, err)
	}
	// A role that the spec does not have is a usage error that lists the roles.
	code, err = runAs(t, spec, "GEN_7", slurmEnv("9", 0, 0, "n1"), make(chan os.Signal))
	if code != exitcode.Usage || err == nil || !strings.Contains(err.Error(), "GEN_7") || !strings.Contains(err.Error(), jobspec.RoleWorker) {
		t.Errorf("unknown role: code %d err %v", code, err)
	}
	// ... and leaves a record, so the merge shows the task instead of losing it.
	rec, rerr := workspace.LoadTaskRecord(workspace.New(spec.Workspace).TaskRecord("GEN_7", 0))
	if rerr != nil || rec.State != workspace.StateFailedToStart || !strings.Contains(rec.Error, "GEN_7") {
		t.Errorf("record of the unknown role: %+v %v", rec, rerr)
	}
	// A malformed Slurm variable is named in the error.
	env := slurmEnv("9", 0, 0, "n1")
	env = append(env, "SLURM_PROCID=x")
	code, err = runTask(t, spec, env, make(chan os.Signal))
	if code != exitcode.SlurmEnv || err == nil || !strings.Contains(err.Error(), "SLURM_PROCID") {
		t.Errorf("bad SLURM_PROCID: code %d err %v", code, err)
	}
}

// A SIGTERM for the runner reaches the child's whole group, grandchildren
// included, and the runner exits 143 with a record saying it was stopped.
func TestRunForwardsSignalToGroup(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker)
	pids := filepath.Join(spec.Workspace, "pids")
	spec.Steps[0].Command.Argv = []string{"sh", "-c", `sleep 100 & echo $! > ` + pids + `.tmp; mv ` + pids + `.tmp ` + pids + `; wait`}
	sigs, done := startRunner(t, spec)
	grandchild := waitPID(t, pids)
	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != 143 {
			t.Errorf("exit status %d, want 143", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("runner did not end after SIGTERM")
	}
	// The group got the signal; a busy machine may take a moment to end it.
	for deadline := time.Now().Add(5 * time.Second); procgroup.Running(grandchild); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("grandchild %d survived", grandchild)
			break
		}
	}
	if rec := record(t, spec, 0); !rec.Stopped || rec.Signal != "SIGTERM" {
		t.Errorf("record: stopped=%v signal=%q", rec.Stopped, rec.Signal)
	}
}

// Slurm signals the child too: a child that handles the SIGTERM and exits
// with a status of its own before the runner's copy arrives is still a
// stopped task, not one that failed on its own (seen in TestLabScale).
func TestRunChildEndsOfSlurmsSignalFirst(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker)
	pid := filepath.Join(spec.Workspace, "pid")
	spec.Steps[0].Command.Argv = []string{"sh", "-c", `trap "exit 2" TERM; echo $$ > ` + pid + `.tmp; mv ` + pid + `.tmp ` + pid + `; while :; do sleep 0.05; done`}
	sigs, done := startRunner(t, spec)
	child := waitPID(t, pid)
	if err := syscall.Kill(child, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExited(t, child)
	time.Sleep(20 * time.Millisecond) // the runner's copy comes a little later
	sigs <- syscall.SIGTERM
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("runner did not end")
	}
	if rec := record(t, spec, 0); !rec.Stopped || rec.ExitCode != 2 {
		t.Errorf("record: stopped=%v exit=%d, want a stopped task that exited 2", rec.Stopped, rec.ExitCode)
	}
}

// A stop request (the runner's SIGINT) right after a child failed on its
// own does not explain the failure: the task is not called stopped.
func TestRunStopRequestAfterChildFailed(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker)
	pid := filepath.Join(spec.Workspace, "pid")
	spec.Steps[0].Command.Argv = []string{"sh", "-c", `echo $$ > ` + pid + `.tmp; mv ` + pid + `.tmp ` + pid + `; sleep 0.2; exit 3`}
	sigs, done := startRunner(t, spec)
	child := waitPID(t, pid)
	waitExited(t, child)
	sigs <- syscall.SIGINT
	select {
	case code := <-done:
		if code != 3 {
			t.Errorf("exit status %d, want 3", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runner did not end")
	}
	if rec := record(t, spec, 0); rec.Stopped || rec.ExitCode != 3 {
		t.Errorf("record: stopped=%v exit=%d, want a task that failed on its own with 3", rec.Stopped, rec.ExitCode)
	}
}

// A child that ignores SIGTERM is killed after timeout + grace, with the
// processes it started.
func TestRunTimeoutKillsGroup(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker)
	spec.Timeouts.Step = jobspec.Duration(300 * time.Millisecond)
	spec.Timeouts.KillGrace = jobspec.Duration(300 * time.Millisecond)
	pids := filepath.Join(spec.Workspace, "pids")
	spec.Steps[0].Command.Argv = []string{"sh", "-c", `trap "" TERM; sleep 100 & echo $! > ` + pids + `.tmp; mv ` + pids + `.tmp ` + pids + `; while :; do sleep 0.05; done`}
	start := time.Now()
	code, _ := runTask(t, spec, slurmEnv("9", 0, 0, "n1"), make(chan os.Signal))
	took := time.Since(start)
	t.Logf("runner returned after %s", took)
	if code != 128+9 {
		t.Errorf("exit status %d, want 137", code)
	}
	if took < 600*time.Millisecond {
		t.Errorf("ended after %s, before timeout + grace", took)
	}
	if g := waitPID(t, pids); procgroup.Running(g) {
		t.Errorf("grandchild %d survived the kill", g)
	}
	rec := record(t, spec, 0)
	if !rec.TimedOut || rec.State != workspace.StateTimedOut {
		t.Errorf("record: %+v", rec)
	}
	// The timeline shows the stop where the timeout fired, a grace before the end.
	if stop := rec.Phases.StopAt; stop.IsZero() || rec.End.Sub(stop) < 300*time.Millisecond || stop.Sub(rec.Phases.ChildStart) < 300*time.Millisecond {
		t.Errorf("stop at %v, child start %v, end %v", stop, rec.Phases.ChildStart, rec.End)
	}
}

// startRunner runs the task of spec as rank 0 of job 9 on n1 in the
// background: signals sent on the channel reach the runner, and its exit
// status comes on done.
func startRunner(t *testing.T, spec *jobspec.Spec) (chan<- os.Signal, <-chan int) {
	sigs := make(chan os.Signal, 1)
	done := make(chan int)
	go func() {
		code, _ := runTask(t, spec, slurmEnv("9", 0, 0, "n1"), sigs)
		done <- code
	}()
	return sigs, done
}

// waitExited waits until process pid is gone (reaped by the runner).
func waitExited(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); procgroup.Running(pid); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not exit", pid)
		}
	}
}

func waitPID(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return pid
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

// setupSpec gives 8 tasks on node n1 a setup that counts its runs.
func setupSpec(t *testing.T, script string) (*jobspec.Spec, string) {
	spec := testSpec(t, jobspec.KindWorker, "true")
	count := filepath.Join(spec.Workspace, "setup-runs")
	spec.Setup = &jobspec.Command{Argv: []string{"sh", "-c", "echo run >> " + count + "; " + script}}
	spec.Nodes = 1
	spec.Steps[0].Nodes, spec.Steps[0].Tasks, spec.Steps[0].TasksPerNode = 1, 8, 8
	return spec, count
}

func runEight(t *testing.T, spec *jobspec.Spec, jobID string) ([]int, []error, []time.Time) {
	codes, errs, ends := make([]int, 8), make([]error, 8), make([]time.Time, 8)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			codes[i], errs[i] = runTask(t, spec, slurmEnv(jobID, i, i, "n1"), make(chan os.Signal))
			ends[i] = time.Now()
		}(i)
	}
	wg.Wait()
	return codes, errs, ends
}

func lines(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}

func TestSetupRunsOncePerNode(t *testing.T) {
	spec, count := setupSpec(t, "sleep 0.2")
	codes, errs, _ := runEight(t, spec, "11")
	for i := range codes {
		if codes[i] != 0 || errs[i] != nil {
			t.Errorf("task %d: code %d err %v", i, codes[i], errs[i])
		}
	}
	if n := lines(t, count); n != 1 {
		t.Errorf("setup ran %d times, want once", n)
	}
	// Late tasks of the same attempt find the verdict and do not run it again.
	runEight(t, spec, "11")
	if n := lines(t, count); n != 1 {
		t.Errorf("same job and restart count: setup ran again (%d runs)", n)
	}
}

// Each task's record times its setup, fence and child, in that order,
// within the task: the report's timeline draws them.
func TestRunRecordsPhases(t *testing.T) {
	spec, _ := setupSpec(t, "sleep 0.2")
	spec.Steps[0].Fence = true
	runEight(t, spec, "12")
	for rank := 0; rank < 8; rank++ {
		rec, p := record(t, spec, rank), record(t, spec, rank).Phases
		order := []time.Time{rec.Start, p.SetupStart, p.SetupEnd, p.FenceStart, p.FenceEnd, p.ChildStart, rec.End}
		for i, at := range order {
			if at.IsZero() || (i > 0 && at.Before(order[i-1])) {
				t.Errorf("rank %d: phase %d at %v out of order: %+v", rank, i, at, order)
				break
			}
		}
		if !p.StopAt.IsZero() {
			t.Errorf("rank %d: a stop was recorded for a task nobody stopped", rank)
		}
	}
	// The setup leader's setup phase holds the 0.2 s setup.
	var longest time.Duration
	for rank := 0; rank < 8; rank++ {
		p := record(t, spec, rank).Phases
		longest = max(longest, p.SetupEnd.Sub(p.SetupStart))
	}
	if longest < 200*time.Millisecond {
		t.Errorf("the longest setup phase took %s, the setup sleeps 0.2 s", longest)
	}
}

func TestSetupFailureReleasesWaiters(t *testing.T) {
	spec, _ := setupSpec(t, "sleep 0.3; exit 3")
	start := time.Now()
	codes, errs, ends := runEight(t, spec, "12")
	for i := range codes {
		if codes[i] != exitcode.SetupFailed {
			t.Errorf("task %d: code %d, want %d", i, codes[i], exitcode.SetupFailed)
		}
		if errs[i] == nil || !strings.Contains(errs[i].Error(), "n1") || !strings.Contains(errs[i].Error(), "setup/n1.log") {
			t.Errorf("task %d: error must name the node and the setup log: %v", i, errs[i])
		}
		// The bound: every waiter is out within 1 s of the failure.
		if d := ends[i].Sub(start); d > 300*time.Millisecond+time.Second {
			t.Errorf("task %d released %s after start", i, d)
		}
		if rec := record(t, spec, i); rec.State != workspace.StateFailedToStart || rec.Error == "" {
			t.Errorf("task %d record: %+v", i, rec)
		}
	}
}

// Setup state of another job, of an earlier job with the same id (ids
// repeat after a controller reset; --local uses a pid), or of an earlier
// attempt of this one is in other directories: never trusted, even when
// its owner is alive or it says done.
func TestSetupIgnoresStaleState(t *testing.T) {
	for _, stale := range []struct {
		name string
		at   workspace.Attempt
		file string
	}{
		{"other job id", workspace.Attempt{Submission: "s2", JobID: "99"}, setupLockFile},
		{"earlier attempt", workspace.Attempt{Submission: "s2", JobID: "13", Restart: 1}, setupLockFile},
		{"same job id, other submission", workspace.Attempt{Submission: "s1", JobID: "13", Restart: 2}, setupDoneFile},
	} {
		t.Run(stale.name, func(t *testing.T) {
			spec, count := setupSpec(t, "true")
			spec.Submission = "s2"
			dir := setupDir(spec.NodeLocalDir, "n1", stale.at)
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, stale.file), []byte(fmt.Sprint(os.Getpid())), 0o644)
			code, err := runTask(t, spec, slurmEnv("13", 0, 0, "n1", "SLURM_RESTART_COUNT=2"), make(chan os.Signal))
			if code != 0 || err != nil {
				t.Fatalf("code %d err %v", code, err)
			}
			if n := lines(t, count); n != 1 {
				t.Errorf("setup ran %d times, want 1", n)
			}
		})
	}
}

// A waiter whose leader vanished without a verdict fails at once, not at the timeout.
func TestSetupLeaderGone(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, setupLockFile), []byte("999999999\n"), 0o644)
	s := &nodeSetup{Dir: dir, Node: "n1", Timeout: time.Minute, LogPath: "/x/setup.log", Log: zerolog.Nop()}
	err := s.Do(context.Background())
	if err == nil || !strings.Contains(err.Error(), "died") {
		t.Fatalf("err = %v", err)
	}
	var e *exitcode.Error
	if !errors.As(err, &e) || e.Code != exitcode.SetupFailed {
		t.Errorf("exit code of %v", err)
	}
}

func TestStartFence(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	arrived, released := make([]time.Time, 4), make([]time.Time, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			time.Sleep(time.Duration(r) * 100 * time.Millisecond)
			arrived[r] = time.Now()
			errs[r] = (&startFence{Dir: dir, Rank: r, Tasks: 4, Timeout: 5 * time.Second}).Wait(context.Background())
			released[r] = time.Now()
		}(r)
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
		// Nobody passes the fence before the last rank (3) arrived.
		if released[r].Before(arrived[3]) {
			t.Errorf("rank %d released %s before rank 3 arrived", r, arrived[3].Sub(released[r]))
		}
	}
	// A fence that never completes says who is missing.
	err := (&startFence{Dir: t.TempDir(), Rank: 0, Tasks: 3, Timeout: 100 * time.Millisecond}).Wait(context.Background())
	if err == nil || !strings.Contains(err.Error(), "missing ranks [1 2]") {
		t.Errorf("err = %v", err)
	}
}

// A one-node job strips SLURM_* from the child, but the GPU decision must
// still see Slurm's binding (SLURM_STEP_GPUS) and honour it.
func TestRunOneNodeKeepsSlurmGPUBinding(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker, "true")
	spec.Nodes = 1
	spec.Steps[0].Nodes, spec.Steps[0].Tasks = 1, 1
	spec.GPU = jobspec.GPUPolicy{PerNode: 2, Precheck: "fail"}
	got := envOf(t, spec, slurmEnv("7", 0, 0, "n1", "SLURM_STEP_GPUS=2,3"))
	if got["CUDA_VISIBLE_DEVICES"] != "2,3" {
		t.Errorf("CUDA_VISIBLE_DEVICES = %q, want Slurm's 2,3", got["CUDA_VISIBLE_DEVICES"])
	}
	if _, ok := got["SLURM_STEP_GPUS"]; ok {
		t.Error("SLURM_STEP_GPUS reached the child of a one-node job")
	}
}

// The supervisor stops with SIGINT; a child that ignores it but ends on
// SIGTERM gets that halfway through the grace, before any SIGKILL.
func TestRunStopEscalatesIntToTerm(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker)
	spec.Timeouts.KillGrace = jobspec.Duration(2 * time.Second)
	ready := filepath.Join(spec.Workspace, "ready")
	spec.Steps[0].Command.Argv = []string{"sh", "-c", `trap "" INT; touch ` + ready + `; while :; do sleep 0.05; done`}
	sigs, done := startRunner(t, spec)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child never started")
		}
	}
	sigs <- syscall.SIGINT
	select {
	case code := <-done:
		if code != 128+int(syscall.SIGTERM) {
			t.Errorf("exit status %d, want %d (ended by the SIGTERM, not the SIGKILL)", code, 128+int(syscall.SIGTERM))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runner did not end")
	}
	if rec := record(t, spec, 0); !rec.Stopped || rec.Signal != "SIGTERM" {
		t.Errorf("record: stopped=%v signal=%q", rec.Stopped, rec.Signal)
	}
}

// A stop request from the supervisor reaches the child as one SIGINT,
// whatever else delivers signals (pytest interrupted twice loses its junit).
func TestRunStopRequestSendsOneSIGINT(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker)
	spec.Timeouts.KillGrace = jobspec.Duration(4 * time.Second)
	dir := spec.Workspace
	spec.Steps[0].Command.Argv = []string{"sh", "-c",
		`trap 'echo int >> ` + dir + `/ints; sleep 0.3; exit 5' INT; touch ` + dir + `/ready; while :; do sleep 0.02; done`}
	done := make(chan int)
	go func() {
		code, _ := runTask(t, spec, slurmEnv("21", 0, 0, "n1"), make(chan os.Signal))
		done <- code
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child never started")
		}
	}
	if err := requestStop(workspace.New(dir), workspace.Attempt{Submission: spec.Submission, JobID: "21"}, spec.Steps[0].Role); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 5 {
			t.Errorf("exit status %d, want the child's 5", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stop request was not seen")
	}
	if n := lines(t, filepath.Join(dir, "ints")); n != 1 {
		t.Errorf("child got SIGINT %d times, want once", n)
	}
	if rec := record(t, spec, 0); !rec.Stopped {
		t.Errorf("record does not say the task was stopped: %+v", rec)
	}
}

// The stop request an earlier attempt left (a requeued job keeps its id)
// is not this attempt's: its tasks run to their end.
func TestRunIgnoresEarlierAttemptsStop(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker, "sh", "-c", "sleep 0.5")
	spec.Submission = "s1"
	if err := requestStop(workspace.New(spec.Workspace), workspace.Attempt{Submission: "s1", JobID: "22"}, spec.Steps[0].Role); err != nil {
		t.Fatal(err)
	}
	code, err := runTask(t, spec, slurmEnv("22", 0, 0, "n1", "SLURM_RESTART_COUNT=1"), make(chan os.Signal))
	if code != 0 || err != nil {
		t.Fatalf("code %d err %v, want 0: attempt 0's stop request stopped attempt 1", code, err)
	}
	if rec := record(t, spec, 0); rec.Stopped || rec.Attempt != 1 || rec.Submission != "s1" {
		t.Errorf("record: stopped=%v attempt=%d submission=%q", rec.Stopped, rec.Attempt, rec.Submission)
	}
}

// A runner of attempt 0 still running when attempt 1 began (its node was
// cut off, not dead) leaves attempt 1's record alone.
func TestRunKeepsLaterAttemptsRecord(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker, "true")
	spec.Submission = "s1"
	if code, _ := runTask(t, spec, slurmEnv("23", 0, 0, "n1", "SLURM_RESTART_COUNT=1"), make(chan os.Signal)); code != 0 {
		t.Fatalf("attempt 1: exit %d", code)
	}
	spec.Steps[0].Command.Argv = []string{"sh", "-c", "exit 3"}
	if code, _ := runTask(t, spec, slurmEnv("23", 0, 0, "n1"), make(chan os.Signal)); code != 3 {
		t.Fatalf("attempt 0: exit %d, want its child's 3", code)
	}
	if rec := record(t, spec, 0); rec.Attempt != 1 || rec.ExitCode != 0 {
		t.Errorf("record of attempt %d, exit %d: the late attempt 0 overwrote attempt 1's", rec.Attempt, rec.ExitCode)
	}
}

// A SIGTERM during the node setup stops the setup and the child never
// starts; the record says so and the status is 128+15.
func TestRunStoppedDuringSetup(t *testing.T) {
	spec, _ := setupSpec(t, "sleep 30")
	spec.Steps[0].Command.Argv = []string{"sh", "-c", "touch " + filepath.Join(spec.Workspace, "child-ran")}
	sigs := make(chan os.Signal, 1)
	done := make(chan int)
	go func() {
		code, _ := runTask(t, spec, slurmEnv("31", 0, 0, "n1"), sigs)
		done <- code
	}()
	time.Sleep(200 * time.Millisecond)
	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != 143 {
			t.Errorf("exit status %d, want 143", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("runner did not stop during setup")
	}
	if _, err := os.Stat(filepath.Join(spec.Workspace, "child-ran")); err == nil {
		t.Error("the child started after the stop")
	}
	rec := record(t, spec, 0)
	if !rec.Stopped || rec.State != workspace.StateFailedToStart || rec.Signal != "SIGTERM" || !strings.Contains(rec.Error, "before the child started") {
		t.Errorf("record: %+v", rec)
	}
}

// TensorRT-LLM's per-task variables are computed from the task's own Slurm
// identity: the JIT cache by local rank, the timeout record by step and rank.
func TestRunTaskEnv(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker, "true")
	spec.Steps[0].TaskEnv = []string{jobspec.EnvFlashinferJITDir, jobspec.EnvTimeoutDataFile}
	spec.Steps[0].Tasks, spec.Steps[0].TasksPerNode, spec.Steps[0].Nodes = 4, 4, 1
	got := envOf(t, spec, slurmEnv("9", 1, 3, "n1"))
	if v := got[jobspec.EnvFlashinferJITDir]; v != "/tmp/flashinfer_jit_cache_3" {
		t.Errorf("%s = %q", jobspec.EnvFlashinferJITDir, v)
	}
	if v, want := got[jobspec.EnvTimeoutDataFile], filepath.Join(spec.Workspace, "timeout_data_step0_rank1.jsonl"); v != want {
		t.Errorf("%s = %q, want %q", jobspec.EnvTimeoutDataFile, v, want)
	}
}

// A launched step: every rank runs the launcher with the command, only
// rank 0 gets (and owes) a junit path, through the step's junit option, and
// the output of every rank lands in the step's shared log too.
func TestRunLauncherAndStepLog(t *testing.T) {
	spec := testSpec(t, jobspec.KindWorker)
	st := &spec.Steps[0]
	st.Pytest, st.JunitOption = true, jobspec.PeriodicJunit
	dir := spec.Workspace
	launch := filepath.Join(dir, "launch")
	if err := os.WriteFile(launch, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > \""+dir+"/argv.$SLURM_PROCID\"\necho \"output of rank $SLURM_PROCID\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	st.Launcher = []string{launch}
	st.Command.Argv = []string{"pytest", "-vv"}
	st.Log = filepath.Join(dir, "tod", "gen_server_0.log")
	for rank := 0; rank < 2; rank++ {
		if code, err := runTask(t, spec, slurmEnv("9", rank, 0, "n"+strconv.Itoa(rank+1)), make(chan os.Signal)); code != 0 {
			t.Fatalf("rank %d: code %d err %v", rank, code, err)
		}
	}
	junit := workspace.New(dir).Junit(st.Role, 0)
	for rank, want := range []string{"pytest\n-vv\n--periodic-junit-xmlpath\n" + junit + "\n", "pytest\n-vv\n"} {
		b, _ := os.ReadFile(filepath.Join(dir, "argv."+strconv.Itoa(rank)))
		if string(b) != want {
			t.Errorf("rank %d: launcher argv %q, want %q", rank, b, want)
		}
	}
	if rec := record(t, spec, 0); rec.Junit != junit {
		t.Errorf("rank 0 record junit = %q, want %q", rec.Junit, junit)
	}
	if rec := record(t, spec, 1); rec.Junit != "" {
		t.Errorf("rank 1 is an MPI worker, yet its record expects junit %q", rec.Junit)
	}
	b, err := os.ReadFile(st.Log)
	if err != nil || string(b) != "output of rank 0\noutput of rank 1\n" {
		t.Errorf("step log = %q (%v)", b, err)
	}
	for rank := 0; rank < 2; rank++ {
		b, _ := os.ReadFile(workspace.New(dir).TaskLog(st.Role, rank))
		if !strings.Contains(string(b), "output of rank "+strconv.Itoa(rank)) {
			t.Errorf("rank %d task log lacks its output:\n%s", rank, b)
		}
	}
}

// The step log is a convenience: one that cannot be written never blocks
// the child, whose output still reaches its own task log; and a descendant
// that keeps the output open (here in a session of its own, beyond the
// group kill) holds the runner up for about a second, not for its life.
func TestRunStepLogNeverHolds(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full here")
	}
	spec := testSpec(t, jobspec.KindWorker)
	st := &spec.Steps[0]
	st.Log = "/dev/full"
	st.Command.Argv = []string{"sh", "-c", `head -c 300000 /dev/zero | tr '\0' x; echo; echo end-of-output`}
	done := make(chan int, 1)
	go func() {
		code, _ := runTask(t, spec, slurmEnv("9", 0, 0, "n1"), make(chan os.Signal))
		done <- code
	}()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("code %d", code)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the runner hung on a step log it cannot write")
	}
	b, _ := os.ReadFile(workspace.New(spec.Workspace).TaskLog(st.Role, 0))
	if !strings.Contains(string(b), "end-of-output") {
		t.Errorf("task log lacks the child's output (%d bytes)", len(b))
	}

	spec = testSpec(t, jobspec.KindWorker)
	st = &spec.Steps[0]
	st.Log = filepath.Join(spec.Workspace, "tod", "step.log")
	pidFile := filepath.Join(spec.Workspace, "holder.pid")
	// The child waits until the holder runs in its own session, so the
	// group kill at the child's end cannot take it.
	st.Command.Argv = []string{"sh", "-c", `setsid sh -c 'echo $$ > "$1"; exec sleep 60' sh "$1" &
while [ ! -s "$1" ]; do sleep 0.01; done; echo started`, "sh", pidFile}
	start := time.Now()
	if code, err := runTask(t, spec, slurmEnv("9", 0, 0, "n1"), make(chan os.Signal)); code != 0 {
		t.Fatalf("code %d err %v", code, err)
	}
	took := time.Since(start)
	t.Logf("runner returned after %s", took)
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if took > 30*time.Second {
		t.Errorf("runner took %s: it waited for a descendant holding the output", took)
	}
	if b, _ := os.ReadFile(st.Log); !strings.Contains(string(b), "started") {
		t.Errorf("step log = %q", b)
	}
}
