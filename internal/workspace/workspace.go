// Package workspace names the files of a job workspace (DESIGN.md "CLI
// contract") and reads and writes the task records in it. Every package finds
// a workspace file through here, so the layout is written down once.
package workspace

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// Layout is a workspace directory.
type Layout struct{ Dir string }

// New returns the layout of the workspace at dir.
func New(dir string) Layout { return Layout{Dir: dir} }

// Spec is WS/job.json.
func (l Layout) Spec() string { return filepath.Join(l.Dir, "job.json") }

// TestList is WS/test_list.txt.
func (l Layout) TestList() string { return filepath.Join(l.Dir, "test_list.txt") }

// Waives is WS/waives.txt, pytest's --waives-file in TensorRT-LLM mode.
func (l Layout) Waives() string { return filepath.Join(l.Dir, "waives.txt") }

// Sbatch is WS/job.sbatch, the batch stub.
func (l Layout) Sbatch() string { return filepath.Join(l.Dir, "job.sbatch") }

// Binary is WS/bin/noderun, the copy of noderun the job runs.
func (l Layout) Binary() string { return filepath.Join(l.Dir, "bin", "noderun") }

// Results is WS/results.xml, the merged junit.
func (l Layout) Results() string { return filepath.Join(l.Dir, "results.xml") }

// Summary is WS/summary.md.
func (l Layout) Summary() string { return filepath.Join(l.Dir, "summary.md") }

// JobResult is WS/job-result.json, written by `noderun job` at its end.
func (l Layout) JobResult() string { return filepath.Join(l.Dir, "job-result.json") }

// ResultsDir is WS/results, holding one junit file per pytest task.
func (l Layout) ResultsDir() string { return filepath.Join(l.Dir, "results") }

// Junit is WS/results/<role>/rank<k>.xml.
func (l Layout) Junit(role string, rank int) string {
	return filepath.Join(l.ResultsDir(), role, "rank"+strconv.Itoa(rank)+".xml")
}

// LogDir is WS/logs/<role>.
func (l Layout) LogDir(role string) string { return filepath.Join(l.Dir, "logs", role) }

// TaskLog is the output of one task: WS/logs/<role>/rank<k>.log.
func (l Layout) TaskLog(role string, rank int) string {
	return filepath.Join(l.LogDir(role), "rank"+strconv.Itoa(rank)+".log")
}

// RunnerLog is the output of one task's `noderun run` itself (its log
// lines, and errors from before the child started):
// WS/logs/<role>/runner-rank<k>.log.
func (l Layout) RunnerLog(role string, rank int) string {
	return filepath.Join(l.LogDir(role), "runner-rank"+strconv.Itoa(rank)+".log")
}

// RunnerLogPattern is RunnerLog for srun --output, where %t is the rank.
func (l Layout) RunnerLogPattern(role string) string {
	return filepath.Join(l.LogDir(role), "runner-rank%t.log")
}

// StepLog is the output of a step's srun itself: WS/logs/<role>/srun.log.
func (l Layout) StepLog(role string) string { return filepath.Join(l.LogDir(role), "srun.log") }

// StateDir is WS/.noderun, noderun's own bookkeeping.
func (l Layout) StateDir() string { return filepath.Join(l.Dir, ".noderun") }

// TasksDir is WS/.noderun/tasks.
func (l Layout) TasksDir() string { return filepath.Join(l.StateDir(), "tasks") }

// TaskRecord is WS/.noderun/tasks/<role>/<rank>.json.
func (l Layout) TaskRecord(role string, rank int) string {
	return filepath.Join(l.TasksDir(), role, strconv.Itoa(rank)+".json")
}

// StopFile is WS/.noderun/stop/<job>/<role>: `noderun job` writes it to
// ask every task of a step to stop calmly (see noderun.stopPoll).
func (l Layout) StopFile(jobID, role string) string {
	return filepath.Join(l.StateDir(), "stop", jobID, role)
}

// FenceDir is where the tasks of one step attempt leave their start markers.
func (l Layout) FenceDir(jobID string, restart int, role string) string {
	return filepath.Join(l.StateDir(), "fence", fmt.Sprintf("%s.%d", jobID, restart), role)
}
