package junitmerge

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
	// Time is the testcases' time summed over the role's suites (ranks run
	// side by side, so this is test time, not wall time).
	Time time.Duration
}

// Entry names one failed or errored testcase.
type Entry struct {
	Suite   string
	Test    string
	Status  string
	Message string
}

// Report summarises a merge: one row per role and the total.
type Report struct {
	Rows  []Row
	Total Row
	// Problems are the first failed or errored testcases, in document order;
	// Unlisted counts the others.
	Problems []Entry
	Unlisted int
	// Generated is when the merge ran (Options.Now).
	Generated time.Time
}

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
		row.Time += time.Duration(s.Time)
		for _, c := range s.Cases {
			st := c.Status()
			if st != StatusFailed && st != StatusError {
				continue
			}
			if len(rep.Problems) == maxListed {
				rep.Unlisted++
				continue
			}
			r := c.Error
			if r == nil {
				r = c.Failure
			}
			test := c.Name
			if c.Classname != "" {
				test = c.Classname + "::" + c.Name
			}
			rep.Problems = append(rep.Problems, Entry{Suite: s.Name, Test: test, Status: st, Message: r.Message})
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
		rep.Total.Time += row.Time
	}
	return rep
}

var tableHeader = []string{"ROLE", "TESTS", "PASSED", "FAILED", "ERRORS", "SKIPPED", "TIME"}

func (row Row) cells() []string {
	return []string{row.Role, strconv.Itoa(row.Tests), strconv.Itoa(row.Passed), strconv.Itoa(row.Failed),
		strconv.Itoa(row.Errors), strconv.Itoa(row.Skipped), formatTime(row.Time)}
}

func formatTime(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
}

// WriteTable writes the summary as an aligned text table for a terminal:
// role names left-aligned, numbers right-aligned, the total last, then the
// verdict.
func (r *Report) WriteTable(w io.Writer) error {
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
	var b strings.Builder
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
	_, err := io.WriteString(w, b.String())
	return err
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
	if r.Failed() {
		b.WriteString("## Test results: FAILED\n\n")
	} else {
		b.WriteString("## Test results: passed\n\n")
	}
	b.WriteString("| Role | Tests | Passed | Failed | Errors | Skipped | Time |\n")
	b.WriteString("|:-----|------:|-------:|-------:|-------:|--------:|-----:|\n")
	for _, row := range r.Rows {
		writeMDRow(&b, row.cells(), false)
	}
	total := r.Total.cells()
	total[0] = "Total"
	writeMDRow(&b, total, true)
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
