package junitmerge

import "strconv"

// Consumers of results.xml (Jenkins, junitparser, xunit-viewer) key a
// testcase on (classname, name) and keep one of those that share it. Every
// rank runs the same pytest test, so without this each rank's case would
// hide the others'.

// rankClassname is the classname of a task's testcase that is not the
// deciding one: role and rank first, then pytest's own classname, so that
// Jenkins groups a rank's cases as a package of their own
// (GEN_0.rank1.perf.test_perf_sanity).
func rankClassname(role string, rank int, classname string) string {
	prefix := cleanText(role) + ".rank" + strconv.Itoa(rank)
	if classname == "" {
		return prefix
	}
	return prefix + "." + classname
}

// qualifyCases gives the testcases of a task's junit file their task's role
// and rank, unless the task is the deciding one: its cases keep exactly
// pytest's classname and name, so the perf test's history in Jenkins
// carries on from the days when only the benchmark's junit was kept.
func (b *wsBuild) qualifyCases(t *task, suites []*Suite) {
	if b.decidingTask(t) {
		for _, s := range suites {
			s.deciding = true
		}
		return
	}
	var from, to string
	for _, s := range suites {
		for _, c := range s.Cases {
			// One copy per classname, as ingest keeps them.
			if c.Classname != from || to == "" {
				from, to = c.Classname, rankClassname(t.role, t.rank, c.Classname)
			}
			c.Classname = to
		}
	}
}

// decidingTask reports the task whose junit decides the job: rank 0 of the
// deciding step (BENCHMARK; WORKER in an aggregated job).
func (b *wsBuild) decidingTask(t *task) bool {
	return t.role == b.deciding && t.rank == 0
}

// distinctCases makes (classname, name) unique across the document: a case
// whose pair is taken gets "#2", "#3", … after its name. pytest itself
// writes a test that fails and then errors in teardown as two cases of one
// name. The deciding task's cases are visited first, so they never lose
// their name to another file's case.
func distinctCases(suites []*Suite) {
	type key struct{ classname, name string }
	n := 0
	for _, s := range suites {
		n += len(s.Cases)
	}
	used := make(map[key]bool, n)
	// next is the first suffix not yet tried for a pair: every rank of a
	// file-mode merge shares pytest's names, and probing from #2 each time
	// made 1,024 files quadratic (a minute instead of milliseconds).
	next := map[key]int{}
	visit := func(deciding bool) {
		for _, s := range suites {
			if s.deciding != deciding {
				continue
			}
			for _, c := range s.Cases {
				k := key{c.Classname, c.Name}
				if used[k] {
					base := k
					for n := max(next[base], 2); ; n++ {
						name := c.Name + "#" + strconv.Itoa(n)
						if k = (key{c.Classname, name}); !used[k] {
							c.Name = name
							next[base] = n + 1
							break
						}
					}
				}
				used[k] = true
			}
		}
	}
	visit(true)
	visit(false)
}
