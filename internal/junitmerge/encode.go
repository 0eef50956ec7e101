package junitmerge

import (
	"bufio"
	"strconv"
	"unicode/utf8"
)

// appendSuite appends s as encoding/xml writes it with Indent("  ", "  ")
// (the tests hold it to exactly those bytes). It is written by hand because
// a large merge encodes 200,000 testcases, and encoding/xml's reflection and
// token checks cost more than the parsing of the input.
func appendSuite(b []byte, s *Suite) []byte {
	b = appendSuiteStart(b, s)
	if s.sealed != nil {
		b = appendSealed(b, s.sealed)
	}
	for _, c := range s.Cases {
		b = appendCase(b, c)
	}
	return appendSuiteEnd(b, s)
}

// writeSuite writes s as appendSuite would, straight to w, using scratch
// (returned for the next call): a sealed suite's testcases are bytes
// already, and copying them into a buffer of their own first would cost
// fresh memory the size of the output. A bufio.Writer keeps its first
// error, so the last Write's error is every Write's.
func writeSuite(w *bufio.Writer, s *Suite, scratch []byte) ([]byte, error) {
	scratch = appendSuiteStart(scratch[:0], s)
	w.Write(scratch)
	if z := s.sealed; z != nil {
		start := 0
		for i, end := range z.ends {
			scratch = appendCaseHead(scratch[:0], z.names[i], z.classes[i])
			w.Write(scratch)
			w.Write(z.rest[start:end])
			start = end
		}
	}
	for _, c := range s.Cases {
		scratch = appendCase(scratch[:0], c)
		w.Write(scratch)
	}
	scratch = appendSuiteEnd(scratch[:0], s)
	_, err := w.Write(scratch)
	return scratch, err
}

// appendSuiteStart appends the suite's start tag and its properties.
func appendSuiteStart(b []byte, s *Suite) []byte {
	b = append(b, "  <testsuite name=\""...)
	b = appendEscaped(b, s.Name, true)
	b = append(b, '"')
	b = appendIntAttr(b, "tests", s.Tests)
	b = appendIntAttr(b, "failures", s.Failures)
	b = appendIntAttr(b, "errors", s.Errors)
	b = appendIntAttr(b, "skipped", s.Skipped)
	b = appendSeconds(b, s.Time)
	b = appendAttr(b, "timestamp", s.Timestamp)
	b = appendAttr(b, "hostname", s.Hostname)
	b = append(b, '>')
	if s.Properties != nil {
		b = append(b, "\n    <properties>"...)
		for _, p := range s.Properties.Property {
			b = append(b, "\n      <property name=\""...)
			b = appendEscaped(b, p.Name, true)
			b = append(b, "\" value=\""...)
			b = appendEscaped(b, p.Value, true)
			b = append(b, "\"></property>"...)
		}
		if len(s.Properties.Property) > 0 {
			b = append(b, "\n    "...)
		}
		b = append(b, "</properties>"...)
	}
	return b
}

// appendSuiteEnd appends what follows the suite's testcases: its output
// and its end tag.
func appendSuiteEnd(b []byte, s *Suite) []byte {
	children := s.Properties != nil || s.caseCount() > 0
	for _, o := range [...]struct {
		name string
		text Text
	}{{"system-out", s.SystemOut}, {"system-err", s.SystemErr}} {
		if o.text != "" {
			children = true
			b = appendText(b, "\n    ", o.name, string(o.text))
		}
	}
	if children {
		b = append(b, "\n  "...)
	}
	return append(b, "</testsuite>"...)
}

// encodedSize is about how many bytes appendSuite writes for s (more when
// much is escaped): the buffer is sized once instead of grown by copying.
func encodedSize(s *Suite) int {
	n := 256 + len(s.Name) + len(s.SystemOut) + len(s.SystemErr)
	if z := s.sealed; z != nil {
		n += len(z.rest)
		for i := range z.names {
			n += 48 + len(z.names[i]) + len(z.classes[i])
		}
	}
	for _, c := range s.Cases {
		n += caseSize(c)
	}
	return n
}

// caseSize is encodedSize's estimate for one testcase.
func caseSize(c *Case) int {
	n := 64 + len(c.Name) + len(c.Classname) + len(c.SystemOut) + len(c.SystemErr)
	for _, r := range [...]*Result{c.Skipped, c.Failure, c.Error} {
		if r != nil {
			n += 48 + len(r.Type) + len(r.Message) + len(r.Body)
		}
	}
	return n
}

func appendCase(b []byte, c *Case) []byte {
	return appendCaseRest(appendCaseHead(b, c.Name, c.Classname), c)
}

// appendCaseHead appends a testcase's start tag up to its classname
// attribute: the part the merge may still change after sealing.
func appendCaseHead(b []byte, name, classname string) []byte {
	b = append(b, "\n    <testcase name=\""...)
	b = appendEscaped(b, name, true)
	b = append(b, '"')
	return appendAttr(b, "classname", classname)
}

// appendCaseRest appends the rest of a testcase: its time attribute, its
// children and its end tag.
func appendCaseRest(b []byte, c *Case) []byte {
	b = appendSeconds(b, c.Time)
	b = append(b, '>')
	children := false
	for _, r := range [...]struct {
		name string
		r    *Result
	}{{"skipped", c.Skipped}, {"failure", c.Failure}, {"error", c.Error}} {
		if r.r == nil {
			continue
		}
		children = true
		b = append(b, "\n      <"...)
		b = append(b, r.name...)
		b = appendAttr(b, "type", r.r.Type)
		b = appendAttr(b, "message", r.r.Message)
		b = append(b, '>')
		b = appendEscaped(b, r.r.Body, false)
		b = append(b, "</"...)
		b = append(b, r.name...)
		b = append(b, '>')
	}
	for _, o := range [...]struct {
		name string
		text Text
	}{{"system-out", c.SystemOut}, {"system-err", c.SystemErr}} {
		if o.text != "" {
			children = true
			b = appendText(b, "\n      ", o.name, string(o.text))
		}
	}
	if children {
		b = append(b, "\n    "...)
	}
	return append(b, "</testcase>"...)
}

func appendText(b []byte, indent, name, text string) []byte {
	b = append(b, indent...)
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendEscaped(b, text, false)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// appendAttr appends ` name="value"` unless value is empty.
func appendAttr(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, "=\""...)
	b = appendEscaped(b, value, true)
	return append(b, '"')
}

func appendIntAttr(b []byte, name string, n int) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, "=\""...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '"')
}

// appendSeconds appends the time attribute.
func appendSeconds(b []byte, s Seconds) []byte {
	b = append(b, " time=\""...)
	b = s.append(b)
	return append(b, '"')
}

// appendEscaped escapes s as encoding/xml's encoder does: attribute values
// with their newlines escaped, character data with newlines kept (as its
// text path does; the public EscapeText escapes them).
func appendEscaped(b []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		var esc string
		width := 1
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				esc = "&#34;"
			case c == '\'':
				esc = "&#39;"
			case c == '&':
				esc = "&amp;"
			case c == '<':
				esc = "&lt;"
			case c == '>':
				esc = "&gt;"
			case c == '\t':
				esc = "&#x9;"
			case c == '\n':
				if attr {
					esc = "&#xA;"
				}
			case c == '\r':
				esc = "&#xD;"
			case c < 0x20:
				esc = "\uFFFD"
			}
		} else {
			var r rune
			r, width = utf8.DecodeRuneInString(s[i:])
			if (r == utf8.RuneError && width == 1) || !allowedRune(r) {
				esc = "\uFFFD"
			}
		}
		i += width
		if esc == "" {
			continue
		}
		b = append(b, s[last:i-width]...)
		b = append(b, esc...)
		last = i
	}
	return append(b, s[last:]...)
}
