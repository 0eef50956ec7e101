package junitmerge

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Text runs (a system-out, a failure's body) longer than textHead+textTail
// (256 KiB) keep their first textHead and last textTail bytes, with a note
// between.
// A rank that logs 100 MB to stdout must not take the merge to gigabytes,
// nor results.xml past xmllint's 10 MB text node limit.
const (
	textHead = 128 << 10
	textTail = 128 << 10
)

// readBounded reads a junit document from r, cutting the middle out of
// every text run and CDATA section longer than head+tail bytes, so that
// memory stays bounded by the markup, not the output a test printed.
// Markup is copied as it is, so the elements go-junit and failingCases see
// are the file's. source names the file in the note.
func readBounded(r io.Reader, source string, head, tail int) ([]byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	b := &bounder{head: head, tail: tail, source: source}
	for {
		// Text up to the next '<'.
		chunk, err := br.ReadSlice('<')
		text := chunk
		if err == nil {
			text = chunk[:len(chunk)-1]
		}
		b.add(text)
		switch err {
		case nil:
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			b.end(false)
			return b.out, nil
		default:
			return nil, err
		}
		b.end(false)
		b.out = append(b.out, '<')
		if err := b.markup(br); err != nil {
			if err == io.EOF {
				// Cut short inside markup: go-junit and diagnose say so.
				return b.out, nil
			}
			return nil, err
		}
	}
}

type bounder struct {
	out        []byte
	head, tail int
	source     string
	// The current run: n bytes so far, the first head of them in out from
	// start, the last ones (up to tail, and at most 2*tail) in last.
	n     int
	start int
	last  []byte
}

// add feeds bytes of the current run.
func (b *bounder) add(p []byte) {
	if b.n == 0 {
		b.start = len(b.out)
	}
	b.n += len(p)
	if k := b.head - (len(b.out) - b.start); k > 0 {
		k = min(k, len(p))
		b.out = append(b.out, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 {
		return
	}
	if len(p) >= b.tail {
		b.last = append(b.last[:0], p[len(p)-b.tail:]...)
		return
	}
	if len(b.last)+len(p) > 2*b.tail {
		b.last = append(b.last[:0], b.last[len(b.last)-(b.tail-len(p)):]...)
	}
	b.last = append(b.last, p...)
}

// end closes the current run, writing its tail and, when the middle was
// dropped, the note.
func (b *bounder) end(cdata bool) {
	if b.n == 0 {
		return
	}
	kept := len(b.out) - b.start
	if b.n <= b.head+b.tail && b.n <= kept+len(b.last) {
		b.out = append(b.out, b.last...)
	} else {
		if len(b.last) > b.tail {
			b.last = b.last[len(b.last)-b.tail:]
		}
		headEnd := safeCut(b.out[b.start:], !cdata) + b.start
		b.out = b.out[:headEnd]
		tail := b.last[tailStart(b.last, !cdata):]
		cut := b.n - (headEnd - b.start) - len(tail)
		b.out = append(b.out, cutNote(cut, b.n, b.source, cdata)...)
		b.out = append(b.out, tail...)
	}
	b.n, b.last = 0, b.last[:0]
}

// cutNote says what was dropped and where the whole text is, as text that
// needs no escaping where it goes.
func cutNote(cut, total int, source string, cdata bool) string {
	where := "its junit file"
	switch {
	case source == "":
	case cdata && !strings.Contains(source, "]]>"):
		where = source
	case !cdata:
		// ">" too: a raw "]]>" in text is not well-formed.
		where = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(source)
	}
	return fmt.Sprintf("\n\n%s%d of these %d bytes here to keep results.xml small; the whole text is in %s ...]\n\n", cutNoteStart, cut, total, where)
}

// cutNoteStart begins every cut note.
const cutNoteStart = "[... noderun cut "

// safeCut returns how much of p can be kept as a head: no rune and, in
// text, no entity reference (&amp;) cut in two.
func safeCut(p []byte, text bool) int {
	n := len(p)
	for k := 1; k <= utf8.UTFMax && k <= n; k++ {
		if c := p[n-k]; c < utf8.RuneSelf || utf8.RuneStart(c) {
			if !utf8.FullRune(p[n-k:]) {
				n -= k
			}
			break
		}
	}
	if text {
		if amp := bytes.LastIndexByte(p[max(0, n-16):n], '&'); amp >= 0 {
			amp += max(0, n-16)
			if bytes.IndexByte(p[amp:n], ';') < 0 {
				n = amp
			}
		}
	}
	return n
}

// tailStart returns where a tail can begin: at a rune's start and, in text,
// after the end of an entity reference cut in two.
func tailStart(p []byte, text bool) int {
	i := 0
	if text {
		if semi := bytes.IndexByte(p[:min(len(p), 16)], ';'); semi >= 0 && bytes.IndexByte(p[:semi], '&') < 0 {
			i = semi + 1
		}
	}
	for i < len(p) && !utf8.RuneStart(p[i]) {
		i++
	}
	return i
}

// markup copies what follows a '<': a comment, processing instruction or
// declaration whole, a CDATA section bounded like text, or a tag, whose
// quoted attribute values may hold '>'.
func (b *bounder) markup(br *bufio.Reader) error {
	peek, _ := br.Peek(8)
	switch {
	case bytes.HasPrefix(peek, []byte("![CDATA[")):
		br.Discard(8)
		b.out = append(b.out, peek...)
		return b.cdata(br)
	case bytes.HasPrefix(peek, []byte("!--")):
		return b.copyUntil(br, "!--", "-->")
	case bytes.HasPrefix(peek, []byte("?")):
		return b.copyUntil(br, "?", "?>")
	}
	var quote byte
	for {
		chunk, err := br.ReadSlice('>')
		for _, c := range chunk {
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			}
		}
		b.out = append(b.out, chunk...)
		if err == nil && quote == 0 {
			return nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
	}
}

// copyUntil copies the opener, then up to and including sep. sep is looked
// for after the opener only: "<!-->" does not end the comment it opens.
func (b *bounder) copyUntil(br *bufio.Reader, opener, sep string) error {
	if _, err := br.Discard(len(opener)); err != nil {
		return err
	}
	b.out = append(b.out, opener...)
	from := len(b.out)
	for {
		chunk, err := br.ReadSlice(sep[len(sep)-1])
		b.out = append(b.out, chunk...)
		if err == nil && len(b.out)-from >= len(sep) && bytes.HasSuffix(b.out, []byte(sep)) {
			return nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
	}
}

// cdata bounds a CDATA section's content, read up to its "]]>".
func (b *bounder) cdata(br *bufio.Reader) error {
	// prev holds the content's last two bytes, for a "]]>" split over reads.
	var prev []byte
	for {
		chunk, err := br.ReadSlice('>')
		if err == nil {
			seen := append(append([]byte(nil), prev...), chunk...)
			if bytes.HasSuffix(seen, []byte("]]>")) {
				// The "]]" may be partly in content already fed.
				keep := len(chunk) - 3
				if keep < 0 {
					b.unfeed(-keep)
					keep = 0
				}
				b.add(chunk[:keep])
				b.end(true)
				b.out = append(b.out, "]]>"...)
				return nil
			}
		}
		b.add(chunk)
		seen := append(prev, chunk...)
		prev = append([]byte(nil), seen[max(0, len(seen)-2):]...)
		if err != nil && err != bufio.ErrBufferFull {
			b.end(true)
			return err
		}
	}
}

// unfeed takes back the last k (at most 2) bytes fed to the run.
func (b *bounder) unfeed(k int) {
	b.n -= k
	m := min(k, len(b.last))
	b.last = b.last[:len(b.last)-m]
	b.out = b.out[:len(b.out)-(k-m)]
}
