package junitmerge

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Document is a merged junit document, shaped after Jenkins' junit-10.xsd:
// only the elements and attributes that schema allows are written (pytest's
// xunit1 "file" and "line" testcase attributes are not, so they are dropped).
// Every string in it has been through cleanText.
type Document struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr,omitempty"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Time     Seconds  `xml:"time,attr"`
	Suites   []*Suite `xml:"testsuite"`
}

// Suite is one <testsuite>: one rank's results, or one file's in file mode.
type Suite struct {
	XMLName    xml.Name    `xml:"testsuite"`
	Name       string      `xml:"name,attr"`
	Tests      int         `xml:"tests,attr"`
	Failures   int         `xml:"failures,attr"`
	Errors     int         `xml:"errors,attr"`
	Skipped    int         `xml:"skipped,attr"`
	Time       Seconds     `xml:"time,attr"`
	Timestamp  string      `xml:"timestamp,attr,omitempty"`
	Hostname   string      `xml:"hostname,attr,omitempty"`
	Properties *Properties `xml:"properties,omitempty"`
	// Cases are the testcases not sealed, written after the sealed ones:
	// those the merge adds (its own error testcases), or all of a suite
	// seal leaves as it is.
	Cases     []*Case `xml:"testcase"`
	SystemOut Text    `xml:"system-out,omitempty"`
	SystemErr Text    `xml:"system-err,omitempty"`

	// sealed are testcases encoded when the file was read, written
	// before Cases (seal).
	sealed *sealed
	// role groups the suite into a row of the Report.
	role string
	// deciding marks the deciding task's suites, whose testcases keep
	// their names (distinctCases).
	deciding bool
}

// Properties is a suite's <properties> list.
type Properties struct {
	Property []Property `xml:"property"`
}

// Property is one name/value pair; both attributes are required by the schema.
type Property struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Case is one <testcase>. At most one of Failure, Error and Skipped is set.
// It has no XMLName: a large merge reads 200,000 of them, and Suite.Cases
// names the element.
type Case struct {
	Name      string  `xml:"name,attr"`
	Classname string  `xml:"classname,attr,omitempty"`
	Time      Seconds `xml:"time,attr"`
	Skipped   *Result `xml:"skipped,omitempty"`
	Failure   *Result `xml:"failure,omitempty"`
	Error     *Result `xml:"error,omitempty"`
	SystemOut Text    `xml:"system-out,omitempty"`
	SystemErr Text    `xml:"system-err,omitempty"`
}

// Result is the body of a <failure>, <error> or <skipped>.
type Result struct {
	Type    string
	Message string
	Body    string
}

// Status of a testcase, in the words of the summary.
const (
	StatusPassed  = "passed"
	StatusFailed  = "failed"
	StatusError   = "error"
	StatusSkipped = "skipped"
)

// Status says how the testcase ended. An error outranks a failure, which
// outranks a skip, so a case is never counted as better than it was.
func (c *Case) Status() string {
	switch {
	case c.Error != nil:
		return StatusError
	case c.Failure != nil:
		return StatusFailed
	case c.Skipped != nil:
		return StatusSkipped
	default:
		return StatusPassed
	}
}

// Seconds is a duration written as seconds with millisecond precision, the
// form junit-10.xsd's SUREFIRE_TIME accepts (no sign, no exponent).
type Seconds time.Duration

// MarshalXMLAttr writes the duration as "12.345".
func (s Seconds) MarshalXMLAttr(name xml.Name) (xml.Attr, error) {
	return xml.Attr{Name: name, Value: string(s.append(nil))}, nil
}

// append appends s as junit writes a time: seconds, 3 decimals, never
// negative.
func (s Seconds) append(b []byte) []byte {
	return strconv.AppendFloat(b, time.Duration(max(s, 0)).Seconds(), 'f', 3, 64)
}

// UnmarshalXMLAttr reads seconds back, so a merged file decodes into a
// Document (tests read their output this way).
func (s *Seconds) UnmarshalXMLAttr(attr xml.Attr) error {
	v, err := strconv.ParseFloat(attr.Value, 64)
	if err != nil {
		return fmt.Errorf("time %q: %w", attr.Value, err)
	}
	*s = Seconds(time.Duration(v * float64(time.Second)))
	return nil
}

// Text is element content written as escaped text with real line breaks
// (encoding/xml would write a string field's newlines as &#xA;, which keeps
// the document valid but makes stack traces unreadable in the raw file).
type Text string

// MarshalXML writes <name>text</name>.
func (t Text) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return writeElement(e, start, string(t))
}

// MarshalXML writes the result element with its type and message attributes
// and its body as text.
func (r *Result) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if r.Type != "" {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "type"}, Value: r.Type})
	}
	if r.Message != "" {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "message"}, Value: r.Message})
	}
	return writeElement(e, start, r.Body)
}

// UnmarshalXML reads a result element back.
func (r *Result) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	for _, a := range start.Attr {
		switch a.Name.Local {
		case "type":
			r.Type = a.Value
		case "message":
			r.Message = a.Value
		}
	}
	var body struct {
		Text string `xml:",chardata"`
	}
	if err := d.DecodeElement(&body, &start); err != nil {
		return err
	}
	r.Body = body.Text
	return nil
}

func writeElement(e *xml.Encoder, start xml.StartElement, text string) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if text != "" {
		if err := e.EncodeToken(xml.CharData(text)); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// Write encodes the document as XML to w. Output is deterministic: the same
// document gives the same bytes. Suites are encoded in parallel, each into a
// buffer of its own, and written in order as they are ready: encoding is a
// good part of a large merge's time and suites do not depend on each other.
// Sealed suites, encoded when their files were read, are written as they are.
func (d *Document) Write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<18)
	bw.WriteString(xml.Header)
	// The root's start tag goes through the encoder for its attributes; its
	// children are encoded apart, so its end tag is written here.
	start, err := rootStart(d)
	if err != nil {
		return err
	}
	enc := xml.NewEncoder(bw)
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	if err := enc.Flush(); err != nil {
		return err
	}
	p := encodeSuites(d.Suites)
	defer p.stop()
	var scratch []byte
	for i, s := range d.Suites {
		bw.WriteByte('\n')
		if s.sealed != nil {
			if scratch, err = writeSuite(bw, s, scratch); err != nil {
				return err
			}
			continue
		}
		if _, err := bw.Write(p.get(i)); err != nil {
			return err
		}
	}
	if len(d.Suites) > 0 {
		bw.WriteByte('\n')
	}
	bw.WriteString("</testsuites>\n")
	return bw.Flush()
}

// rootStart is the <testsuites> start tag with the document's attributes.
func rootStart(d *Document) (xml.StartElement, error) {
	start := xml.StartElement{Name: xml.Name{Local: "testsuites"}}
	if d.Name != "" {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "name"}, Value: d.Name})
	}
	for _, a := range []struct {
		name string
		n    int
	}{{"tests", d.Tests}, {"failures", d.Failures}, {"errors", d.Errors}} {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: a.name}, Value: strconv.Itoa(a.n)})
	}
	t, err := d.Time.MarshalXMLAttr(xml.Name{Local: "time"})
	if err != nil {
		return start, err
	}
	start.Attr = append(start.Attr, t)
	return start, nil
}

// suiteEncoder encodes suites, indented one level, on GOMAXPROCS workers;
// get hands them out in order.
type suiteEncoder struct {
	chunks  [][]byte
	done    []chan struct{}
	next    atomic.Int64
	stopped atomic.Bool
	wg      sync.WaitGroup
}

func encodeSuites(suites []*Suite) *suiteEncoder {
	p := &suiteEncoder{
		chunks: make([][]byte, len(suites)),
		done:   make([]chan struct{}, len(suites)),
	}
	for i := range p.done {
		p.done[i] = make(chan struct{})
	}
	for range min(runtime.GOMAXPROCS(0), len(suites)) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for !p.stopped.Load() {
				i := int(p.next.Add(1) - 1)
				if i >= len(suites) {
					return
				}
				if suites[i].sealed == nil {
					p.chunks[i] = appendSuite(make([]byte, 0, encodedSize(suites[i])), suites[i])
				}
				close(p.done[i])
			}
		}()
	}
	return p
}

// get waits for suite i and returns its encoding, releasing it.
func (p *suiteEncoder) get(i int) []byte {
	<-p.done[i]
	chunk := p.chunks[i]
	p.chunks[i] = nil
	return chunk
}

// stop ends the workers early (after an error) and waits for them.
func (p *suiteEncoder) stop() {
	p.stopped.Store(true)
	p.wg.Wait()
}

// total recomputes a suite's counts from its testcases: the file's own
// attributes are not trusted, they may disagree with what it holds.
func (s *Suite) total() {
	s.Tests, s.Failures, s.Errors, s.Skipped = s.caseCount(), 0, 0, 0
	if z := s.sealed; z != nil {
		s.Failures, s.Errors, s.Skipped = z.failures, z.errors, z.skipped
	}
	for _, c := range s.Cases {
		switch c.Status() {
		case StatusError:
			s.Errors++
		case StatusFailed:
			s.Failures++
		case StatusSkipped:
			s.Skipped++
		}
	}
}

// total recomputes the document's counts from its suites.
func (d *Document) total() {
	d.Tests, d.Failures, d.Errors, d.Time = 0, 0, 0, 0
	for _, s := range d.Suites {
		s.total()
		d.Tests += s.Tests
		d.Failures += s.Failures
		d.Errors += s.Errors
		d.Time += s.Time
	}
}
