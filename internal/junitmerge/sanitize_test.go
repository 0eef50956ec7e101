package junitmerge

import (
	"bytes"
	"encoding/xml"
	"testing"
	"unicode/utf8"
)

func TestCleanText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// Why: the common case must come back unchanged (and uncopied).
		{"plain", "assert 1 == 2\n\ttab", "assert 1 == 2\n\ttab"},
		// Why: unicode is kept as is.
		{"unicode", "héllo ✓ 日本語 🚀", "héllo ✓ 日本語 🚀"},
		// Why: colour codes are noise in a CI report.
		{"ANSI colour", "\x1b[31mred\x1b[0m \x1b[1;32mbold green\x1b[m", "red bold green"},
		// Why: cursor movement and erase sequences come from progress bars.
		{"ANSI cursor", "50%\x1b[2K\x1b[1G100%", "50%100%"},
		// Why: terminal titles and hyperlinks (OSC) end with BEL or ST.
		{"ANSI OSC", "\x1b]0;title\x07text \x1b]8;;http://x\x1b\\link", "text link"},
		// Why: pytest writes ESC as the text "#x1B"; its colour codes too.
		{"pytest-escaped colour", "#x1B[1mbold#x1B[0m", "bold"},
		// Why: a lone ESC is not a sequence; it stays visible.
		{"lone ESC", "a\x1bb", `a\u001bb`},
		// Why: NUL and other C0 controls are forbidden in XML 1.0.
		{"NUL and BEL", "a\x00b\x07c\x7f", `a\u0000b\u0007c` + "\x7f"},
		// Why: U+FFFE and U+FFFF are not XML characters.
		{"non-characters", "a\uFFFEb\uFFFF", `a\ufffeb\uffff`},
		// Why: bytes that are not UTF-8 (a lone surrogate's encoding, Latin-1).
		{"invalid UTF-8", "caf\xe9 \xed\xa0\x80", "caf\uFFFD \uFFFD\uFFFD\uFFFD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := cleanText(tc.in)
			if got != tc.want {
				t.Errorf("cleanText(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if !validXMLText(got) {
				t.Errorf("cleanText(%q) still holds characters XML forbids", tc.in)
			}
		})
	}
}

func TestCleanInput(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// Why: clean input is returned as is.
		{"clean", `<a b="&#10;&amp;">x</a>`, `<a b="&#10;&amp;">x</a>`},
		// Why: raw colour codes are dropped, other controls escaped.
		{"raw controls", "<a>\x1b[31mred\x1b[0m\x00</a>", `<a>red\u0000</a>`},
		// Why: references to forbidden characters fail Go's parser.
		{"references", `<a x="&#x1B;[1mb&#x1B;[0m">&#0;&#65;&#xFFFF;</a>`, `<a x="b">\u0000&#65;\uffff</a>`},
		// Why: references beyond Unicode fail it too.
		{"reference beyond unicode", `<a>&#x110000;</a>`, `<a>\uffff</a>`},
		// Why: invalid UTF-8 becomes U+FFFD.
		{"latin-1", "<a>caf\xe9</a>", "<a>caf\uFFFD</a>"},
		// Why: an OSC-like sequence must not swallow markup.
		{"ESC ] before markup", "<a>\x1b]x</a><b>\x07</b>", `<a>\u001b]x</a><b>\u0007</b>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(cleanInput([]byte(tc.in)))
			if got != tc.want {
				t.Errorf("cleanInput(%q) = %q, want %q", tc.in, got, tc.want)
			}
			var v struct{}
			if err := xml.Unmarshal([]byte(got), &v); err != nil {
				t.Errorf("cleaned input does not parse: %v", err)
			}
		})
	}
}

// validXMLText reports whether s is UTF-8 made of XML 1.0 characters only.
func validXMLText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !allowedRune(r) {
			return false
		}
	}
	return true
}

func TestFailingCases(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want int
	}{
		// Why: each failing testcase counts once, however many results it holds.
		{"one per testcase", `<testcase><failure/><error/></testcase><testcase><error></error></testcase>`, 2},
		// Why: self-closing testcases must not leave the scanner "inside" one.
		{"self-closing", `<testcase name="a"/><failure/>`, 1},
		// Why: '>' is allowed in attribute values.
		{"quoted >", `<testcase name="a>b"><failure message="x > y"/></testcase>`, 1},
		// Why: text, comments and CDATA mentioning <failure> are not results.
		{"not markup", `<testcase>&lt;failure<!-- <failure/> --><![CDATA[<error>]]></testcase>`, 0},
		// Why: <errors> and <failures> are other elements.
		{"similar names", `<testcase><errors/><failures/><rerunFailure/></testcase>`, 0},
		// Why: go-junit matches local names, so namespaced ones count.
		{"namespaced", `<testcase><x:failure/></testcase>`, 1},
		// Why: failures outside any testcase each count.
		{"outside testcases", `<failure/><error/>`, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := failingCases([]byte(tc.raw)); got != tc.want {
				t.Errorf("failingCases = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestLogTail(t *testing.T) {
	dir := t.TempDir()
	write := func(content string) string {
		p := dir + "/log"
		if err := writeFile(p, content); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, content string
		n             int
		want          string
	}{
		// Why: fewer lines than asked gives them all.
		{"short", "a\nb\n", 5, "a\nb"},
		// Why: the last n lines exactly.
		{"exact", "a\nb\nc\nd\n", 2, "c\nd"},
		// Why: a log without a final newline.
		{"no final newline", "a\nb\nc", 1, "c"},
		// Why: an empty log.
		{"empty", "", 3, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := logTail(write(tc.content), tc.n)
			if err != nil || got != tc.want {
				t.Errorf("logTail = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	t.Run("huge log reads only its end", func(t *testing.T) {
		// Why: a task log can be gigabytes; the first, cut line is dropped.
		big := bytes.Repeat([]byte("0123456789\n"), 20000)
		p := write(string(big) + "last line\n")
		got, err := logTail(p, 2)
		if err != nil || got != "0123456789\nlast line" {
			t.Errorf("logTail = %q, %v", got, err)
		}
	})
}
