package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/testbin"
	"github.com/noderun/noderun/internal/workspace"
)

// exitCodeRows holds every row of README's "Exit codes" table, keyed by its
// status cell as README writes it. A row is held by a real case where one
// runs here in well under a second (drive returns the status it got), else
// by the exitcode constant the row documents (code). A README row without an
// entry, or an entry without a row, fails TestReadmeExitCodes: add a row to
// both. Rows for job outcomes (timeout, cancelled, …) name their constant.
var exitCodeRows = []struct {
	status string
	code   int
	drive  func(t *testing.T) int
}{
	{status: "0", code: exitcode.OK, drive: func(t *testing.T) int {
		code, _, _ := runApp(t, "hostnames", "n[1-2]")
		return code
	}},
	{status: "1", code: exitcode.Failure, drive: func(t *testing.T) int {
		dir := t.TempDir()
		in := filepath.Join(dir, "rank0.xml")
		os.WriteFile(in, []byte(`<testsuite name="s" tests="1" failures="1"><testcase classname="c" name="t"><failure message="boom"/></testcase></testsuite>`), 0o644)
		code, _, _ := runApp(t, "merge", "-o", filepath.Join(dir, "results.xml"), in)
		return code
	}},
	{status: "2", code: exitcode.Usage, drive: func(t *testing.T) int {
		code, _, _ := runApp(t, "bogus") // TestUsageErrors covers the others
		return code
	}},
	// The child's own status passes through `noderun run`.
	{status: "*n*", code: 3, drive: func(t *testing.T) int { return runTask(t, nil, "sh", "-c", "exit 3") }},
	{status: "128+*n*", code: exitcode.SignalBase + 15, drive: func(t *testing.T) int {
		return runTask(t, nil, "sh", "-c", "kill -TERM $$")
	}},
	{status: "70", code: exitcode.Internal},
	{status: "71", code: exitcode.SlurmEnv, drive: func(t *testing.T) int {
		for _, k := range []string{"SLURM_JOB_ID", "SLURM_PROCID", "SLURM_STEP_ID"} {
			t.Setenv(k, "") // as outside any job, even when the tests run in one
		}
		code, _, _ := runApp(t, "run", "--spec", writeSpec(t, nil, "true"), "--role", jobspec.RoleBenchmark)
		return code
	}},
	{status: "72", code: exitcode.SetupFailed, drive: func(t *testing.T) int {
		return runTask(t, func(s *jobspec.Spec) { s.Setup = &jobspec.Command{Argv: []string{"false"}} }, "true")
	}},
	{status: "73", code: exitcode.FenceTimeout},
	{status: "74", code: exitcode.GPUPrecheck},
	{status: "75", code: exitcode.Submit},
	{status: "76", code: exitcode.NoTestRoot, drive: func(t *testing.T) int {
		return runTask(t, func(s *jobspec.Spec) { s.Steps[0].Command.Dir = filepath.Join(s.Workspace, "nope") }, "true")
	}},
	// TestRunTelemetryWithStandinNVML/fail drives it through the stand-in NVML.
	{status: "77", code: exitcode.GPUFault},
	// The outcomes of `job` and `submit --wait`: the mapping both use (the
	// real-Slurm tests drive timeout and cancelled end to end).
	{status: "80", code: exitcode.JobTimeout, drive: outcomeCode(workspace.OutcomeTimeout)},
	{status: "81", code: exitcode.JobCancelled, drive: outcomeCode(workspace.OutcomeCancelled)},
	{status: "82", code: exitcode.JobNodeFailure, drive: outcomeCode(workspace.OutcomeNodeFailure)},
	{status: "83", code: exitcode.JobSetupFailed, drive: outcomeCode(workspace.OutcomeSetupFailed)},
	{status: "84", code: exitcode.JobPrecheckFailed, drive: outcomeCode(workspace.OutcomePrecheckFailed)},
	{status: "85", code: exitcode.JobStartFailed, drive: outcomeCode(workspace.OutcomeStartFailed)},
	{status: "124", code: exitcode.Timeout},
	{status: "126 / 127", code: exitcode.NotFound, drive: func(t *testing.T) int {
		if exitcode.NotExecutable != 126 {
			t.Errorf("exitcode.NotExecutable = %d, README says 126", exitcode.NotExecutable)
		}
		return runTask(t, nil, "no-such-command-noderun")
	}},
}

// README's exit-code table is the contract: every row is held by a case or
// by the constant it names, and every status in a row is that constant.
func TestReadmeExitCodes(t *testing.T) {
	rows := readmeExitCodes(t)
	seen := map[string]bool{}
	for _, r := range exitCodeRows {
		seen[r.status] = true
		if _, ok := rows[r.status]; !ok {
			t.Errorf("exitCodeRows has %q, README's exit-code table has no such row", r.status)
			continue
		}
		t.Run(r.status, func(t *testing.T) {
			// A cell with *n* stands for many statuses: its case holds it.
			if nums := numbers(r.status); !strings.Contains(r.status, "*") && !slices.Contains(nums, r.code) {
				t.Errorf("README row %q documents %v, the constant is %d", r.status, nums, r.code)
			}
			if r.drive == nil {
				return
			}
			if got := r.drive(t); got != r.code {
				t.Errorf("README row %q (%s): the case exited %d, want %d", r.status, rows[r.status], got, r.code)
			}
		})
	}
	for status, meaning := range rows {
		if !seen[status] {
			t.Errorf("README's exit-code row %q (%s) is not held by a test: add it to exitCodeRows", status, meaning)
		}
	}
}

// readmeExitCodes returns the rows of README's "Exit codes" table: status
// cell → the rest of the row.
func readmeExitCodes(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testbin.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Exit codes\n")
	if !ok {
		t.Fatal(`README.md has no "## Exit codes" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(strings.Trim(line, "| "), "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 3 || strings.HasPrefix(cells[0], "---") || strings.TrimSpace(cells[0]) == "status" {
			continue
		}
		status := strings.TrimSpace(cells[0])
		if _, dup := rows[status]; dup {
			t.Errorf("README's exit-code table has the status %q twice", status)
		}
		rows[status] = strings.TrimSpace(strings.Join(cells[1:], "|"))
	}
	if len(rows) == 0 {
		t.Fatal("README's exit-code table has no rows")
	}
	return rows
}

var number = regexp.MustCompile(`\d+`)

// numbers are the statuses a cell names: "126 / 127" → 126, 127.
func numbers(cell string) []int {
	var nums []int
	for _, s := range number.FindAllString(cell, -1) {
		n, _ := strconv.Atoi(s)
		nums = append(nums, n)
	}
	return nums
}

// writeSpec writes a one-step job spec whose BENCHMARK task runs argv.
func writeSpec(t *testing.T, edit func(*jobspec.Spec), argv ...string) string {
	t.Helper()
	ws := t.TempDir()
	spec := &jobspec.Spec{
		Version: jobspec.Version, Workspace: ws, NodeLocalDir: filepath.Join(ws, "local"), Nodes: 1,
		Timeouts: jobspec.Timeouts{KillGrace: jobspec.Duration(5 * time.Second), Setup: jobspec.Duration(10 * time.Second)},
		GPU:      jobspec.GPUPolicy{Precheck: "off"},
		Steps: []jobspec.Step{{Role: jobspec.RoleBenchmark, Kind: jobspec.KindBenchmark, Nodes: 1, Tasks: 1, TasksPerNode: 1,
			GPUMode: jobspec.GPUModeNone, Command: jobspec.Command{Argv: argv}}},
	}
	if edit != nil {
		edit(spec)
	}
	path := filepath.Join(ws, "job.json")
	if err := spec.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// runTask runs `noderun run` in this process for the spec's one task, with
// the Slurm environment srun would give it, and returns its exit status.
func runTask(t *testing.T, edit func(*jobspec.Spec), argv ...string) int {
	t.Helper()
	for k, v := range map[string]string{"SLURM_JOB_ID": "3", "SLURM_STEP_ID": "1", "SLURM_PROCID": "0", "SLURM_LOCALID": "0",
		"SLURM_NODEID": "0", "SLURMD_NODENAME": "n1", "SLURM_JOB_NODELIST": "n1", "SLURM_STEP_NODELIST": "n1",
		"SLURM_NTASKS": "1", "SLURM_STEP_NUM_TASKS": "1", "SLURM_JOB_NUM_NODES": "1"} {
		t.Setenv(k, v)
	}
	code, _, stderr := runApp(t, "run", "--spec", writeSpec(t, edit, argv...), "--role", jobspec.RoleBenchmark)
	t.Logf("noderun run %q: exit status %d\n%s", argv, code, stderr)
	return code
}

// outcomeCode drives a row through the outcome → exit status mapping.
func outcomeCode(outcome string) func(*testing.T) int {
	return func(*testing.T) int { return workspace.OutcomeExitCode(outcome) }
}
