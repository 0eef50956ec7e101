package junitmerge

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	junit "github.com/joshdk/go-junit"
)

// writeRankFiles writes files junit files of cases testcases each, shaped
// like pytest's, one in 97 testcases failing; it returns the directory.
func writeRankFiles(tb testing.TB, files, cases int) string {
	tb.Helper()
	dir := tb.TempDir()
	roles := []string{"GEN_0", "CTX_0", "CTX_1", "BENCHMARK"}
	for f := 0; f < files; f++ {
		role := roles[f%len(roles)]
		var b strings.Builder
		failures := 0
		for c := 0; c < cases; c++ {
			if (f*cases+c)%97 == 0 {
				failures++
				fmt.Fprintf(&b, `<testcase classname="perf.test_perf_sanity.TestE2E" name="test_e2e[disagg_upload-cfg-%d]" time="0.%03d"><failure message="AssertionError: throughput 123.4 &lt; 150.0">def test_e2e(cfg):
&gt;       assert tput &gt;= 150.0
E       AssertionError: throughput 123.4 &lt; 150.0</failure></testcase>`, c, c%1000)
			} else {
				fmt.Fprintf(&b, `<testcase classname="perf.test_perf_sanity.TestE2E" name="test_e2e[disagg_upload-cfg-%d]" time="0.%03d" />`, c, c%1000)
			}
		}
		doc := fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="%d" skipped="0" tests="%d" time="12.5" timestamp="2025-01-01T00:00:00" hostname="node%03d">%s</testsuite></testsuites>`,
			failures, cases, f, b.String())
		path := filepath.Join(dir, role, fmt.Sprintf("rank%d.xml", f/len(roles)))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// BenchmarkMergeFiles is the size: 1,024 rank files × 200 testcases.
// scripts/bench-merge.sh compares the same work against junit-report-merger.
func BenchmarkMergeFiles(b *testing.B) {
	dir := writeRankFiles(b, 1024, 200)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		doc, _, err := MergeFiles([]string{dir}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := doc.Write(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGoJunitFloor reads BenchmarkMergeFiles' files and parses them
// with go-junit, on GOMAXPROCS workers, and nothing else: the floor of a
// merge that must ingest with go-junit. Compare the two at the GOGC
// `noderun merge` runs with (GOGC=200): with a small live heap the default
// GOGC collects every few MB of go-junit's garbage, which doubles this one.
func BenchmarkGoJunitFloor(b *testing.B) {
	dir := writeRankFiles(b, 1024, 200)
	var paths []string
	for _, role := range []string{"GEN_0", "CTX_0", "CTX_1", "BENCHMARK"} {
		for rank := range 256 {
			paths = append(paths, filepath.Join(dir, role, fmt.Sprintf("rank%d.xml", rank)))
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := int(next.Add(1) - 1); k < len(paths); k = int(next.Add(1) - 1) {
					raw, err := os.ReadFile(paths[k])
					if err == nil {
						_, err = junit.Ingest(raw)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
}

// BenchmarkWrite is the encoding alone, for a quarter of the size.
func BenchmarkWrite(b *testing.B) {
	doc, _, err := MergeFiles([]string{writeRankFiles(b, 256, 200)}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := doc.Write(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
