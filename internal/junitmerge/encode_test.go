package junitmerge

import (
	"bytes"
	"encoding/xml"
	"testing"
	"time"
)

// xmlSuite is what appendSuite must write: encoding/xml's encoding of the
// struct tags, as the merge wrote suites before it had its own encoder.
func xmlSuite(t testing.TB, s *Suite) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	enc.Indent("  ", "  ")
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAppendSuiteIsEncodingXML(t *testing.T) {
	odd := "q\"a'&<>\t\n\r\x01\x7f é \xff \uFFFD \U0001F600 \uFFFE end"
	for _, tc := range []struct {
		name string
		s    *Suite
	}{
		// An empty suite closes on the same line.
		{"empty", &Suite{Name: "s"}},
		// Empty properties close on their line, full ones on the next.
		{"empty properties", &Suite{Name: "s", Properties: &Properties{}}},
		{"everything", &Suite{
			Name: odd, Tests: 3, Failures: 1, Errors: 1, Skipped: 1, Time: Seconds(1500 * time.Millisecond),
			Timestamp: "2025-01-01T00:00:00", Hostname: odd,
			Properties: &Properties{Property: []Property{{Name: odd, Value: odd}, {Name: "", Value: ""}}},
			Cases: []*Case{
				{Name: odd, Classname: odd, Time: Seconds(-1)},
				{Name: "f", Failure: &Result{Type: odd, Message: odd, Body: odd}, SystemOut: Text(odd), SystemErr: "e"},
				{Name: "e", Error: &Result{}},
				{Name: "k", Skipped: &Result{Message: "why"}, Time: Seconds(time.Hour)},
			},
			SystemOut: Text(odd), SystemErr: "err",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, want := appendSuite(nil, tc.s), xmlSuite(t, tc.s)
			if !bytes.Equal(got, want) {
				t.Errorf("appendSuite:\n%s\nencoding/xml:\n%s", got, want)
			}
		})
	}
}
