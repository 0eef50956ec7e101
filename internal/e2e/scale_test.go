package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/junitmerge"
	"github.com/noderun/noderun/internal/workspace"
)

// envScale asks for TestLabScale, on a lab that holds scaleTasks tasks.
const envScale = "NODERUN_LAB_SCALE"

// scaleTasks is the size CI can afford on a 2-core machine: 8 nodes of 32
// tasks. scripts/bench-scale.sh measures up to 1,024.
const scaleTasks = 256

// A 256-task job of stand-in pytests passes with one record and one suite
// per task, and the same job cancelled once every child runs ends with
// every task's true state: none reported as dead, none as passed. How long
// either takes is the benchmark's business (scripts/bench-scale.sh).
func TestLabScale(t *testing.T) {
	if os.Getenv(envScale) == "" {
		t.Skipf("needs a lab of %d CPUs (8 nodes x 32): runs alone, with %s=1 (scripts/test.sh does, on a lab of its own)", scaleTasks, envScale)
	}
	lt := requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// One line a node: sinfo groups nodes by state otherwise.
	out, err := lt.lab.Run(ctx, "sinfo", "-h", "-N", "-p", "lab", "-o", "%c")
	if err != nil {
		t.Fatal(err)
	}
	slots := 0
	for _, f := range strings.Fields(out) {
		if cpus, err := strconv.Atoi(f); err == nil && cpus >= 32 {
			slots += 32
		}
	}
	if slots < scaleTasks {
		t.Fatalf("lab %s holds %d tasks at 32 a node (CPUs a node: %q), want %d (scripts/slurm-lab.sh start --nodes 8 --cpus 32)",
			lt.lab.Dir, slots, strings.Fields(out), scaleTasks)
	}
	config := scaleConfig(t, lt.root, scaleTasks)
	testRoot := t.TempDir()
	args := func(ws string) []string {
		return []string{"--workspace", ws, "--config", config, "--server-name", "scale",
			"--pytest", filepath.Join(lt.root, "examples", "scale", "pytest"), "--test-root", testRoot,
			"--no-gres-gpus", "--gpu-precheck", "off", "--max-gpus-per-node", "32",
			"--kill-grace", "1s", "--fence-timeout", "5m"}
	}

	t.Run("passes", func(t *testing.T) {
		j := newJobWith(t, lt, args)
		began := time.Now()
		if code := j.run(ctx); code != 0 {
			t.Fatalf("noderun submit --wait exited %d, want 0", code)
		}
		t.Logf("%d tasks: submit → results in %s", scaleTasks, time.Since(began).Round(time.Millisecond))
		spec := j.spec()
		if res := j.jobResult(); res.Outcome != workspace.OutcomePassed {
			t.Errorf("outcome %s (%s), want passed", res.Outcome, res.Reason)
		}
		recs := j.records(spec)
		j.checkPlacement(spec, recs)
		r := j.results(spec)
		if r.doc.Tests != scaleTasks || r.doc.Failures != 0 || r.doc.Errors != 0 {
			t.Errorf("results.xml: tests=%d failures=%d errors=%d, want %d passing", r.doc.Tests, r.doc.Failures, r.doc.Errors, scaleTasks)
		}
		for _, k := range expectedTasks(spec) {
			if rec := recs[k]; rec != nil && (rec.State != workspace.StateExited || rec.ExitCode != 0) {
				t.Errorf("task %s: state %s exit %d, want exited 0", k, rec.State, rec.ExitCode)
			}
		}
		j.checkNoOrphans(ctx)
	})

	t.Run("cancelled", func(t *testing.T) {
		j := newJobWith(t, lt, args)
		j.env = append(j.env, "NODERUN_SCALE_HOLD=600")
		j.start(ctx)
		j.waitAllRunning(ctx)
		if err := lt.lab.Scancel(ctx, j.jobID); err != nil {
			t.Fatal(err)
		}
		if code := j.wait(); code != exitcode.JobCancelled {
			t.Errorf("noderun submit --wait exited %d, want %d", code, exitcode.JobCancelled)
		}
		spec := j.spec()
		res := j.jobResult()
		if res.Outcome != workspace.OutcomeCancelled {
			t.Errorf("outcome %s (%s), want cancelled", res.Outcome, res.Reason)
		}
		for role, outcome := range stepOutcomes(res) {
			if outcome != workspace.StepCancelled {
				t.Errorf("step %s: outcome %s, want %s", role, outcome, workspace.StepCancelled)
			}
		}
		// On 2 shared cores, Slurm's KillWait (2 s on the lab) may end a
		// runner before it records its end: that is its true state, said
		// as such. Dead, still stopping, or passed would not be.
		r := j.results(spec)
		states := map[string]int{}
		for _, k := range expectedTasks(spec) {
			probs := r.problems(k)
			if len(probs) == 0 {
				t.Errorf("task %s: no error in its suite, want the cancel", k)
				continue
			}
			for _, p := range probs {
				states[p.Type]++
				switch {
				case p.Type == junitmerge.TypeStillStopping, strings.Contains(p.Message, "runner died"):
					t.Errorf("task %s after the follower: %s", k, p.Message)
				case !strings.Contains(p.Message, "cancel") && !strings.Contains(p.Message, "KillWait"):
					t.Errorf("task %s: %q names neither the cancel nor Slurm's kill", k, p.Message)
				}
			}
		}
		t.Logf("%d tasks cancelled: %v", scaleTasks, states)
		j.checkNoOrphans(ctx)
	})
}

// scaleConfig writes examples/scale/config.yaml.in for n GPUs, 32 a node,
// and returns its path.
func scaleConfig(t *testing.T, root string, n int) string {
	t.Helper()
	in, err := os.ReadFile(filepath.Join(root, "examples", "scale", "config.yaml.in"))
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.NewReplacer("@TASKS@", strconv.Itoa(n), "@GPUS_PER_NODE@", "32").Replace(string(in))
	p := filepath.Join(t.TempDir(), "scale"+strconv.Itoa(n)+".yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
