// Package workspace owns the layout of a job workspace: the one list of
// every file and directory a job writes there (Entries), their paths
// (Layout), and the records and results kept in it. Every package finds a
// workspace file through here, so that each name is written down once.
package workspace

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Layout is a workspace directory.
type Layout struct{ Dir string }

// New returns the layout of the workspace at dir.
func New(dir string) Layout { return Layout{Dir: dir} }

// path is where e lies in this workspace, its placeholders filled from vals.
func (l Layout) path(e Entry, vals ...string) string {
	return filepath.Join(l.Dir, filepath.FromSlash(expand(e, vals...)))
}

// Spec is WS/job.json.
func (l Layout) Spec() string { return l.path(specFile) }

// TestList is WS/test_list.txt.
func (l Layout) TestList() string { return l.path(testList) }

// Waives is WS/waives.txt, pytest's --waives-file in TensorRT-LLM mode.
func (l Layout) Waives() string { return l.path(waives) }

// TestOutput is WS/<param>, the directory TensorRT-LLM's test makes under
// --output-dir for the test id whose bracket is param. It is not in the
// list: a test id is not a name the list can recognise.
func (l Layout) TestOutput(param string) string { return filepath.Join(l.Dir, param) }

// Sbatch is WS/job.sbatch, the batch stub.
func (l Layout) Sbatch() string { return l.path(sbatchStub) }

// Binary is WS/bin/noderun, the copy of noderun the job runs.
func (l Layout) Binary() string { return l.path(binary) }

// Results is WS/results.xml, the merged junit.
func (l Layout) Results() string { return l.path(results) }

// Summary is WS/summary.md.
func (l Layout) Summary() string { return l.path(summary) }

// JobResult is WS/job-result.json, written by `noderun job` at its end.
func (l Layout) JobResult() string { return l.path(jobResult) }

// HasJobResult reports whether WS/job-result.json is there (written by the
// job's end, or by a follower for a job that left none).
func (l Layout) HasJobResult() bool {
	_, err := os.Stat(l.JobResult())
	return err == nil
}

// BatchOutput is WS/slurm-<job>.out, the output of the batch step.
func (l Layout) BatchOutput(jobID string) string { return l.path(batchOutput, "job", jobID) }

// BatchOutputPattern is BatchOutput for sbatch --output, where %j is the job id.
func (l Layout) BatchOutputPattern() string { return l.BatchOutput("%j") }

// Report is WS/report.html.
func (l Layout) Report() string { return l.path(report) }

// Telemetry is WS/telemetry/<role>/rank<k>.jsonl.
func (l Layout) Telemetry(role string, rank int) string {
	return l.path(telemetry, "role", role, "rank", strconv.Itoa(rank))
}

// ResultsDir is WS/results, holding one junit file per pytest task.
func (l Layout) ResultsDir() string { return l.path(resultsDir) }

// Junit is WS/results/<role>/rank<k>.xml.
func (l Layout) Junit(role string, rank int) string {
	return l.path(junitFile, "role", role, "rank", strconv.Itoa(rank))
}

// JunitTask is the task whose Junit path is path; ok is false for any other path.
func (l Layout) JunitTask(path string) (role string, rank int, ok bool) {
	rel, err := filepath.Rel(l.Dir, path)
	if err != nil {
		return "", 0, false
	}
	vals := match(junitFile, filepath.ToSlash(rel))
	if vals == nil {
		return "", 0, false
	}
	rank, ok = parseRank(vals["rank"])
	if !ok {
		return "", 0, false
	}
	return vals["role"], rank, true
}

// LogsDir is WS/logs.
func (l Layout) LogsDir() string { return l.path(logsDir) }

// LogDir is WS/logs/<role>.
func (l Layout) LogDir(role string) string { return l.path(roleLogs, "role", role) }

// TaskLog is WS/logs/<role>/rank<k>.log, the output of one task's child.
func (l Layout) TaskLog(role string, rank int) string {
	return l.path(taskLog, "role", role, "rank", strconv.Itoa(rank))
}

// RunnerLog is WS/logs/<role>/runner-rank<k>.log, one task's `noderun run`.
func (l Layout) RunnerLog(role string, rank int) string {
	return l.path(runnerLog, "role", role, "rank", strconv.Itoa(rank))
}

// RunnerLogPattern is RunnerLog for srun --output, where %t is the rank.
func (l Layout) RunnerLogPattern(role string) string {
	return l.path(runnerLog, "role", role, "rank", "%t")
}

// StepLog is WS/logs/<role>/srun.log, the output of a step's srun.
func (l Layout) StepLog(role string) string { return l.path(stepLog, "role", role) }

// SetupLog is WS/logs/setup/<node>.log, the output of one node's setup.
func (l Layout) SetupLog(node string) string { return l.path(setupLog, "node", node) }

// StateDir is WS/.noderun, noderun's own bookkeeping.
func (l Layout) StateDir() string { return l.path(stateDir) }

// TasksDir is WS/.noderun/tasks.
func (l Layout) TasksDir() string { return l.path(tasksDir) }

// TaskRecord is WS/.noderun/tasks/<role>/<rank>.json.
func (l Layout) TaskRecord(role string, rank int) string {
	return l.path(taskRecord, "role", role, "rank", strconv.Itoa(rank))
}

// StopFile is WS/.noderun/stop/<attempt>/<role>, a request to the tasks of
// one step in one attempt (Attempt.Key).
func (l Layout) StopFile(attempt, role string) string {
	return l.path(stopFile, "attempt", attempt, "role", role)
}

// FenceDir is WS/.noderun/fence/<attempt>/<role>, where the tasks of one
// step in one attempt leave their start markers.
func (l Layout) FenceDir(attempt, role string) string {
	return l.path(fenceDir, "attempt", attempt, "role", role)
}

// AttemptDir is WS/.noderun/attempts/<attempt>, where the task records,
// results and logs of an earlier attempt are kept.
func (l Layout) AttemptDir(attempt string) string {
	return l.path(attemptDir, "attempt", attempt)
}

// Resolve turns a path a record holds into one to open: a relative path is
// relative to the workspace.
func (l Layout) Resolve(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(l.Dir, path)
}

// Rel shows a path inside the workspace relative to it, as CI users see
// it; any other path is returned as it is.
func (l Layout) Rel(path string) string {
	if path == "" {
		return ""
	}
	dir := l.Dir
	if filepath.IsAbs(path) {
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
	}
	if r, err := filepath.Rel(dir, path); err == nil && r != ".." && !strings.HasPrefix(r, "../") {
		return r
	}
	return path
}

// parseRank reads a rank as the runner writes it: decimal digits only.
func parseRank(s string) (int, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	rank, err := strconv.Atoi(s)
	return rank, err == nil
}
