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
		if z := s.sealed; z != nil {
			for i, class := range z.classes {
				if class != from || to == "" {
					from, to = class, rankClassname(t.role, t.rank, class)
				}
				z.classes[i] = to
			}
		}
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
	// taken maps the names taken in one classname to the next suffix to try
	// for each: every rank of a file-mode merge shares pytest's names, and
	// probing from #2 each time made 1,024 files quadratic. One map per
	// classname, sized from a first count, keeps lookups to one short string.
	type taken map[string]int
	counts := map[string]int{}
	forRuns(suites, func(class string, n int) { counts[class] += n })
	byClass := make(map[string]taken, len(counts))
	for class, n := range counts {
		byClass[class] = make(taken, n)
	}
	var class string
	var names taken
	// distinct returns name, or its first free "#k" form, and takes it.
	distinct := func(classname, name string) string {
		if names == nil || classname != class {
			class, names = classname, byClass[classname]
		}
		next, dup := names[name]
		if !dup {
			names[name] = 0
			return name
		}
		for n := max(next, 2); ; n++ {
			renamed := name + "#" + strconv.Itoa(n)
			if _, ok := names[renamed]; !ok {
				names[name] = n + 1
				names[renamed] = 0
				return renamed
			}
		}
	}
	visit := func(deciding bool) {
		for _, s := range suites {
			if s.deciding != deciding {
				continue
			}
			if z := s.sealed; z != nil {
				for i := range z.names {
					z.names[i] = distinct(z.classes[i], z.names[i])
				}
			}
			for _, c := range s.Cases {
				c.Name = distinct(c.Classname, c.Name)
			}
		}
	}
	visit(true)
	visit(false)
}

// forRuns calls f for each run of testcases that share a classname, in
// order, with the run's length.
func forRuns(suites []*Suite, f func(class string, n int)) {
	var class string
	n := 0
	run := func(classname string) {
		if n > 0 && classname != class {
			f(class, n)
			n = 0
		}
		class = classname
		n++
	}
	for _, s := range suites {
		if z := s.sealed; z != nil {
			for _, classname := range z.classes {
				run(classname)
			}
		}
		for _, c := range s.Cases {
			run(c.Classname)
		}
	}
	if n > 0 {
		f(class, n)
	}
}
