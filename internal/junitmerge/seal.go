package junitmerge

// sealed are a suite's testcases as its file gave them, encoded in the
// ingest worker that read the file: a merge of 1,024 files then holds bytes
// until it writes, not 200,000 testcases for the garbage collector to mark
// and the kernel to fault in. Names and classnames stay strings, because
// the merge still changes them (qualifyCases, distinctCases); each
// testcase's encoding after its classname attribute is in rest.
type sealed struct {
	names   []string
	classes []string
	rest    []byte
	// ends[i] is where testcase i's encoding ends in rest.
	ends []int
	// failing are the failed and errored testcases, in order, for the summary.
	failing                   []sealedFailure
	failures, errors, skipped int
}

// sealedFailure is what the summary lists of a failed or errored testcase.
type sealedFailure struct {
	index   int
	status  string
	message string
}

// seal encodes s's testcases into s.sealed and drops them. A suite holding
// a result of noderun's own types (a merged results.xml merged again) is
// left as it is, so that hideSecrets still sees those results.
func seal(s *Suite) {
	if len(s.Cases) == 0 || s.sealed != nil {
		return
	}
	size := 0
	for _, c := range s.Cases {
		if noderunResult(c.Skipped) || noderunResult(c.Failure) || noderunResult(c.Error) {
			return
		}
		size += caseSize(c)
	}
	z := &sealed{
		names:   make([]string, len(s.Cases)),
		classes: make([]string, len(s.Cases)),
		rest:    make([]byte, 0, size),
		ends:    make([]int, len(s.Cases)),
	}
	for i, c := range s.Cases {
		z.names[i], z.classes[i] = c.Name, c.Classname
		z.rest = appendCaseRest(z.rest, c)
		z.ends[i] = len(z.rest)
		switch st := c.Status(); st {
		case StatusFailed, StatusError:
			r := c.Error
			if r == nil {
				r = c.Failure
			}
			z.failing = append(z.failing, sealedFailure{index: i, status: st, message: r.Message})
			if st == StatusFailed {
				z.failures++
			} else {
				z.errors++
			}
		case StatusSkipped:
			z.skipped++
		}
	}
	s.sealed, s.Cases = z, nil
}

// caseCount is how many testcases s holds, sealed or not.
func (s *Suite) caseCount() int {
	n := len(s.Cases)
	if s.sealed != nil {
		n += len(s.sealed.names)
	}
	return n
}

// appendSealed appends the sealed testcases as appendCase writes them.
func appendSealed(b []byte, z *sealed) []byte {
	start := 0
	for i, end := range z.ends {
		b = appendCaseHead(b, z.names[i], z.classes[i])
		b = append(b, z.rest[start:end]...)
		start = end
	}
	return b
}
