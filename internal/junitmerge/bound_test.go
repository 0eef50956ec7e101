package junitmerge

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// elements lists a document's start and end elements and its text, which
// readBounded must keep (text only where it is short).
func elements(t *testing.T, doc []byte) (tags []string, text string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var sb strings.Builder
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return tags, sb.String()
		}
		if err != nil {
			t.Fatalf("%v in:\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			tags = append(tags, "<"+tok.Name.Local)
		case xml.EndElement:
			tags = append(tags, "</"+tok.Name.Local)
		case xml.CharData:
			sb.Write(tok)
		}
	}
}

func TestReadBounded(t *testing.T) {
	long := strings.Repeat("0123456789", 5)
	for _, tc := range []struct {
		name, in string
		// cut: the text readBounded keeps, without its note; "" when
		// the document must come back unchanged.
		cut string
	}{
		// Short runs, comments and quoted '>' come back as they are.
		{"short", `<?xml version="1.0"?><!-- a > b --><s a="x>y"><c>0123456789</c><![CDATA[<x>]]></s>`, ""},
		// A long run keeps its head and tail.
		{"text", `<s><o>` + long + `</o></s>`, "0123456789" + "0123456789"},
		// An entity reference at the head's end is not cut in two.
		{"entity at head end", `<s><o>012345678&amp;` + long + `</o></s>`, "012345678" + "0123456789"},
		// Nor one at the tail's start.
		{"entity at tail start", `<s><o>` + long + `&lt;12345678</o></s>`, "0123456789" + "12345678"},
		// Nor a rune.
		{"rune", `<s><o>012345678é` + long + `</o></s>`, "012345678" + "0123456789"},
		// CDATA is bounded too, and '>' in it is content.
		{"cdata", `<s><o><![CDATA[` + long + `>>]]]]></o></s>`, "0123456789" + "456789>>]]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := readBounded(strings.NewReader(tc.in), "dir/a&b.xml", 10, 10)
			if err != nil {
				t.Fatal(err)
			}
			if tc.cut == "" {
				if string(out) != tc.in {
					t.Fatalf("changed:\n%s", out)
				}
				return
			}
			wantTags, _ := elements(t, []byte(tc.in))
			tags, text := elements(t, out)
			if strings.Join(tags, "") != strings.Join(wantTags, "") {
				t.Errorf("elements %v, want %v", tags, wantTags)
			}
			note := strings.Index(text, "\n\n[... noderun cut ")
			end := strings.Index(text, "dir/a&b.xml ...]\n\n")
			if note < 0 || end < 0 {
				t.Fatalf("no note naming the file in %q", text)
			}
			if got := text[:note] + text[end+len("dir/a&b.xml ...]\n\n"):]; got != tc.cut {
				t.Errorf("kept %q, want %q", got, tc.cut)
			}
		})
	}
}

// A comment opened by "<!-->" does not end there: what follows stays in the
// comment, so a <failure> inside it is no failure, before the cut or after.
func TestReadBoundedCommentOpener(t *testing.T) {
	long := strings.Repeat("0123456789", 5)
	in := `<s><c name="a"><!-->` + long + `--><failure>boom</failure></c></s>`
	out, err := readBounded(strings.NewReader(in), "a.xml", 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Errorf("a comment was bounded as text:\n%s", out)
	}
}

// A note in text names a file whose path holds "]]>" as well-formed text.
func TestReadBoundedNoteEscapesPath(t *testing.T) {
	in := `<s><o>` + strings.Repeat("0123456789", 5) + `</o></s>`
	out, err := readBounded(strings.NewReader(in), "dir/x]]>y.xml", 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, text := elements(t, out); !strings.Contains(text, "dir/x]]>y.xml") {
		t.Errorf("the note does not name the file: %q", text)
	}
}

// A run longer than head+tail is cut, also when it came in reads shorter
// than the tail (the reader's buffer is 64 KiB), which it keeps up to twice.
func TestReadBoundedLimit(t *testing.T) {
	const head, tail = 10, 100 << 10
	in := `<s><o>` + strings.Repeat("x", head+150<<10) + `</o></s>`
	out, err := readBounded(strings.NewReader(in), "a.xml", head, tail)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(cutNoteStart)) {
		t.Errorf("%d bytes of text kept whole with head+tail %d", head+150<<10, head+tail)
	}
}

// TestHugeSystemOut merges a file with 100 MB of system-out: the merge must
// not hold it (total allocation stays far below it) and results.xml must
// stay valid for a plain xmllint, whose text nodes end at 10 MB.
func TestHugeSystemOut(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 MB")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "GEN_0", "rank0.xml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`<testsuite name="pytest"><testcase classname="c" name="loud"><failure message="m">boom</failure><system-out>`)
	line := []byte(strings.Repeat("step &lt;ok&gt; é ", 4) + "\n")
	for n := 0; n < 100<<20; n += len(line) {
		f.Write(line)
	}
	f.WriteString("the end</system-out></testcase></testsuite>\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	doc, rep, err := MergeFiles([]string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, data := writeDoc(t, doc)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Errorf("merging 100 MB of system-out allocated %d MiB, want it bounded (< 32 MiB)", alloc>>20)
	}
	if rep.Total.Failed != 1 {
		t.Errorf("failed %d, want 1", rep.Total.Failed)
	}
	if len(data) > 1<<20 {
		t.Errorf("results.xml is %d bytes, want under 1 MiB", len(data))
	}
	for _, want := range []string{"noderun cut ", "the whole text is in " + path, "the end</system-out>"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("results.xml lacks %q", want)
		}
	}
	validateSchema(t, out)
}
