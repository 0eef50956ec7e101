package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/slurmlab"
	"github.com/noderun/noderun/internal/workspace"
)

// labJob is one job submitted to the lab through `noderun submit`.
type labJob struct {
	t *testing.T
	labTest
	ws workspace.Layout
	// args are submit's arguments after "submit".
	args []string
	// env are NAME=value entries added to submit's environment; with
	// --export=ALL they reach every task.
	env []string

	cmd    *exec.Cmd
	stdout lockedBuffer
	stderr lockedBuffer
	// jobID is the Slurm job id submit printed.
	jobID string
	// code is submit's exit status once it ended.
	code int
	// began and took are when submit started and how long it ran.
	began time.Time
	took  time.Duration

	exited  chan struct{} // closed when submit has ended
	waitErr error
}

// Flags every test job gets: the example suite as the test root, and a kill
// grace below the lab's KillWait=2 so that a stopped child is recorded before
// Slurm's SIGKILL.
func baseArgs(root, ws, config string) []string {
	return []string{
		"--workspace", ws,
		"--config", exampleConfig(root, config),
		"--test-root", filepath.Join(root, "examples", "tests"),
		"--kill-grace", "1s",
		"--after-deciding", "5s",
	}
}

// exampleConfig is the example config file of that name, in the
// TensorRT-LLM stand-in's perf-sanity folders.
func exampleConfig(root, name string) string {
	dir := filepath.Join(root, "examples", "trtllm", "tests", "scripts", "perf-sanity")
	if p := filepath.Join(dir, "aggregated", name); fileExists(p) {
		return p
	}
	return filepath.Join(dir, "disaggregated", name)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// newJob prepares a job of the example config in a fresh workspace. The
// workspace is removed after the test, unless the test failed: then it is
// kept for a person to look at, and the log says where.
func newJob(t *testing.T, lt labTest, config string, args ...string) *labJob {
	t.Helper()
	return newJobWith(t, lt, func(ws string) []string { return append(baseArgs(lt.root, ws, config), args...) })
}

// newJobWith is newJob with submit's arguments made for the workspace.
func newJobWith(t *testing.T, lt labTest, argsFor func(ws string) []string) *labJob {
	t.Helper()
	dir, err := os.MkdirTemp("", "noderun-e2e-"+strings.NewReplacer("/", "_", " ", "_", ",", "").Replace(t.Name())+"-")
	if err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(dir, "ws")
	j := &labJob{t: t, labTest: lt, ws: workspace.New(ws), args: argsFor(ws)}
	t.Cleanup(func() {
		// A test that gave up early must not leave its job to the next.
		if j.jobID != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if st, err := lt.lab.Squeue(ctx, j.jobID); err == nil && slurmlab.Active(st) {
				t.Logf("job %s still %s at the end of the test: cancelling it", j.jobID, st)
				if err := lt.lab.Scancel(ctx, j.jobID); err != nil {
					t.Error(err)
				}
			}
		}
		if t.Failed() {
			j.explainFailure()
			t.Logf("workspace kept: %s", ws)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove the workspace: %v", err)
		}
	})
	return j
}

// environ is submit's environment: the test's, without anything that would
// change what submit or the example tests do (noderun's flags' variables, CI's
// names for them, the example switches, GPU visibility, the test run's own
// Slurm job), plus SLURM_CONF for the lab and the job's own entries.
func (j *labJob) environ() []string {
	dropPrefixes := []string{"NODERUN_", "EXAMPLE_", "PERF_TEST_", "CLUSTER_", "SLURM_", "SBATCH_", "SRUN_"}
	drop := map[string]bool{
		"WORKSPACE": true, "CONFIG_NAME": true, "TRTLLM_DIR": true,
		"CUDA_VISIBLE_DEVICES": true, "NVIDIA_VISIBLE_DEVICES": true, "DISAGG_SERVING_TYPE": true,
	}
	var env []string
	for _, kv := range j.lab.Env() {
		name, _, _ := strings.Cut(kv, "=")
		keep := !drop[name]
		for _, p := range dropPrefixes {
			if strings.HasPrefix(name, p) && name != "SLURM_CONF" {
				keep = false
			}
		}
		if keep {
			env = append(env, kv)
		}
	}
	return append(env, j.env...)
}

// start runs `noderun submit --wait` in the background and returns once it
// printed the job id.
func (j *labJob) start(ctx context.Context) {
	j.t.Helper()
	j.cmd = exec.CommandContext(ctx, j.bin, append([]string{"submit", "--wait"}, j.args...)...)
	j.cmd.Env = j.environ()
	j.cmd.Stdout, j.cmd.Stderr = &j.stdout, &j.stderr
	j.began = time.Now()
	if err := j.cmd.Start(); err != nil {
		j.t.Fatalf("start noderun submit: %v", err)
	}
	j.exited = make(chan struct{})
	go func() {
		j.waitErr = j.cmd.Wait()
		j.took = time.Since(j.began)
		close(j.exited)
	}()
	jobID := regexp.MustCompile(`^[0-9]+$`)
	for {
		// Read before looking at exited: the id may come with the exit.
		exited := false
		select {
		case <-j.exited:
			exited = true
		default:
		}
		if line, _, ok := strings.Cut(j.stdout.String(), "\n"); ok {
			if !jobID.MatchString(line) {
				j.t.Fatalf("noderun submit printed %q first, want the job id", line)
			}
			j.jobID = line
			j.t.Logf("job %s submitted: workspace %s", j.jobID, j.ws.Dir)
			return
		}
		if exited {
			j.wait()
			j.t.Fatalf("noderun submit printed no job id (exit %d)", j.code)
		}
		select {
		case <-j.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// wait waits for the background submit and returns its exit status.
func (j *labJob) wait() int {
	j.t.Helper()
	<-j.exited
	var exit *exec.ExitError
	switch err := j.waitErr; {
	case err == nil:
		j.code = 0
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		j.code = exit.ExitCode()
	default:
		j.t.Fatalf("noderun submit: %v\nstderr:\n%s", err, j.stderr.String())
	}
	j.t.Logf("noderun submit --wait exited %d after %s", j.code, j.took.Round(time.Millisecond))
	return j.code
}

// run submits the job with --wait and returns submit's exit status.
func (j *labJob) run(ctx context.Context) int {
	j.t.Helper()
	j.start(ctx)
	return j.wait()
}

// explainFailure logs what a person needs to see when a test failed:
// submit's output (the summary included) and the batch step's log.
func (j *labJob) explainFailure() {
	j.t.Logf("noderun submit stdout:\n%s", j.stdout.String())
	j.t.Logf("noderun submit stderr:\n%s", tail(j.stderr.String(), 30))
	if j.jobID != "" {
		if b, err := os.ReadFile(filepath.Join(j.ws.Dir, "slurm-"+j.jobID+".out")); err == nil {
			j.t.Logf("slurm-%s.out:\n%s", j.jobID, tail(string(b), 40))
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lockedBuffer is a bytes.Buffer that a running command writes while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// taskKey names one task: role and rank within its step.
type taskKey struct {
	role string
	rank int
}

func (k taskKey) String() string { return k.role + "/rank" + strconv.Itoa(k.rank) }

// spec reads WS/job.json.
func (j *labJob) spec() *jobspec.Spec {
	j.t.Helper()
	spec, err := jobspec.Load(j.ws.Spec())
	if err != nil {
		j.t.Fatal(err)
	}
	return spec
}

// expectedTasks lists the tasks the spec plans, in step order.
func expectedTasks(spec *jobspec.Spec) []taskKey {
	var keys []taskKey
	for _, st := range spec.Steps {
		for k := 0; k < st.Tasks; k++ {
			keys = append(keys, taskKey{st.Role, k})
		}
	}
	return keys
}

// records reads every task record and checks that there is exactly one per
// planned task, from this job, and that none is left "running" (a runner
// killed before it could record the end).
func (j *labJob) records(spec *jobspec.Spec) map[taskKey]*workspace.TaskRecord {
	j.t.Helper()
	recs, errs := j.ws.TaskRecords()
	for _, err := range errs {
		j.t.Errorf("task record: %v", err)
	}
	byKey := map[taskKey]*workspace.TaskRecord{}
	for _, r := range recs {
		byKey[taskKey{r.Role, r.Rank}] = r
	}
	for _, k := range expectedTasks(spec) {
		r, ok := byKey[k]
		switch {
		case !ok:
			j.t.Errorf("task %s left no record", k)
		case r.JobID != j.jobID:
			j.t.Errorf("task %s: record of job %q, want %s", k, r.JobID, j.jobID)
		case r.State == workspace.StateRunning:
			j.t.Errorf("task %s: record still in state running: its runner died before recording the end (host %s, node %s)", k, r.Host, r.Node)
		case r.End.IsZero() || r.End.Before(r.Start):
			j.t.Errorf("task %s: record has start %s, end %s", k, r.Start, r.End)
		}
	}
	if len(byKey) != len(expectedTasks(spec)) {
		j.t.Errorf("%d task records, want %d (one per planned task)", len(byKey), len(expectedTasks(spec)))
	}
	return byKey
}

// checkPlacement checks that each task ran where the plan put it: the node
// of step task k is the job's node FirstNode + k/TasksPerNode (Slurm's block
// distribution). The job's nodes are the ones the records name, in Slurm's
// order; which lab nodes they are depends on what else runs.
func (j *labJob) checkPlacement(spec *jobspec.Spec, recs map[taskKey]*workspace.TaskRecord) []string {
	j.t.Helper()
	seen := map[string]bool{}
	for _, r := range recs {
		if !regexp.MustCompile(`^n[0-9]+$`).MatchString(r.Node) {
			j.t.Errorf("task %s/rank%d: node %q is not a lab node n1..n%d", r.Role, r.Rank, r.Node, j.lab.Nodes)
		}
		if r.Host == "" {
			j.t.Errorf("task %s/rank%d: record has no host", r.Role, r.Rank)
		}
		seen[r.Node] = true
	}
	var nodes []string
	for n := range seen {
		nodes = append(nodes, n)
	}
	sort.Slice(nodes, func(a, b int) bool { return nodeNumber(nodes[a]) < nodeNumber(nodes[b]) })
	if len(nodes) != spec.Nodes {
		j.t.Errorf("tasks ran on nodes %v, want %d nodes", nodes, spec.Nodes)
		return nodes
	}
	for _, st := range spec.Steps {
		for k := 0; k < st.Tasks; k++ {
			r := recs[taskKey{st.Role, k}]
			if r == nil {
				continue
			}
			if want := nodes[st.FirstNode+k/st.TasksPerNode]; r.Node != want {
				j.t.Errorf("task %s/rank%d ran on %s, want %s (job nodes %v)", st.Role, k, r.Node, want, nodes)
			}
		}
	}
	return nodes
}

func nodeNumber(n string) int {
	v, _ := strconv.Atoi(strings.TrimPrefix(n, "n"))
	return v
}

// jobResult reads WS/job-result.json and checks it against submit's exit
// status: submit --wait exits with the job's verdict.
func (j *labJob) jobResult() *workspace.JobResult {
	j.t.Helper()
	res, err := j.ws.LoadJobResult()
	if err != nil {
		j.t.Fatalf("job result: %v", err)
	}
	if res.JobID != j.jobID {
		j.t.Errorf("job-result.json is of job %q, want %s", res.JobID, j.jobID)
	}
	switch {
	case res.Verdict == "passed" && (res.ExitCode != 0 || j.code != 0):
		j.t.Errorf("verdict passed with job exit %d, submit exit %d", res.ExitCode, j.code)
	case res.Verdict == "failed" && (res.ExitCode == 0 || j.code != res.ExitCode):
		j.t.Errorf("verdict failed with job exit %d, submit exit %d: want the same non-zero status", res.ExitCode, j.code)
	case res.Verdict != "passed" && res.Verdict != "failed":
		j.t.Errorf("verdict %q, want passed or failed", res.Verdict)
	}
	return res
}

// stepOutcomes maps role to outcome in job-result.json.
func stepOutcomes(res *workspace.JobResult) map[string]string {
	m := map[string]string{}
	for _, s := range res.Steps {
		m[s.Role] = s.Outcome
	}
	return m
}

// taskView is what the example test wrote about its task
// (WS/test_output/<role>.<rank>.json): the environment it saw.
type taskView struct {
	Role           string   `json:"role"`
	Rank           int      `json:"rank"`
	Node           *string  `json:"node"`
	SlurmdNodename *string  `json:"SLURMD_NODENAME"`
	SlurmProcID    *string  `json:"SLURM_PROCID"`
	SlurmLocalID   *string  `json:"SLURM_LOCALID"`
	CUDAVisible    *string  `json:"CUDA_VISIBLE_DEVICES"`
	NvidiaVisible  *string  `json:"NVIDIA_VISIBLE_DEVICES"`
	Violations     []string `json:"violations"`
}

// view reads what task k saw.
func (j *labJob) view(k taskKey) *taskView {
	j.t.Helper()
	b, err := os.ReadFile(filepath.Join(j.ws.Dir, "test_output", fmt.Sprintf("%s.%d.json", k.role, k.rank)))
	if err != nil {
		j.t.Errorf("task %s: %v", k, err)
		return nil
	}
	var v taskView
	if err := json.Unmarshal(b, &v); err != nil {
		j.t.Errorf("task %s: test_output: %v", k, err)
		return nil
	}
	return &v
}

func deref(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}

// checkNoOrphans waits until no process names the workspace in its argv or
// environment (every task has NODERUN_WORKSPACE) and fails the test with
// those that stay.
func (j *labJob) checkNoOrphans(ctx context.Context) {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if procs, err := slurmlab.WaitNoProcesses(ctx, j.ws.Dir); err != nil {
		j.t.Errorf("processes of job %s outlive it: %v", j.jobID, err)
		for _, p := range procs {
			j.t.Errorf("  %s", p)
		}
	}
}

// waitRecordState waits until task k's record exists in state.
func (j *labJob) waitRecordState(ctx context.Context, k taskKey, state string) {
	j.t.Helper()
	path := j.ws.TaskRecord(k.role, k.rank)
	for {
		if r, err := workspace.LoadTaskRecord(path); err == nil && r.State == state {
			return
		}
		select {
		case <-ctx.Done():
			j.t.Fatalf("task %s never reached state %s: %v", k, state, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitAllRunning waits until every planned task's child runs. A test that
// cuts a job short from outside waits for it: a task signalled while its
// runner is still loading dies before it can record anything, which the
// results report as "no task record" (another case than the one tested).
func (j *labJob) waitAllRunning(ctx context.Context) {
	j.t.Helper()
	for _, k := range expectedTasks(j.spec()) {
		j.waitRecordState(ctx, k, workspace.StateRunning)
	}
}

// followState polls squeue for the job until it has ended and returns a
// function giving the last state Slurm showed (COMPLETED, CANCELLED,
// TIMEOUT, ...). It must start right after submission: the lab forgets a job
// 5 to 60 s after its end, sooner than submit --wait may notice.
func (j *labJob) followState(ctx context.Context) func() string {
	done := make(chan struct{})
	var state string
	var err error
	go func() {
		defer close(done)
		state, err = j.lab.WaitGone(ctx, j.jobID)
	}()
	return func() string {
		<-done
		if err != nil {
			j.t.Errorf("follow job %s in squeue: %v", j.jobID, err)
		}
		return state
	}
}
