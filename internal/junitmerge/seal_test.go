package junitmerge

import (
	"bufio"
	"bytes"
	"reflect"
	"testing"
)

// checkSealing reads raw again, seals its suites, and checks that each
// encodes, counts and lists its failures as the unsealed one from the same
// bytes does (suites), before the merge changes either.
func checkSealing(t *testing.T, raw []byte, suites []*Suite) {
	t.Helper()
	again := ingestBytes(raw).suites
	if len(again) != len(suites) {
		t.Fatalf("the same bytes gave %d suites, then %d", len(suites), len(again))
	}
	for i, s := range again {
		want := appendSuite(nil, suites[i])
		seal(s)
		switch {
		case holdsNoderunResult(suites[i]) && s.sealed != nil:
			t.Fatalf("suite %q holds a noderun result but was sealed", s.Name)
		case !holdsNoderunResult(suites[i]) && len(suites[i].Cases) > 0 && s.sealed == nil:
			t.Fatalf("suite %q with %d testcases was not sealed", s.Name, len(suites[i].Cases))
		}
		if got := appendSuite(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("sealed suite encodes as\n%s\nunsealed as\n%s", got, want)
		}
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		if _, err := writeSuite(w, s, nil); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("writeSuite wrote\n%s\nappendSuite\n%s", buf.Bytes(), want)
		}
		u := *suites[i]
		u.total()
		s.total()
		if s.Tests != u.Tests || s.Failures != u.Failures || s.Errors != u.Errors || s.Skipped != u.Skipped {
			t.Fatalf("sealed counts %d/%d/%d/%d, unsealed %d/%d/%d/%d", s.Tests, s.Failures, s.Errors, s.Skipped,
				u.Tests, u.Failures, u.Errors, u.Skipped)
		}
		sealedRep := newReport(&Document{Suites: []*Suite{s}}, nil, fixedNow())
		plainRep := newReport(&Document{Suites: []*Suite{&u}}, nil, fixedNow())
		if !reflect.DeepEqual(sealedRep.Problems, plainRep.Problems) {
			t.Fatalf("sealed suite lists %+v, unsealed %+v", sealedRep.Problems, plainRep.Problems)
		}
	}
}

func holdsNoderunResult(s *Suite) bool {
	for _, c := range s.Cases {
		if noderunResult(c.Skipped) || noderunResult(c.Failure) || noderunResult(c.Error) {
			return true
		}
	}
	return false
}

// TestSealing holds sealed suites to what the same suites unsealed give:
// bytes, counts, the summary's failures.
func TestSealing(t *testing.T) {
	for name, raw := range map[string]string{
		"pytest file":           junitFail,
		"passing":               junitPass,
		"failure then skipped":  junitFailThenSkip,
		"nested, with an error": `<testsuites><testsuite name="o"><testsuite name="i"><testcase name="x" classname="c"><error message="e">trace</error></testcase></testsuite></testsuite></testsuites>`,
		"output and properties": `<testsuite name="s"><properties><property name="p" value="v"/></properties><testcase name="a&amp;b" classname="k" time="1.5"><skipped message="later"/><system-out>out &lt;x&gt;</system-out><system-err>err</system-err></testcase><system-out><![CDATA[x]]></system-out></testsuite>`,
		"control characters":    "<testsuite name=\"s\" tests=\"1\"><testcase name=\"a\x00\"><failure message=\"\x1b[1mbad\x1b[0m\">NUL\x00</failure></testcase></testsuite>",
		"more than 50 failures": manyFailures(60),
		"a noderun result":      `<testsuite name="s"><testcase name="a"><failure type="noderun.x" message="m"/></testcase><testcase name="b"/></testsuite>`,
	} {
		t.Run(name, func(t *testing.T) {
			in := ingestBytes([]byte(raw))
			if len(in.suites) == 0 {
				t.Fatalf("no suites read: %+v", in.broken)
			}
			checkSealing(t, []byte(raw), in.suites)
		})
	}
}

func manyFailures(n int) string {
	var b bytes.Buffer
	b.WriteString(`<testsuite name="s">`)
	for i := range n {
		b.WriteString(`<testcase classname="c" name="t`)
		b.WriteByte(byte('a' + i%26))
		b.WriteString(`"><failure message="m">body</failure></testcase><testcase classname="c" name="ok"/>`)
	}
	b.WriteString(`</testsuite>`)
	return b.String()
}

// TestSealSkipsNoderunResults: a suite holding noderun's own results (a
// results.xml merged again) stays unsealed, so that hideSecrets sees them.
func TestSealSkipsNoderunResults(t *testing.T) {
	s := &Suite{Name: "s", Cases: []*Case{
		{Name: "a"},
		{Name: "b", Error: &Result{Type: "noderun.task.RunnerDied", Message: "TOKEN=x"}},
	}}
	seal(s)
	if s.sealed != nil || len(s.Cases) != 2 {
		t.Fatalf("suite with a noderun result was sealed: %+v", s)
	}
}

// TestDistinctCasesSealed is TestDistinctCases with the other file's
// testcases sealed, as ingest leaves them, and a synthetic one appended.
func TestDistinctCasesSealed(t *testing.T) {
	c := func(classname, name string) *Case { return &Case{Classname: classname, Name: name} }
	other := &Suite{Cases: []*Case{c("t", "a"), c("t", "a"), c("t", "a#2")}}
	seal(other)
	if other.sealed == nil {
		t.Fatal("not sealed")
	}
	other.Cases = []*Case{c("u", "a"), c("t", "a")}
	deciding := &Suite{deciding: true, Cases: []*Case{c("t", "a"), c("t", "a")}}
	distinctCases([]*Suite{other, deciding})
	var got []string
	for _, c := range deciding.Cases {
		got = append(got, c.Classname+"/"+c.Name)
	}
	for i, name := range other.sealed.names {
		got = append(got, other.sealed.classes[i]+"/"+name)
	}
	for _, c := range other.Cases {
		got = append(got, c.Classname+"/"+c.Name)
	}
	want := []string{"t/a", "t/a#2", "t/a#3", "t/a#4", "t/a#2#2", "u/a", "t/a#5"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
