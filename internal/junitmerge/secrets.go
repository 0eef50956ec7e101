package junitmerge

import (
	"os"
	"strings"

	"github.com/noderun/noderun/internal/redact"
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
	known := redact.FromEnviron(environ)
	if b.spec != nil {
		b.spec.AddSecrets(known)
	}
	hide := func(s string) string { return known.String(redact.Text(s)) }
	for _, s := range suites {
		for _, c := range s.Cases {
			for _, r := range []*Result{c.Error, c.Failure, c.Skipped} {
				if r != nil && strings.HasPrefix(r.Type, "noderun.") {
					r.Message, r.Body = hide(r.Message), hide(r.Body)
				}
			}
		}
	}
}
