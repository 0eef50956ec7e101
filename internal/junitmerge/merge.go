// Package junitmerge merges the junit files of a job's tasks into one
// results.xml that never hides a failure.
//
// Files are read with github.com/joshdk/go-junit and written with
// encoding/xml structs of our own (go-junit has no writer). Whatever cannot
// be read — a missing, empty, truncated or non-XML file, a task that died
// without writing one, a role that left nothing at all — becomes a synthetic
// <error> testcase with the reason and the tail of the task's log, so that CI
// shows a failure and never "no tests". The output is valid against Jenkins'
// junit-10.xsd; characters XML forbids are replaced wherever they appear.
// Text longer than 256 KiB (a test's 100 MB of stdout) keeps its head and
// tail, with a note of the cut between them.
package junitmerge

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// DefaultLogTailLines is how many lines of a task's log a synthetic error shows.
const DefaultLogTailLines = 40

// Options tune a merge. The zero value works.
type Options struct {
	// Spec is the job spec: which roles and how many tasks to expect. Nil:
	// MergeWorkspace reads WS/job.json when there is one, and otherwise works
	// from the records and files it finds.
	Spec *jobspec.Spec
	// ExpectedStops are the roles stopped on purpose after the deciding step
	// finished (workspace.JobResult.ExpectedStops): their tasks' missing
	// results are skips, not errors. Nil: MergeWorkspace reads
	// WS/job-result.json when there is one.
	ExpectedStops map[string]bool
	// Result is the job's result: its outcome and root cause lead the
	// summary, and tasks stopped because of the root cause say so. Nil:
	// MergeWorkspace reads WS/job-result.json when there is one. The summary
	// reads Result when it is written, so its outcome may be set after
	// BuildWorkspace.
	Result *workspace.JobResult
	// JobEnded is set by a merge after Slurm ended the job (the follower's):
	// a runner still stopping then was killed before it recorded its end.
	JobEnded bool
	// Now is the clock of the summary's "generated" line; nil: time.Now.
	Now func() time.Time
	// LogTailLines is how many log lines a synthetic error carries; 0: the
	// default (40), negative: none.
	LogTailLines int
	// Log receives warnings about the workspace; the zero value discards them.
	Log zerolog.Logger
	// Environ is the environment (NAME=value entries) whose secret-like
	// variables' values are hidden in the log tails MergeWorkspace embeds,
	// with the job spec's; nil: the process's.
	Environ []string
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LogTailLines == 0 {
		o.LogTailLines = DefaultLogTailLines
	}
	return o
}

// decidingRole names the step whose end stops the others, for messages.
func decidingRole(spec *jobspec.Spec) string {
	if spec != nil {
		for _, st := range spec.Steps {
			if st.Deciding {
				return st.Role
			}
		}
	}
	return jobspec.RoleBenchmark
}

// problem is the reason of a synthetic testcase and what helps to find it.
type problem struct {
	typ     string
	message string
	details []string
	// logPath is the log to show the tail of, logName how to name it.
	logPath string
	logName string
}

// syntheticCase builds the testcase that stands for a problem: an <error>,
// or a <skipped> when skip is set. Its body says what happened and ends
// with the tail of the log.
func syntheticCase(classname, name string, p problem, skip bool, tailLines int) *Case {
	var body strings.Builder
	body.WriteString(p.message)
	body.WriteString("\n")
	for _, d := range p.details {
		body.WriteString("\n")
		body.WriteString(d)
	}
	if p.logPath != "" {
		name := p.logName
		if name == "" {
			name = p.logPath
		}
		if tail, err := logTail(p.logPath, tailLines); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			fmt.Fprintf(&body, "\nlog: %s (cannot read it: %v)", name, err)
		} else if tailLines > 0 {
			fmt.Fprintf(&body, "\nlast %d lines of %s:\n%s", tailLines, name, tail)
		} else {
			fmt.Fprintf(&body, "\nlog: %s", name)
		}
	}
	r := &Result{Type: p.typ, Message: cleanText(p.message), Body: cleanText(strings.TrimRight(body.String(), "\n"))}
	c := &Case{Name: cleanText(name), Classname: cleanText(classname)}
	if skip {
		c.Skipped = r
	} else {
		c.Error = r
	}
	return c
}

// assemble totals the suites, makes their names and their testcases'
// identities unique and builds the document and the report, with rows in roleOrder (unknown roles last, sorted).
func assemble(suites []*Suite, roleOrder []string, now time.Time) (*Document, *Report) {
	used := make(map[string]bool, len(suites))
	for _, s := range suites {
		if used[s.Name] {
			// Two suites with one name would look like one in Jenkins.
			for k := 2; ; k++ {
				if n := s.Name + "#" + strconv.Itoa(k); !used[n] {
					s.Name = n
					break
				}
			}
		}
		used[s.Name] = true
	}
	distinctCases(suites)
	doc := &Document{Suites: suites}
	doc.total()
	return doc, newReport(doc, roleOrder, now)
}

// orderRoles returns the roles of known first, in their order, then the
// others sorted.
func orderRoles(known []string, others map[string]bool) []string {
	order := append([]string(nil), known...)
	in := make(map[string]bool, len(known))
	for _, r := range known {
		in[r] = true
	}
	var rest []string
	for r := range others {
		if !in[r] {
			rest = append(rest, r)
		}
	}
	sort.Strings(rest)
	return append(order, rest...)
}

// nameSuites gives the suites of one file names of their own: base for a
// file with one suite (pytest names every suite "pytest"), base/<name>
// for each of several.
func nameSuites(suites []*Suite, base string) {
	if len(suites) == 1 {
		suites[0].Name = base
		return
	}
	for _, s := range suites {
		s.Name = base + "/" + s.Name
	}
}
