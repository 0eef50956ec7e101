package junitmerge

import "bytes"

// failingCases counts, in raw junit bytes, the testcases that hold at least
// one <failure> or <error> element, plus such elements outside any testcase.
//
// It exists to check go-junit: go-junit keeps only the last of a testcase's
// <skipped>/<failure>/<error> children (so "<failure/><skipped/>" reads as a
// skip), and drops testcases that are not direct children of a <testsuite>.
// If go-junit reports fewer failing testcases than this count, something
// that failed would have been merged as a pass or a skip, and the file is
// reported as broken instead.
//
// It is a single pass over the markup, skipping comments, CDATA, processing
// instructions and declarations, and quoted attribute values, so text that
// merely mentions "<failure" (escaped, as XML requires) is not counted.
func failingCases(raw []byte) int {
	n := 0
	inCase, flagged := false, false
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '<')
		if j < 0 {
			break
		}
		i += j
		rest := raw[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			i = skipPast(raw, i+4, "-->")
			continue
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			i = skipPast(raw, i+9, "]]>")
			continue
		case bytes.HasPrefix(rest, []byte("<?")):
			i = skipPast(raw, i+2, "?>")
			continue
		case bytes.HasPrefix(rest, []byte("<!")):
			i = skipPast(raw, i+2, ">")
			continue
		}
		closing := len(rest) > 1 && rest[1] == '/'
		start := i + 1
		if closing {
			start++
		}
		name, end, selfClosing := scanTag(raw, start)
		i = end
		switch string(localName(name)) {
		case "testcase":
			switch {
			case closing:
				inCase = false
			case !selfClosing:
				inCase, flagged = true, false
			}
		case "failure", "error":
			if closing {
				break
			}
			if !inCase {
				n++
			} else if !flagged {
				flagged = true
				n++
			}
		}
	}
	return n
}

// scanTag reads the element name starting at i and skips to the end of the
// tag, honouring quoted attribute values (which may contain '>').
func scanTag(raw []byte, i int) (name []byte, end int, selfClosing bool) {
	start := i
	for i < len(raw) {
		c := raw[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '/' || c == '>' {
			break
		}
		i++
	}
	name = raw[start:i]
	var quote byte
	for ; i < len(raw); i++ {
		c := raw[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return name, i + 1, i > 0 && raw[i-1] == '/'
		}
	}
	return name, len(raw), false
}

// localName strips a namespace prefix, as go-junit matches local names only.
func localName(name []byte) []byte {
	if k := bytes.LastIndexByte(name, ':'); k >= 0 {
		return name[k+1:]
	}
	return name
}

// skipPast returns the index just past the first sep at or after i, or
// len(raw) when there is none.
func skipPast(raw []byte, i int, sep string) int {
	if i > len(raw) {
		return len(raw)
	}
	k := bytes.Index(raw[i:], []byte(sep))
	if k < 0 {
		return len(raw)
	}
	return i + k + len(sep)
}
