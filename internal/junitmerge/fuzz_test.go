package junitmerge

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzMerge feeds arbitrary bytes through ingest and merge as one junit
// file. Whatever comes in: no panic, the output parses with encoding/xml,
// its totals add up, and a <failure> or <error> in the input never merges
// into results that pass; each suite is written as encoding/xml would.
//
//	go test ./internal/junitmerge -run '^$' -fuzz FuzzMerge -fuzztime 1m
func FuzzMerge(f *testing.F) {
	for _, seed := range []string{
		junitPass, junitFail, junitFailThenSkip, junitFail[:90], "", "<testsuite/>",
		"<testsuite name=\"s\x1b[31m\" tests=\"1\"><testcase name=\"a\x00\"><failure message=\"&#x1B;[1m\"/></testcase></testsuite>",
		`<testsuites><testsuite name="o"><testsuite name="i"><testcase name="x"><error/></testcase></testsuite></testsuite></testsuites>`,
		`<testsuite name="s"><properties><property name="p" value="v"/></properties><testcase name="a" time="-1"/><system-out><![CDATA[x]]></system-out></testsuite>`,
	} {
		f.Add([]byte(seed))
	}
	if data, err := os.ReadFile(filepath.Join("testdata", "workspace", "results", "BENCHMARK", "rank0.xml")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := ingestBytes(raw)
		checkSealing(t, raw, in.suites)
		// The merge runs on sealed suites, as ingestFile leaves them, and
		// must write what it writes from the same suites unsealed, whose
		// encoding is compared with encoding/xml's.
		plainIn := ingestBytes(raw)
		for _, s := range in.suites {
			seal(s)
		}
		doc, rep := assemble(fileSuites("fuzz", "fuzz.xml", in, Options{}), nil, fixedNow())
		var buf bytes.Buffer
		if err := doc.Write(&buf); err != nil {
			t.Fatal(err)
		}
		plain, _ := assemble(fileSuites("fuzz", "fuzz.xml", plainIn, Options{}), nil, fixedNow())
		var plainBuf bytes.Buffer
		if err := plain.Write(&plainBuf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), plainBuf.Bytes()) {
			t.Fatalf("merged from sealed suites:\n%s\nfrom unsealed ones:\n%s", buf.Bytes(), plainBuf.Bytes())
		}
		for _, s := range plain.Suites {
			if got, want := appendSuite(nil, s), xmlSuite(t, s); !bytes.Equal(got, want) {
				t.Fatalf("appendSuite:\n%s\nencoding/xml:\n%s", got, want)
			}
		}
		back := parseBack(t, buf.Bytes())
		cases := 0
		for _, s := range back.Suites {
			cases += len(s.Cases)
		}
		if back.Tests != cases || rep.Total.Tests != cases {
			t.Fatalf("totals: document %d, report %d, testcases %d", back.Tests, rep.Total.Tests, cases)
		}
		if len(back.Suites) == 0 {
			// A file that gave nothing must still show up, as an error.
			t.Fatal("a file merged into no suite at all")
		}
		if failingCases(cleanInput(raw)) > 0 && !rep.Failed() {
			t.Fatalf("input holds a failure or error, merged results pass:\n%s", buf.Bytes())
		}
	})
}
