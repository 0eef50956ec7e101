package junitmerge

import (
	"os"
	"strings"
)

// hideSecrets removes secrets from what the merge itself wrote into the
// synthetic testcases (their types start with "noderun."): the log tails
// and record details, which quote the task's output and errors. Secret
// NAME=value words and URL credentials go (redact.Text), and so do the
// known values: those of the secret-like variables of environ and of the
// job spec.
func (b *wsBuild) hideSecrets(suites []*Suite) {
	environ := b.o.Environ
	if environ == nil {
		environ = os.Environ()
	}
	hide := b.spec.Hider(environ)
	for _, s := range suites {
		for _, c := range s.Cases {
			for _, r := range []*Result{c.Error, c.Failure, c.Skipped} {
				if noderunResult(r) {
					r.Message, r.Body = hide(r.Message), hide(r.Body)
				}
			}
		}
	}
}

// noderunResult reports whether r is one of the merge's own results: their
// types start with "noderun.".
func noderunResult(r *Result) bool {
	return r != nil && strings.HasPrefix(r.Type, "noderun.")
}
