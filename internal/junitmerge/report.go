package junitmerge

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/noderun/noderun/internal/workspace"
)

// maxListed bounds the failures a summary lists by name: a broken build can
// fail thousands of tests, the first ones tell the story.
const maxListed = 50

// Row is one line of the summary: a role's counts, or the total.
type Row struct {
	Role    string
	Tests   int
	Passed  int
	Failed  int
	Errors  int
	Skipped int
	// Time is the role's wall time: its tasks' first start to their last
	// end, or the longest suite when no task record is there. The total's
	// is the job's wall time.
	Time time.Duration
}

// Entry names one failed or errored testcase.
type Entry struct {
	Suite   string
	Test    string
	Status  string
	Message string
}

// Group is a cause shared by failing tasks other than the root cause.
type Group struct {
	Cause string
	// Tasks are "ROLE rank K", in role order.
	Tasks []string
}

// Report summarises a merge: one row per role and the total.
type Report struct {
	// Result is the job's outcome and root cause, which lead the summary;
	// nil when unknown (loose junit files).
	Result *workspace.JobResult
	// Others are the failing tasks other than the root cause, by cause.
	Others []Group
	Rows   []Row
	Total  Row
	// Problems are the first failed or errored testcases, in document order;
	// Unlisted counts the others.
	Problems []Entry
	Unlisted int
	// GPUs are the tasks' GPU telemetry in brief, for tasks that have it.
	GPUs GPUSection
	// Generated is when the merge ran (Options.Now).
	Generated time.Time
	// Tasks are the job's tasks in role and rank order, when the merge read
	// a workspace.
	Tasks []TaskRun
}

// TaskRun is one task of the job as the merge saw it.
type TaskRun struct {
	Role string
	Rank int
	// Record is the task's record; nil when it left none.
	Record *workspace.TaskRecord
	// Class is how the task ended, one of the Task* constants.
	Class string
	// Why says why it was stopped, when the job knows.
	Why string
}

// How a task ended, as TaskRun.Class says it.
const (
	TaskPassed = "passed"
	// TaskRootCause: the task whose failure the job's result blames.
	TaskRootCause = "root_cause"
	TaskFailed    = "failed"
	TaskTimedOut  = "timed_out"
	// TaskStopped: asked to stop before it ended (cancel, another's failure).
	TaskStopped = "stopped"
	// TaskStoppedAfterDeciding: stopped on purpose once the deciding step ended.
	TaskStoppedAfterDeciding = "stopped_after_deciding"
	// TaskNoEnd: its record has no end (its runner was lost).
	TaskNoEnd = "no_end"
	// TaskMissing: expected, but it left no record.
	TaskMissing = "missing"
)

// Failed reports whether the results hold any failure or error.
func (r *Report) Failed() bool { return r.Total.Failed+r.Total.Errors > 0 }

func newReport(doc *Document, roleOrder []string, now time.Time) *Report {
	rep := &Report{Total: Row{Role: "total"}, Generated: now}
	index := map[string]int{}
	rows := make([]Row, len(roleOrder))
	for i, role := range roleOrder {
		rows[i].Role = role
		index[role] = i
	}
	for _, s := range doc.Suites {
		i, ok := index[s.role]
		if !ok {
			i = len(rows)
			rows = append(rows, Row{Role: s.role})
			index[s.role] = i
		}
		row := &rows[i]
		row.Tests += s.Tests
		row.Failed += s.Failures
		row.Errors += s.Errors
		row.Skipped += s.Skipped
		row.Passed += s.Tests - s.Failures - s.Errors - s.Skipped
		row.Time = max(row.Time, time.Duration(s.Time))
		list := func(classname, name, status, message string) {
			if len(rep.Problems) == maxListed {
				rep.Unlisted++
				return
			}
			test := name
			if classname != "" {
				test = classname + "::" + name
			}
			rep.Problems = append(rep.Problems, Entry{Suite: s.Name, Test: test, Status: status, Message: message})
		}
		if z := s.sealed; z != nil {
			for _, f := range z.failing {
				list(z.classes[f.index], z.names[f.index], f.status, f.message)
			}
		}
		for _, c := range s.Cases {
			st := c.Status()
			if st != StatusFailed && st != StatusError {
				continue
			}
			r := c.Error
			if r == nil {
				r = c.Failure
			}
			list(c.Classname, c.Name, st, r.Message)
		}
	}
	for _, row := range rows {
		if row.Tests == 0 {
			continue
		}
		rep.Rows = append(rep.Rows, row)
		rep.Total.Tests += row.Tests
		rep.Total.Passed += row.Passed
		rep.Total.Failed += row.Failed
		rep.Total.Errors += row.Errors
		rep.Total.Skipped += row.Skipped
		rep.Total.Time = max(rep.Total.Time, row.Time)
	}
	return rep
}

var tableHeader = []string{"ROLE", "TESTS", "PASSED", "FAILED", "ERRORS", "SKIPPED", "WALL"}

func (row Row) cells() []string {
	return []string{row.Role, strconv.Itoa(row.Tests), strconv.Itoa(row.Passed), strconv.Itoa(row.Failed),
		strconv.Itoa(row.Errors), strconv.Itoa(row.Skipped), formatTime(row.Time)}
}

func formatTime(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
}

// WriteTable writes the summary for a terminal: the outcome and root cause,
// then an aligned table (role names left-aligned, numbers right-aligned,
// the total last), the verdict of the results, and the other failures.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	r.writeLead(&b, false)
	lines := [][]string{tableHeader}
	for _, row := range r.Rows {
		lines = append(lines, row.cells())
	}
	total := r.Total.cells()
	total[0] = "TOTAL"
	lines = append(lines, total)
	widths := make([]int, len(tableHeader))
	for _, l := range lines {
		for i, c := range l {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, l := range lines {
		for i, c := range l {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString(r.verdict() + "\n")
	if len(r.Others) > 0 {
		b.WriteString("other failures:\n")
		for _, g := range r.Others {
			b.WriteString("  " + g.Line() + "\n")
		}
	}
	if len(r.GPUs.Roles) > 0 {
		b.WriteString("GPUs:\n")
		for _, g := range append(slices.Clone(r.GPUs.Roles), r.GPUs.Tasks...) {
			b.WriteString("  " + g.Task + ": " + g.Text + "\n")
		}
		if r.GPUs.Unlisted > 0 {
			b.WriteString("  " + r.GPUs.UnlistedLine() + "\n")
		}
		for _, g := range r.GPUs.Tasks {
			for _, f := range g.Faults {
				b.WriteString("warning: GPU fault in " + g.Task + ": " + f + "\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Line is "4 tasks stopped because GEN_0 rank 1 failed: GEN_0 rank 0, …".
func (g Group) Line() string {
	n := "1 task"
	if len(g.Tasks) != 1 {
		n = strconv.Itoa(len(g.Tasks)) + " tasks"
	}
	tasks := g.Tasks
	more := ""
	if len(tasks) > maxGroupTasks {
		tasks, more = tasks[:maxGroupTasks], fmt.Sprintf(" and %d more", len(g.Tasks)-maxGroupTasks)
	}
	return n + " " + g.Cause + ": " + strings.Join(tasks, ", ") + more
}

// maxGroupTasks bounds the tasks a group names: a 64-rank step would
// otherwise fill the screen.
const maxGroupTasks = 8

// writeLead writes the outcome and the root cause, when the job's result
// is known: the first thing a reader of a failed job needs.
func (r *Report) writeLead(b *strings.Builder, md bool) {
	res := r.Result
	if res == nil || res.Outcome == "" {
		return
	}
	if md {
		fmt.Fprintf(b, "## Outcome: %s (exit status %d)\n\n", res.Outcome, res.ExitCode)
	} else {
		fmt.Fprintf(b, "outcome: %s (exit status %d)\n", res.Outcome, res.ExitCode)
	}
	if res.Reason != "" {
		if md {
			fmt.Fprintf(b, "%s\n\n", mdText(firstLine(res.Reason, 300)))
		} else {
			fmt.Fprintf(b, "reason: %s\n", firstLine(res.Reason, 300))
		}
	}
	c := res.RootCause
	if c == nil {
		if !md {
			b.WriteString("\n")
		}
		return
	}
	where := c.Who()
	if c.Node != "" {
		where += " @ " + c.Node
	}
	if !md {
		fmt.Fprintf(b, "root cause: %s, %s\n", where, c.Status())
		if c.FirstError != "" {
			fmt.Fprintf(b, "  first error: %s\n", c.FirstError)
		}
		if c.Log != "" {
			fmt.Fprintf(b, "  log: %s\n", c.Log)
		}
		b.WriteString("\n")
		return
	}
	fmt.Fprintf(b, "**Root cause:** `%s`, %s\n\n", mdCode(where), c.Status())
	if c.FirstError != "" {
		fmt.Fprintf(b, "- first error: `%s`\n", mdCode(c.FirstError))
	}
	if c.Log != "" {
		fmt.Fprintf(b, "- log: `%s`\n", mdCode(c.Log))
	}
	if c.Junit != "" {
		fmt.Fprintf(b, "- junit: `%s`\n", mdCode(c.Junit))
	}
	b.WriteString("\n")
}

func (r *Report) verdict() string {
	if !r.Failed() {
		return fmt.Sprintf("results: passed (%d tests)", r.Total.Tests)
	}
	return fmt.Sprintf("results: FAILED (%d failed, %d errors of %d tests)", r.Total.Failed, r.Total.Errors, r.Total.Tests)
}

// WriteMarkdown writes the summary for CI pages (WS/summary.md): the table,
// then the failed and errored testcases by name.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	r.writeLead(&b, true)
	if r.Failed() {
		b.WriteString("## Test results: FAILED\n\n")
	} else {
		b.WriteString("## Test results: passed\n\n")
	}
	b.WriteString("| Role | Tests | Passed | Failed | Errors | Skipped | Wall time |\n")
	b.WriteString("|:-----|------:|-------:|-------:|-------:|--------:|-----:|\n")
	for _, row := range r.Rows {
		writeMDRow(&b, row.cells(), false)
	}
	total := r.Total.cells()
	total[0] = "Total"
	writeMDRow(&b, total, true)
	if len(r.Others) > 0 {
		b.WriteString("\n### Other failures\n\n")
		for _, g := range r.Others {
			b.WriteString("- " + mdText(g.Line()) + "\n")
		}
	}
	if len(r.GPUs.Roles) > 0 {
		b.WriteString("\n### GPUs\n\n")
		for _, g := range append(slices.Clone(r.GPUs.Roles), r.GPUs.Tasks...) {
			fmt.Fprintf(&b, "- `%s`: %s\n", mdCode(g.Task), mdText(g.Text))
		}
		if r.GPUs.Unlisted > 0 {
			b.WriteString("- " + mdText(r.GPUs.UnlistedLine()) + "\n")
		}
		for _, g := range r.GPUs.Tasks {
			for _, f := range g.Faults {
				fmt.Fprintf(&b, "- **GPU fault** in `%s`: %s\n", mdCode(g.Task), mdText(f))
			}
		}
	}
	if len(r.Problems) > 0 {
		b.WriteString("\n### Failures and errors\n\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "- **%s** `%s` in `%s`", p.Status, mdCode(p.Test), mdCode(p.Suite))
			if m := firstLine(p.Message, 200); m != "" {
				b.WriteString(": " + mdText(m))
			}
			b.WriteString("\n")
		}
		if r.Unlisted > 0 {
			fmt.Fprintf(&b, "- … and %d more (see results.xml)\n", r.Unlisted)
		}
	}
	if !r.Generated.IsZero() {
		fmt.Fprintf(&b, "\n_Merged by noderun at %s._\n", r.Generated.UTC().Format(time.RFC3339))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeMDRow(b *strings.Builder, cells []string, bold bool) {
	b.WriteString("|")
	for _, c := range cells {
		c = mdText(c)
		if bold {
			c = "**" + c + "**"
		}
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n")
}

// mdText keeps a value from breaking the table or the list it sits in.
func mdText(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// mdCode keeps a value inside its backticks.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "\n", " ", "|", `\|`).Replace(s)
}

// firstLine returns the first line of s, cut to at most n runes.
func firstLine(s string, n int) string {
	if k := strings.IndexByte(s, '\n'); k >= 0 {
		s = s[:k]
	}
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n]) + "…"
	}
	return s
}
