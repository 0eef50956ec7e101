package junitmerge

import (
	"fmt"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	t.Run("passing results", func(t *testing.T) {
		// Why: the verdict line and the markdown title follow Failed().
		in := ingestBytes([]byte(junitPass))
		_, rep := assemble(fileSuites("GEN_0/rank0", "x", in, Options{}), nil, fixedNow())
		var table, md strings.Builder
		if err := rep.WriteTable(&table); err != nil {
			t.Fatal(err)
		}
		if err := rep.WriteMarkdown(&md); err != nil {
			t.Fatal(err)
		}
		if rep.Failed() || !strings.Contains(table.String(), "results: passed (2 tests)") || !strings.HasPrefix(md.String(), "## Test results: passed") {
			t.Errorf("table:\n%s\nmarkdown:\n%s", table.String(), md.String())
		}
	})

	t.Run("many failures are capped, odd names escaped", func(t *testing.T) {
		// Why: a broken build fails thousands of tests; the summary stays
		// short, and a "|" in a name must not break the markdown table.
		var cases strings.Builder
		for i := 0; i < maxListed+7; i++ {
			fmt.Fprintf(&cases, `<testcase name="t%d"><failure message="line one&#10;line two"/></testcase>`, i)
		}
		in := ingestBytes([]byte(`<testsuite name="s" tests="0" failures="0" errors="0">` + cases.String() + `</testsuite>`))
		_, rep := assemble(fileSuites("a|b/rank0", "x", in, Options{}), nil, fixedNow())
		if len(rep.Problems) != maxListed || rep.Unlisted != 7 || rep.Total.Failed != maxListed+7 {
			t.Fatalf("problems %d unlisted %d failed %d", len(rep.Problems), rep.Unlisted, rep.Total.Failed)
		}
		var md strings.Builder
		if err := rep.WriteMarkdown(&md); err != nil {
			t.Fatal(err)
		}
		out := md.String()
		if !strings.Contains(out, `| a\|b |`) || !strings.Contains(out, "and 7 more") || strings.Contains(out, "line two") {
			t.Errorf("markdown:\n%s", out)
		}
	})
}
