package junitmerge

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/noderun/noderun/internal/workspace"
)

// synth describes an expected synthetic testcase.
type synth struct {
	name, status, typ, contains string
}

func TestMergeWorkspaceTasks(t *testing.T) {
	const role = "GEN_0"
	tests := []struct {
		name string
		// why the case exists
		why   string
		setup func(w *testWorkspace)
		// junitCases is how many of the junit file's testcases must be kept.
		junitCases int
		want       []synth
	}{
		{
			name: "exit 0 with junit", why: "the plain path adds nothing",
			setup: func(w *testWorkspace) {
				w.record(rec(role, 0, "exited", 0))
				w.junit(role, 0, junitPass)
			},
			junitCases: 2,
		},
		{
			name: "exit 1 with failures in junit", why: "pytest's status 1 is explained by the file: no extra error",
			setup: func(w *testWorkspace) {
				w.record(rec(role, 0, "exited", 1))
				w.junit(role, 0, junitFail)
			},
			junitCases: 2,
		},
		{
			name: "exit 1 without junit", why: "a crashed rank leaves no file: the reference showed no tests",
			setup: func(w *testWorkspace) { w.record(rec(role, 0, "exited", 1)) },
			want:  []synth{{"task", StatusError, "noderun.task.Exit", "left no junit file (results/GEN_0/rank0.xml)"}},
		},
		{
			name: "exit 2 with a clean junit", why: "pytest interrupted or usage error: the file shows nothing wrong, the status does",
			setup: func(w *testWorkspace) {
				w.record(rec(role, 0, "exited", 2))
				w.junit(role, 0, junitPass)
			},
			junitCases: 2,
			want:       []synth{{"task", StatusError, "noderun.task.Exit", "records no failure"}},
		},
		{
			name: "killed by signal without junit", why: "OOM killer or segfault",
			setup: func(w *testWorkspace) { w.record(rec(role, 0, "signaled", 137, withSignal("SIGKILL"))) },
			want:  []synth{{"task", StatusError, "noderun.task.Signal", "killed by signal SIGKILL (exit status 137)"}},
		},
		{
			name: "killed by signal after writing junit", why: "a crash at interpreter exit (CUDA teardown) is still a failure",
			setup: func(w *testWorkspace) {
				w.record(rec(role, 0, "signaled", 134, withSignal("SIGABRT")))
				w.junit(role, 0, junitPass)
			},
			junitCases: 2,
			want:       []synth{{"task", StatusError, "noderun.task.Signal", "SIGABRT"}},
		},
		{
			name: "runner died", why: "a record left running means the runner itself was killed",
			setup: func(w *testWorkspace) { w.record(rec(role, 0, "running", 0)) },
			want:  []synth{{"task", StatusError, "noderun.task.RunnerDied", "runner died before recording an end"}},
		},
		{
			name: "still stopping after scancel", why: "srun ends before its tasks on scancel: a runner not done yet is stopping, not dead",
			setup: func(w *testWorkspace) {
				w.result = cancelledResult(role)
				w.record(rec(role, 0, "running", 0))
			},
			want: []synth{{"task", StatusError, "noderun.task.StillStopping", "still stopping when results were merged; it left no junit file"}},
		},
		{
			name: "killed while stopping", why: "once Slurm ended the job, a runner still stopping was killed by its KillWait",
			setup: func(w *testWorkspace) {
				w.result = cancelledResult(role)
				w.jobEnded = true
				w.record(rec(role, 0, "running", 0))
			},
			want: []synth{{"task", StatusError, "noderun.task.KilledWhileStopping", "killed while still stopping"}},
		},
		{
			name: "runner died in a step that ended on its own", why: "only a cancelled step's running record is a runner still stopping",
			setup: func(w *testWorkspace) {
				w.result = cancelledResult(role)
				w.result.Steps[0].Outcome = workspace.StepFailed
				w.record(rec(role, 0, "running", 0))
			},
			want: []synth{{"task", StatusError, "noderun.task.RunnerDied", "runner died before recording an end"}},
		},
		{
			name: "failed to start", why: "setup or exec failures carry their reason in the record",
			setup: func(w *testWorkspace) {
				w.record(rec(role, 0, "failed_to_start", 127, withError("exec: pytest: not found")))
			},
			want: []synth{{"task", StatusError, "noderun.task.FailedToStart", "exec: pytest: not found"}},
		},
		{
			name: "timed out with junit", why: "a timeout is an error even when a file exists; its cases are kept",
			setup: func(w *testWorkspace) {
				w.record(rec(role, 0, "timed_out", 143, timedOut()))
				w.junit(role, 0, junitPass)
			},
			junitCases: 2,
			want:       []synth{{"task", StatusError, "noderun.task.Timeout", "timed out after 1m30s"}},
		},
		{
			name: "cancelled", why: "asked to stop while no stop was expected (scancel, job time limit)",
			setup: func(w *testWorkspace) { w.record(rec(role, 0, "signaled", 143, withSignal("SIGTERM"), stopped())) },
			want:  []synth{{"task", StatusError, "noderun.task.Cancelled", "cancelled"}},
		},
		{
			name: "stopped after the benchmark", why: "servers stopped on purpose are skips, not failures",
			setup: func(w *testWorkspace) {
				w.stops = map[string]bool{role: true}
				w.record(rec(role, 0, "signaled", 143, withSignal("SIGTERM"), stopped()))
			},
			want: []synth{{"task", StatusSkipped, "noderun.task.StoppedAfterDeciding", "stopped after BENCHMARK finished"}},
		},
		{
			name: "stopped after the benchmark with a cut file", why: "a kill mid-write is part of the expected stop",
			setup: func(w *testWorkspace) {
				w.stops = map[string]bool{role: true}
				w.record(rec(role, 0, "signaled", 137, withSignal("SIGKILL"), stopped()))
				w.junit(role, 0, junitPass[:120])
			},
			want: []synth{{"task", StatusSkipped, "noderun.task.StoppedAfterDeciding", "stopped after BENCHMARK finished"}},
		},
		{
			name: "expected-stop role whose rank failed on its own", why: "a failure before the stop stays a failure",
			setup: func(w *testWorkspace) {
				w.stops = map[string]bool{role: true}
				w.record(rec(role, 0, "exited", 1))
			},
			want: []synth{{"task", StatusError, "noderun.task.Exit", "exited with status 1"}},
		},
		{
			name: "expected-stop role that timed out", why: "a timeout is never the expected stop",
			setup: func(w *testWorkspace) {
				w.stops = map[string]bool{role: true}
				w.record(rec(role, 0, "timed_out", 143, timedOut(), stopped()))
			},
			want: []synth{{"task", StatusError, "noderun.task.Timeout", "timed out"}},
		},
		{
			name: "no record, the spec expects the task", why: "the runner was killed before it wrote anything",
			setup: func(w *testWorkspace) {},
			want:  []synth{{"results", StatusError, "noderun.role.NoResults", "role GEN_0 produced no results"}},
		},
		{
			name: "exit 0 without the junit file", why: "pytest ran but its file is gone: not a pass",
			setup: func(w *testWorkspace) { w.record(rec(role, 0, "exited", 0)) },
			want:  []synth{{"task", StatusError, "noderun.junit.Missing", "exited 0 but wrote no junit file"}},
		},
		{
			name: "exit 0 of a task without pytest", why: "servers that do not run pytest stay visible as one passing case",
			setup: func(w *testWorkspace) { w.record(rec(role, 0, "exited", 0, withoutJunit())) },
			want:  []synth{{"task", StatusPassed, "", ""}},
		},
		{
			name: "empty junit", why: "pytest killed right after opening its file",
			setup: func(w *testWorkspace) {
				w.record(rec(role, 0, "exited", 0))
				w.junit(role, 0, "")
			},
			want: []synth{{"junit", StatusError, brokenEmpty, "results/GEN_0/rank0.xml: junit file is empty"}},
		},
		{
			name: "truncated junit", why: "a full disk or a kill mid-write",
			setup: func(w *testWorkspace) {
				w.record(rec(role, 0, "exited", 0))
				w.junit(role, 0, junitPass[:len(junitPass)-40])
			},
			want: []synth{{"junit", StatusError, brokenTruncated, "truncated"}},
		},
		{
			name: "junit that is not XML", why: "something else wrote to the path",
			setup: func(w *testWorkspace) {
				w.record(rec(role, 0, "exited", 0))
				w.junit(role, 0, "Traceback (most recent call last):\n  oops\n")
			},
			want: []synth{{"junit", StatusError, brokenNoSuites, "no <testsuite>"}},
		},
		{
			name: "failure that go-junit reads as a skip", why: "nothing go-junit drops may turn a failure into a pass",
			setup: func(w *testWorkspace) {
				w.record(rec(role, 0, "exited", 1))
				w.junit(role, 0, junitFailThenSkip)
			},
			junitCases: 1,
			want:       []synth{{"junit", StatusError, brokenLost, "1 failing testcases but only 0"}},
		},
		{
			name: "exit 1 with a truncated junit", why: "one error for the file is enough: the status is explained by it",
			setup: func(w *testWorkspace) {
				w.record(rec(role, 0, "exited", 1))
				w.junit(role, 0, junitFail[:100])
			},
			want: []synth{{"junit", StatusError, brokenTruncated, "truncated"}},
		},
		{
			name: "junit path from the record", why: "the record's junit path wins over the usual place",
			setup: func(w *testWorkspace) {
				p := filepath.Join(w.ws.Dir, "elsewhere", "r0.xml")
				w.record(rec(role, 0, "exited", 1, withJunitPath(p)))
				w.write(p, junitFail)
			},
			junitCases: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newTestWorkspace(t, step(role, 1, true))
			tc.setup(w)
			doc, rep := BuildWorkspace(w.ws, w.opts())
			_, data := writeDoc(t, doc)
			back := parseBack(t, data)

			var got []*Case
			kept := 0
			for _, s := range back.Suites {
				for _, c := range s.Cases {
					if strings.HasPrefix(c.Classname, "noderun.") {
						got = append(got, c)
					} else {
						kept++
					}
				}
			}
			if kept != tc.junitCases {
				t.Errorf("kept %d junit testcases, want %d", kept, tc.junitCases)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d synthetic testcases %s, want %d", len(got), describe(got), len(tc.want))
			}
			for i, want := range tc.want {
				c := got[i]
				if c.Name != want.name || c.Status() != want.status {
					t.Errorf("case %d: %s/%s, want %s/%s", i, c.Name, c.Status(), want.name, want.status)
				}
				r := result(c)
				if want.typ == "" {
					continue
				}
				if r == nil || r.Type != want.typ || !strings.Contains(r.Message, want.contains) {
					t.Errorf("case %d: result %+v, want type %s and a message with %q", i, r, want.typ, want.contains)
				}
			}
			failing := rep.Total.Failed+rep.Total.Errors > 0
			if rep.Failed() != failing {
				t.Error("Report.Failed disagrees with its totals")
			}
		})
	}
}

func result(c *Case) *Result {
	switch {
	case c.Error != nil:
		return c.Error
	case c.Failure != nil:
		return c.Failure
	}
	return c.Skipped
}

func describe(cs []*Case) string {
	var parts []string
	for _, c := range cs {
		r := result(c)
		msg := ""
		if r != nil {
			msg = r.Type + ": " + r.Message
		}
		parts = append(parts, fmt.Sprintf("[%s %s %s]", c.Name, c.Status(), msg))
	}
	return strings.Join(parts, " ")
}

// TestMergeWorkspaceRoles covers what is decided per role rather than per task.
func TestMergeWorkspaceRoles(t *testing.T) {
	t.Run("silent role is one error, expected-stop silent role one skip", func(t *testing.T) {
		w := newTestWorkspace(t, step("CTX_0", 2, true), step("GEN_0", 2, true), step("BENCHMARK", 1, true))
		w.stops = map[string]bool{"GEN_0": true}
		w.record(rec("BENCHMARK", 0, "exited", 0))
		w.junit("BENCHMARK", 0, junitPass)
		w.write(w.ws.StepLog("CTX_0"), "srun: error: Unable to create step for job 42\n")
		doc, rep := BuildWorkspace(w.ws, w.opts())
		names := suiteNames(doc)
		want := []string{"CTX_0", "GEN_0", "BENCHMARK/rank0@node-0"}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Fatalf("suites %v, want %v (spec order)", names, want)
		}
		ctx := doc.Suites[0].Cases[0]
		if ctx.Error == nil || !strings.Contains(ctx.Error.Body, "Unable to create step") {
			t.Errorf("silent role's error should carry the step log tail: %+v", ctx.Error)
		}
		if gen := doc.Suites[1].Cases[0]; gen.Status() != StatusSkipped {
			t.Errorf("expected-stop role: %s, want skipped", gen.Status())
		}
		if len(rep.Rows) != 3 || rep.Rows[0].Role != "CTX_0" || rep.Rows[0].Errors != 1 || rep.Rows[1].Skipped != 1 {
			t.Errorf("rows %+v", rep.Rows)
		}
	})

	t.Run("one missing rank among several is that rank's error", func(t *testing.T) {
		// Rank 1's runner never wrote a record: the role has results, so the
		// error is the rank's own, not the role's.
		w := newTestWorkspace(t, step("GEN_0", 2, true))
		w.record(rec("GEN_0", 0, "exited", 0))
		w.junit("GEN_0", 0, junitPass)
		doc, _ := BuildWorkspace(w.ws, w.opts())
		cs := findCases(t, doc, "task")
		if len(cs) != 1 || cs[0].Error == nil || cs[0].Error.Type != "noderun.task.NoRecord" || cs[0].Classname != "noderun.GEN_0.rank1" {
			t.Fatalf("want one NoRecord error for rank 1, got %s", describe(cs))
		}
	})

	t.Run("without a spec, files and records are what there is", func(t *testing.T) {
		w := newTestWorkspace(t)
		w.junit("GEN_0", 3, junitPass)
		w.record(rec("CTX_0", 0, "exited", 1))
		w.write(filepath.Join(w.ws.ResultsDir(), "extra", "other.xml"), junitFail)
		doc, rep := BuildWorkspace(w.ws, w.opts())
		names := suiteNames(doc)
		want := []string{"CTX_0/rank0@node-0", "GEN_0/rank3@from-file", "extra/other"}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Fatalf("suites %v, want %v", names, want)
		}
		if rep.Total.Tests != 5 || rep.Total.Errors != 1 || rep.Total.Failed != 1 {
			t.Errorf("totals %+v", rep.Total)
		}
	})

	t.Run("an empty directory is an error, not zero tests", func(t *testing.T) {
		w := newTestWorkspace(t)
		_, rep := BuildWorkspace(w.ws, w.opts())
		if !rep.Failed() || rep.Total.Errors != 1 {
			t.Errorf("empty workspace: %+v", rep.Total)
		}
	})

	t.Run("job.json and job-result.json are read when the options leave them out", func(t *testing.T) {
		w := newTestWorkspace(t, step("GEN_0", 1, true), step("BENCHMARK", 1, true))
		if err := w.spec.Save(w.ws.Spec()); err != nil {
			t.Fatal(err)
		}
		jr := &workspace.JobResult{Steps: []workspace.StepResult{
			{Role: "GEN_0", Outcome: workspace.StepStoppedAfterDeciding},
			{Role: "BENCHMARK", Outcome: workspace.StepSucceeded},
		}}
		if err := w.ws.SaveJobResult(jr); err != nil {
			t.Fatal(err)
		}
		w.record(rec("GEN_0", 0, "signaled", 143, withSignal("SIGTERM"), stopped()))
		w.record(rec("BENCHMARK", 0, "exited", 0))
		w.junit("BENCHMARK", 0, junitPass)
		rep, err := MergeWorkspace(w.ws, Options{Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Failed() || rep.Total.Skipped != 1 || len(rep.Rows) != 2 || rep.Rows[0].Role != "GEN_0" {
			t.Errorf("report %+v rows %+v: GEN_0 should be an expected stop read from job-result.json", rep.Total, rep.Rows)
		}
	})

	t.Run("an unreadable job.json is reported", func(t *testing.T) {
		w := newTestWorkspace(t)
		w.write(w.ws.Spec(), "{not json")
		w.record(rec("GEN_0", 0, "exited", 0))
		w.junit("GEN_0", 0, junitPass)
		doc, _ := BuildWorkspace(w.ws, w.opts())
		cs := findCases(t, doc, "job.json")
		if len(cs) != 1 || cs[0].Error == nil {
			t.Fatalf("want an error testcase for job.json, got %s", describe(cs))
		}
	})

	t.Run("a junit file with several suites", func(t *testing.T) {
		// Suites keep their own names under the rank's, and a synthetic
		// error gets a suite of its own.
		w := newTestWorkspace(t, step("GEN_0", 1, true))
		w.record(rec("GEN_0", 0, "signaled", 139, withSignal("SIGSEGV")))
		w.junit("GEN_0", 0, `<testsuites><testsuite name="a" tests="1" failures="0" errors="0"><testcase name="x"/></testsuite><testsuite name="b" tests="1" failures="0" errors="0"><testcase name="y"/></testsuite></testsuites>`)
		doc, _ := BuildWorkspace(w.ws, w.opts())
		names := suiteNames(doc)
		want := []string{"GEN_0/rank0@node-0", "GEN_0/rank0@node-0/a", "GEN_0/rank0@node-0/b"}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Fatalf("suites %v, want %v", names, want)
		}
	})
}

// cancelledResult is the result of a job cancelled while role ran.
func cancelledResult(role string) *workspace.JobResult {
	return &workspace.JobResult{
		JobID: "42", Outcome: workspace.OutcomeCancelled, Reason: "job cancelled (terminated)",
		Steps: []workspace.StepResult{{Role: role, Outcome: workspace.StepCancelled, ExitCode: 143, SrunExitCode: 0}},
	}
}
