package noderun

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/internal/jobspec"
)

// benchChildEnv makes the test binary act as a tiny child that writes the
// time it started running Go code and exits: the same child is exec'd
// directly (baseline) and through the runner, and the difference is the
// runner's own cost.
const benchChildEnv = "NODERUN_BENCH_CHILD_OUT"

func TestMain(m *testing.M) {
	if out := os.Getenv(benchChildEnv); out != "" {
		os.WriteFile(out, []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o644)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func childTime(b *testing.B, path string) time.Time {
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	ns, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	return time.Unix(0, ns)
}

// BenchmarkTaskOverhead reports the runner's own time per task: from Run's
// start to the child's first instruction (start-ns) and from the child's
// last to Run's return (exit-ns), each minus the same child exec'd directly.
// Run: go test -run '^$' -bench TaskOverhead ./noderun
func BenchmarkTaskOverhead(b *testing.B) {
	self, _ := os.Executable()
	tmp := b.TempDir()
	out := filepath.Join(tmp, "t")
	var directStart, directExit, runStart, runExit time.Duration
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), benchChildEnv+"="+out)
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		c := childTime(b, out)
		directStart += c.Sub(t0)
		directExit += t1.Sub(c)
	}
	spec := &jobspec.Spec{
		Version: jobspec.Version, Workspace: tmp, NodeLocalDir: tmp, Nodes: 1,
		Timeouts: jobspec.Timeouts{KillGrace: jobspec.Duration(time.Second)},
		Steps: []jobspec.Step{{Role: jobspec.RoleWorker, Kind: jobspec.KindWorker, Nodes: 1, Tasks: 1, TasksPerNode: 1,
			GPUMode: jobspec.GPUModeNone, Command: jobspec.Command{Argv: []string{self},
				Env: []jobspec.EnvVar{{Name: benchChildEnv, Value: out}}}}},
	}
	env := append(os.Environ(), "SLURM_JOB_ID=1", "SLURM_STEP_ID=0", "SLURM_PROCID=0", "SLURM_LOCALID=0",
		"SLURM_NODEID=0", "SLURMD_NODENAME=n1", "SLURM_JOB_NODELIST=n1", "SLURM_STEP_NODELIST=n1",
		"SLURM_NTASKS=1", "SLURM_STEP_NUM_TASKS=1", "SLURM_JOB_NUM_NODES=1")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		code, err := Run(context.Background(), RunOptions{Spec: spec, Role: jobspec.RoleWorker, Environ: env, Log: zerolog.Nop(), Signals: make(chan os.Signal)})
		t1 := time.Now()
		if code != 0 || err != nil {
			b.Fatalf("code %d err %v", code, err)
		}
		c := childTime(b, out)
		runStart += c.Sub(t0)
		runExit += t1.Sub(c)
	}
	n := float64(b.N)
	b.ReportMetric(float64(runStart-directStart)/n, "start-ns/task")
	b.ReportMetric(float64(runExit-directExit)/n, "exit-ns/task")
}

// BenchmarkSetupRelease reports how long after the setup leader published
// its verdict the last of 7 waiters on the node was released (release-ns).
// Run: go test -run '^$' -bench SetupRelease ./noderun
func BenchmarkSetupRelease(b *testing.B) {
	var total time.Duration
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(b.TempDir(), strconv.Itoa(i))
		var published time.Time
		var wg sync.WaitGroup
		var mu sync.Mutex
		var last time.Time
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := &nodeSetup{Dir: dir, Node: "n1", Command: jobspec.Command{Argv: []string{"sleep", "0.05"}},
					Env: os.Environ(), Timeout: time.Minute, Grace: time.Second, LogPath: filepath.Join(b.TempDir(), "log"), Log: zerolog.Nop()}
				if err := s.Do(context.Background()); err != nil {
					b.Error(err)
				}
				now := time.Now()
				mu.Lock()
				defer mu.Unlock()
				if fi, err := os.Stat(filepath.Join(dir, setupDoneFile)); err == nil {
					published = fi.ModTime()
				}
				if now.After(last) {
					last = now
				}
			}()
		}
		wg.Wait()
		total += last.Sub(published)
	}
	b.ReportMetric(float64(total)/float64(b.N), "release-ns")
}
