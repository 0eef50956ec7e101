package junitmerge

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// XML 1.0 allows only tab, newline, carriage return and the code points
// U+0020–U+D7FF, U+E000–U+FFFD and U+10000–U+10FFFF. pytest output is full of
// what it forbids: ESC from colour codes, NUL from binary output. One such
// character makes a whole results.xml unreadable for Jenkins, so both the
// input (before parsing) and every string we write are cleaned.

// allowedRune reports whether r may appear in an XML 1.0 document.
func allowedRune(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r':
		return true
	case r < 0x20:
		return false
	case r <= 0xD7FF:
		return true
	case r < 0xE000:
		return false
	case r <= 0xFFFD:
		return true
	default:
		return r >= 0x10000 && r <= utf8.MaxRune
	}
}

// escapeRune writes a forbidden code point as visible text, \u001b style,
// so that a reader of the results still sees that it was there.
func escapeRune(b []byte, r rune) []byte {
	b = append(b, '\\', 'u')
	h := strconv.FormatInt(int64(r), 16)
	for i := len(h); i < 4; i++ {
		b = append(b, '0')
	}
	return append(b, h...)
}

// cleanInput makes raw junit bytes acceptable to Go's XML parser without
// changing their meaning: ANSI escape sequences are dropped, other forbidden
// control characters and character references to them (&#x1B;) become
// \u001b text, bytes that are not UTF-8 become U+FFFD. Clean input (the usual case) is returned as is, not copied.
func cleanInput(raw []byte) []byte {
	i := firstBadInput(raw)
	if i < 0 {
		return raw
	}
	out := make([]byte, 0, len(raw)+64)
	out = append(out, raw[:i]...)
	for i < len(raw) {
		c := raw[i]
		switch {
		case c == '&' && i+1 < len(raw) && raw[i+1] == '#':
			if r, n, ok := charRef(raw[i:]); ok && !allowedRune(r) {
				i += n
				if r == 0x1b {
					if m := ansiBodyLen(raw[i:]); m > 0 {
						i += m
						continue
					}
				}
				out = escapeRune(out, r)
				continue
			}
			out = append(out, c)
			i++
		case c == 0x1b:
			if m := ansiBodyLen(raw[i+1:]); m > 0 {
				i += 1 + m
				continue
			}
			out = escapeRune(out, rune(c))
			i++
		case c < utf8.RuneSelf:
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				out = escapeRune(out, rune(c))
			} else {
				out = append(out, c)
			}
			i++
		default:
			r, n := utf8.DecodeRune(raw[i:])
			switch {
			case r == utf8.RuneError && n == 1:
				out = append(out, "\uFFFD"...)
			case !allowedRune(r):
				out = escapeRune(out, r)
			default:
				out = append(out, raw[i:i+n]...)
			}
			i += n
		}
	}
	return out
}

// firstBadInput returns the index of the first byte cleanInput must change,
// or -1. It is the hot path for every file, so ASCII is checked byte by byte
// without decoding.
func firstBadInput(raw []byte) int {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return i
			}
			if c == '&' && i+1 < len(raw) && raw[i+1] == '#' {
				if r, _, ok := charRef(raw[i:]); ok && !allowedRune(r) {
					return i
				}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(raw[i:])
		if (r == utf8.RuneError && n == 1) || !allowedRune(r) {
			return i
		}
		i += n
	}
	return -1
}

// charRef parses a numeric character reference (&#27; or &#x1B;) at the
// start of b and returns the code point and the reference's length.
func charRef(b []byte) (r rune, n int, ok bool) {
	end := -1
	for j := 2; j < len(b) && j < 16; j++ {
		if b[j] == ';' {
			end = j
			break
		}
	}
	if end < 0 {
		return 0, 0, false
	}
	digits, base := string(b[2:end]), 10
	if strings.HasPrefix(digits, "x") {
		digits, base = digits[1:], 16
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil || digits == "" {
		return 0, 0, false
	}
	if v > utf8.MaxRune {
		// Out of Unicode: report as forbidden so it is escaped, not parsed.
		return 0xFFFF, end + 1, true
	}
	return rune(v), end + 1, true
}

// cleanText prepares a string for the output document: ANSI colour and
// cursor sequences are removed (they are noise in a CI report), including
// pytest's own rendering of them ("#x1B[31m", which is how pytest writes ESC
// into junit); forbidden characters become \u001b text; bytes that are not
// UTF-8 become U+FFFD. encoding/xml would turn forbidden characters into
// U+FFFD on its own, which keeps the document valid but loses what they were.
func cleanText(s string) string {
	if !needsClean(s) {
		return s
	}
	var b []byte
	b = make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0x1b:
			if n := ansiBodyLen(s[i+1:]); n > 0 {
				i += 1 + n
				continue
			}
			b = escapeRune(b, rune(c))
			i++
		case c == '#' && strings.HasPrefix(s[i:], "#x1B["):
			if n := pytestSGRLen(s[i:]); n > 0 {
				i += n
				continue
			}
			b = append(b, c)
			i++
		case c < utf8.RuneSelf:
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				b = escapeRune(b, rune(c))
			} else {
				b = append(b, c)
			}
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && n == 1:
				b = append(b, "\uFFFD"...)
			case !allowedRune(r):
				b = escapeRune(b, r)
			default:
				b = append(b, s[i:i+n]...)
			}
			i += n
		}
	}
	return string(b)
}

// cleanParsed is cleanText for strings go-junit read from input that went
// through cleanInput: the parser let only XML characters through, so what is
// left to clean are colour sequences, found with two fast searches. (Were
// anything else left, encoding/xml would still write it as U+FFFD.)
func cleanParsed(s string) string {
	if strings.IndexByte(s, 0x1b) < 0 && !strings.Contains(s, "#x1B[") {
		return s
	}
	return cleanText(s)
}

// needsClean is the fast check in front of cleanText.
func needsClean(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || (c == '#' && strings.HasPrefix(s[i:], "#x1B[")) {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || !allowedRune(r) {
			return true
		}
		i += n
	}
	return false
}

// ansiBodyLen returns the length of the ANSI escape sequence that follows an
// ESC at the start of s ("[" parameters intermediates final, or "]" ... BEL/ST
// for titles and links), or 0 if none does.
func ansiBodyLen[T string | []byte](s T) int {
	if len(s) < 1 {
		return 0
	}
	switch s[0] {
	case '[':
		i := 1
		for i < len(s) && s[i] >= 0x30 && s[i] <= 0x3f {
			i++
		}
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
			i++
		}
		if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
			return i + 1
		}
	case ']':
		for i := 1; i < len(s) && i < 512; i++ {
			if s[i] == '<' {
				// Markup follows: this was no title sequence.
				return 0
			}
			if s[i] == 0x07 {
				return i + 1
			}
			if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
	}
	return 0
}

// pytestSGRLen returns the length of "#x1B[<digits;>m" at the start of s, or 0.
func pytestSGRLen(s string) int {
	i := len("#x1B[")
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == ';') {
		i++
	}
	if i < len(s) && s[i] == 'm' {
		return i + 1
	}
	return 0
}
