package junitmerge

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	junit "github.com/joshdk/go-junit"
)

// ingested is what one junit file gave.
type ingested struct {
	// suites are the file's suites, flattened, with their own names.
	suites []*Suite
	// broken is set when the file cannot be trusted: nothing could be read,
	// or go-junit read fewer failing testcases than the file holds. suites
	// may still hold what was read.
	broken *Result
	// missing is set when the file does not exist.
	missing bool
}

// ingestFiles reads the files concurrently, bounded by GOMAXPROCS (parsing
// is CPU-bound), and returns the results in the order of paths.
func ingestFiles(paths []string) []ingested {
	out := make([]ingested, len(paths))
	workers := runtime.GOMAXPROCS(0)
	if workers > len(paths) {
		workers = len(paths)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = ingestFile(paths[i])
			}
		}()
	}
	for i := range paths {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// ingestFile reads one junit file and seals its suites. Messages do not
// name the file: the caller knows the name its reader knows it by.
func ingestFile(path string) ingested {
	buf := readBuffers.Get().(*bytes.Buffer)
	defer readBuffers.Put(buf)
	raw, err := readJunit(path, buf)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ingested{missing: true, broken: &Result{Type: brokenMissing, Message: "junit file does not exist"}}
	case err != nil:
		return ingested{broken: &Result{Type: brokenUnreadable, Message: "cannot read junit file: " + err.Error()}}
	}
	in := ingestBytes(raw)
	for _, s := range in.suites {
		seal(s)
	}
	return in
}

// readBuffers are the buffers files are read into: nothing ingest keeps
// points into them (go-junit copies what it returns), and reusing them
// spares a large merge fresh memory the size of its input.
var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readJunit reads a junit file, into buf unless it may hold a text run
// longer than textHead+textTail: such a file is read through readBounded.
func readJunit(path string, buf *bytes.Buffer) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if info.Size() > textHead+textTail {
		return readBounded(f, path, textHead, textTail)
	}
	buf.Reset()
	buf.Grow(int(info.Size()) + bytes.MinRead)
	_, err = buf.ReadFrom(f)
	return buf.Bytes(), err
}

// ingestBytes parses one junit document with go-junit and converts it to our
// types, checking go-junit's result against the raw bytes.
func ingestBytes(raw []byte) ingested {
	if len(bytes.TrimSpace(raw)) == 0 {
		return ingested{broken: &Result{Type: brokenEmpty, Message: "junit file is empty (the task ended before pytest wrote it?)"}}
	}
	raw = cleanInput(raw)
	suites, err := junit.Ingest(raw)
	if err != nil {
		return ingested{broken: diagnose(raw, err)}
	}
	if len(suites) == 0 {
		return ingested{broken: &Result{Type: brokenNoSuites, Message: "junit file holds no <testsuite> element (not a junit file?)"}}
	}
	var in ingested
	read := 0
	for i := range suites {
		read += flatten(&suites[i], "", &in.suites)
	}
	if want := failingCases(raw); read < want {
		in.broken = &Result{Type: brokenLost, Message: fmt.Sprintf(
			"junit file holds %d failing testcases but only %d could be read as failed "+
				"(a <failure>/<error> outside a <testsuite>, or followed by <skipped>)", want, read)}
	}
	return in
}

// flatten appends s and its nested suites to out, nested ones named
// "parent/child", and returns how many of their testcases failed or errored.
// A suite that only holds other suites is not kept itself.
func flatten(s *junit.Suite, prefix string, out *[]*Suite) int {
	name := cleanParsed(s.Name)
	if prefix != "" {
		name = prefix + "/" + name
	}
	failing := 0
	if len(s.Tests) > 0 || len(s.Suites) == 0 {
		suite := &Suite{Name: name, Cases: make([]*Case, 0, len(s.Tests))}
		var sum time.Duration
		var classname string
		// One allocation for the suite's testcases, which seal drops
		// once they are encoded.
		cases := make([]Case, len(s.Tests))
		for i := range s.Tests {
			c := &cases[i]
			convertCase(&s.Tests[i], c)
			// A suite's testcases share a classname: keep one copy, not
			// one per testcase, of what the merge holds until it writes
			// (sealed.classes).
			if c.Classname == classname {
				c.Classname = classname
			}
			classname = c.Classname
			if c.Name == "" && c.Classname == "" && c.Status() == StatusPassed {
				// pytest interrupted by SIGINT (how noderun stops a step)
				// writes an empty testcase: it is no test, and no pass.
				continue
			}
			if st := c.Status(); st == StatusFailed || st == StatusError {
				failing++
			}
			sum += time.Duration(c.Time)
			suite.Cases = append(suite.Cases, c)
		}
		suite.Time = Seconds(sum)
		applySuiteAttrs(suite, s)
		suite.SystemOut = Text(cleanParsed(s.SystemOut))
		suite.SystemErr = Text(cleanParsed(s.SystemErr))
		*out = append(*out, suite)
	}
	for i := range s.Suites {
		failing += flatten(&s.Suites[i], name, out)
	}
	return failing
}

// applySuiteAttrs copies time, timestamp and hostname, or the properties.
// go-junit stores a suite's attributes in Properties and replaces them with
// the <properties> list when there is one; the attributes are recognised by
// the "name" and "tests" keys every junit writer sets.
func applySuiteAttrs(dst *Suite, s *junit.Suite) {
	p := s.Properties
	if len(p) == 0 {
		return
	}
	if _, hasTests := p["tests"]; hasTests && p["name"] == s.Name {
		if t, err := strconv.ParseFloat(strings.ReplaceAll(p["time"], ",", ""), 64); err == nil && t >= 0 && t < 1e9 {
			dst.Time = Seconds(time.Duration(t * float64(time.Second)))
		}
		dst.Timestamp = cleanParsed(p["timestamp"])
		dst.Hostname = cleanParsed(p["hostname"])
		return
	}
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, k)
	}
	sort.Strings(names)
	props := &Properties{Property: make([]Property, 0, len(names))}
	for _, k := range names {
		props.Property = append(props.Property, Property{Name: cleanParsed(k), Value: cleanParsed(p[k])})
	}
	dst.Properties = props
}

// convertCase fills c from a go-junit test.
func convertCase(t *junit.Test, c *Case) {
	*c = Case{
		Name:      cleanParsed(t.Name),
		Classname: cleanParsed(t.Classname),
		Time:      Seconds(max(t.Duration, 0)),
		SystemOut: Text(cleanParsed(t.SystemOut)),
		SystemErr: Text(cleanParsed(t.SystemErr)),
	}
	if t.Status != junit.StatusFailed && t.Status != junit.StatusError && t.Status != junit.StatusSkipped {
		return
	}
	r := &Result{Message: cleanParsed(t.Message)}
	var je junit.Error
	if errors.As(t.Error, &je) {
		r.Type, r.Body = cleanParsed(je.Type), cleanParsed(je.Body)
	}
	switch t.Status {
	case junit.StatusFailed:
		c.Failure = r
	case junit.StatusError:
		c.Error = r
	default:
		c.Skipped = r
	}
}

// diagnose says why go-junit could not parse raw. go-junit wraps the
// document in <fake-root>, so a file cut short shows up as whatever the
// wrapper's text runs into; a plain token pass over the file itself tells a
// truncated file (it ends inside an element) from a malformed one. Only
// broken files pay for this second pass.
func diagnose(raw []byte, ingestErr error) *Result {
	r := diagnoseTokens(raw, ingestErr)
	if bytes.Contains(raw, []byte(cutNoteStart)) {
		r.Message += " (line numbers count the file with its long text runs cut)"
	}
	return r
}

// diagnoseTokens is diagnose's token pass.
func diagnoseTokens(raw []byte, ingestErr error) *Result {
	dec := xml.NewDecoder(bytes.NewReader(raw))
	var open []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if len(open) > 0 {
				return &Result{Type: brokenTruncated, Message: fmt.Sprintf(
					"junit file is truncated: it ends inside <%s> (the task died while pytest wrote it?)", open[len(open)-1])}
			}
			return &Result{Type: brokenInvalid, Message: "junit file cannot be read: " + ingestErr.Error()}
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected EOF") {
				return &Result{Type: brokenTruncated, Message: fmt.Sprintf(
					"junit file is truncated: %v (the task died while pytest wrote it?)", err)}
			}
			return &Result{Type: brokenInvalid, Message: "junit file is not well-formed XML: " + err.Error()}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			open = append(open, t.Name.Local)
		case xml.EndElement:
			open = open[:len(open)-1]
		}
	}
}
