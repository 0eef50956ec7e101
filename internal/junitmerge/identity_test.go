package junitmerge

import (
	"path/filepath"
	"testing"

	"github.com/noderun/noderun/internal/jobspec"
)

// TestCaseIdentity merges a job in which every rank ran the same pytest
// test, as perf jobs do, and checks who gets which (classname, name).
func TestCaseIdentity(t *testing.T) {
	tests := []struct {
		name  string
		steps []jobspec.Step
		// the deciding task, whose cases keep pytest's identity
		deciding string
		rank     int
	}{
		// Disaggregated: BENCHMARK decides; two GEN ranks and a CTX rank
		// ran the same test.
		{name: "disaggregated", steps: []jobspec.Step{step("GEN_0", 2, true), step("CTX_0", 1, true), step(jobspec.RoleBenchmark, 1, true)},
			deciding: jobspec.RoleBenchmark},
		// Aggregated: the one worker step decides, its rank 0 keeps the
		// identity and rank 1's carries its rank.
		{name: "aggregated", steps: []jobspec.Step{aggregatedStep(2)}, deciding: jobspec.RoleWorker},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newTestWorkspace(t, tc.steps...)
			for _, st := range tc.steps {
				for k := 0; k < st.Tasks; k++ {
					w.record(rec(st.Role, k, "exited", 0))
					w.junit(st.Role, k, junitPass)
				}
			}
			// A junit file no task claims, holding the deciding test again.
			w.write(filepath.Join(w.ws.ResultsDir(), "extra", "copy.xml"), junitPass)
			doc, _ := BuildWorkspace(w.ws, w.opts())

			seen := map[[2]string]string{}
			decidingCases := 0
			for _, s := range unsealed(t, doc).Suites {
				for _, c := range s.Cases {
					key := [2]string{c.Classname, c.Name}
					if other, dup := seen[key]; dup {
						t.Errorf("testcase %q/%q is in %s and %s", c.Classname, c.Name, other, s.Name)
					}
					seen[key] = s.Name
					if c.Classname == "t" && (c.Name == "test_a" || c.Name == "test_b") {
						decidingCases++
						if want := tc.deciding + "/rank0@node-0"; s.Name != want {
							t.Errorf("pytest's own identity t/%s went to suite %s, want %s", c.Name, s.Name, want)
						}
					}
				}
			}
			if decidingCases != 2 {
				t.Errorf("%d cases keep pytest's identity, want the deciding task's 2", decidingCases)
			}
			for _, st := range tc.steps {
				for k := 0; k < st.Tasks; k++ {
					if st.Role == tc.deciding && k == 0 {
						continue
					}
					want := rankClassname(st.Role, k, "t")
					if _, ok := seen[[2]string{want, "test_a"}]; !ok {
						t.Errorf("no testcase %s/test_a for %s rank %d", want, st.Role, k)
					}
				}
			}
			if _, ok := seen[[2]string{"t", "test_a#2"}]; !ok {
				t.Errorf("the unclaimed file's copy of t/test_a was not renamed t/test_a#2: %v", seen)
			}
		})
	}
}

func aggregatedStep(tasks int) jobspec.Step {
	st := step(jobspec.RoleWorker, tasks, true)
	st.Deciding = true
	return st
}

// TestDistinctCases checks the renaming on its own.
func TestDistinctCases(t *testing.T) {
	c := func(classname, name string) *Case { return &Case{Classname: classname, Name: name} }
	other := &Suite{Cases: []*Case{c("t", "a"), c("t", "a"), c("t", "a#2"), c("u", "a")}}
	deciding := &Suite{deciding: true, Cases: []*Case{c("t", "a"), c("t", "a")}}
	distinctCases([]*Suite{other, deciding})
	var got []string
	for _, s := range []*Suite{deciding, other} {
		for _, c := range s.Cases {
			got = append(got, c.Classname+"/"+c.Name)
		}
	}
	// The deciding suite comes second but keeps its first case's name; a
	// name already taken ("a#2") is skipped over; another classname is
	// another identity.
	want := []string{"t/a", "t/a#2", "t/a#3", "t/a#4", "t/a#2#2", "u/a"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
