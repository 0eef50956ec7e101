package launcher

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/jobreport"
	"github.com/noderun/noderun/internal/junitmerge"
	"github.com/noderun/noderun/internal/workspace"
)

// After scancel the batch step may merge while a runner is still
// stopping. Its end record may land later, before the follower exits: the
// follower merges it, and results.xml shows how the task ended. Or Slurm
// kills the runner first: the follower's merge says so. The job's outcome
// stays either way.
func TestFollowerMergesLateRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		late bool // why: without a late file the job's merge stands untouched
	}{{"late record", true}, {"killed while stopping", false}} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, ws := waitFixture(t, func(ws workspace.Layout) []fakePoll {
				jobMerges := func() {
					res := &workspace.JobResult{JobID: "42", Outcome: workspace.OutcomeCancelled, Verdict: "failed", ExitCode: 81,
						Reason: "job cancelled (terminated)",
						Steps:  []workspace.StepResult{{Role: "GEN_0", Outcome: workspace.StepCancelled, ExitCode: 143}}}
					if err := ws.SaveTaskRecord(&workspace.TaskRecord{Role: "GEN_0", Rank: 0, JobID: "42", State: workspace.StateRunning}); err != nil {
						t.Fatal(err)
					}
					doc, rep := junitmerge.BuildWorkspace(ws, junitmerge.Options{Result: res})
					if err := jobreport.Write(ws, doc, rep); err != nil {
						t.Fatal(err)
					}
					if err := ws.SaveJobResult(res); err != nil {
						t.Fatal(err)
					}
					if !tc.late {
						return
					}
					rec := &workspace.TaskRecord{Role: "GEN_0", Rank: 0, JobID: "42", State: workspace.StateSignaled, Signal: "SIGTERM",
						ExitCode: 143, Stopped: true, Start: time.Now(), End: time.Now()}
					if err := ws.SaveTaskRecord(rec); err != nil {
						t.Fatal(err)
					}
					// Later than the merge whatever the filesystem's time resolution.
					later := time.Now().Add(2 * time.Second)
					if err := os.Chtimes(ws.TaskRecord("GEN_0", 0), later, later); err != nil {
						t.Fatal(err)
					}
				}
				return []fakePoll{{state: running("0:01"), do: jobMerges}, {state: JobState{ID: "42", State: "CANCELLED"}}}
			})
			err := f.submitWait()
			if err == nil {
				t.Fatal("a cancelled job's follower exited 0")
			}
			xml, rerr := os.ReadFile(ws.Results())
			if rerr != nil {
				t.Fatal(rerr)
			}
			stillStopping := strings.Contains(string(xml), "noderun.task.StillStopping")
			killed := strings.Contains(string(xml), "noderun.task.KilledWhileStopping")
			said := strings.Contains(f.stdout.String(), "landed after job 42 merged")
			if stillStopping || killed == tc.late || said != tc.late {
				t.Errorf("late %v: results.xml still stopping %v, killed while stopping %v, said so %v\n%s\n%s", tc.late, stillStopping, killed, said, f.stdout.String(), xml)
			}
			if tc.late && !strings.Contains(string(xml), "noderun.task.Cancelled") {
				t.Errorf("the late record's end is not in results.xml:\n%s", xml)
			}
			if res, _ := ws.LoadJobResult(); res == nil || res.Outcome != workspace.OutcomeCancelled {
				t.Errorf("job-result.json %+v: the job's outcome must stay", res)
			}
		})
	}
}
