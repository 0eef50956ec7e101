package slurmenv

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The expected outputs below were taken from `scontrol show hostnames`
// (slurm-wlm 22.05); TestExpandMatchesScontrol re-checks them against the
// installed scontrol where there is one.
var expandCases = []struct {
	expr string
	want []string
	why  string
}{
	{"n1", []string{"n1"}, "a plain name passes through"},
	{"n[1-4]", []string{"n1", "n2", "n3", "n4"}, "the basic range"},
	{"n[01-10]", []string{"n01", "n02", "n03", "n04", "n05", "n06", "n07", "n08", "n09", "n10"}, "zero padding from the lower bound"},
	{"n[1-010]", []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9", "n10"}, "padding of the upper bound is ignored"},
	{"n[09-11]", []string{"n09", "n10", "n11"}, "padding stops mattering once numbers reach the width"},
	{"n[009-11]", []string{"n009", "n010", "n011"}, "wider padding than the upper bound needs"},
	{"n[08-8]", []string{"n08"}, "one-element range keeps the lower bound's width"},
	{"n[8-08]", []string{"n8"}, "the upper bound's zeros do not pad"},
	{"n[0001-2]", []string{"n0001", "n0002"}, "many zeros"},
	{"n[0-0]", []string{"n0"}, "zero is a number like any other"},
	{"n[00]", []string{"n00"}, "a single padded zero"},
	{"n[3]", []string{"n3"}, "a single number in brackets"},
	{"n[01-3,7]", []string{"n01", "n02", "n03", "n7"}, "each range of a list has its own width"},
	{"n[1-2,5-6,9]", []string{"n1", "n2", "n5", "n6", "n9"}, "several ranges in one group"},
	{"n[1,1,2]", []string{"n1", "n1", "n2"}, "duplicates inside a group are kept"},
	{"n[1-3,2]", []string{"n1", "n2", "n3", "n2"}, "overlapping ranges are kept in order"},
	{"a,b,a", []string{"a", "b", "a"}, "duplicate names are kept, order too"},
	{"n[1-2],m[3-4]", []string{"n1", "n2", "m3", "m4"}, "commas at top level separate names"},
	{"n[1-2],n[003-4]", []string{"n1", "n2", "n003", "n004"}, "neighbouring ranges of one prefix keep their widths"},
	{"n[8-9],n[10-11]", []string{"n8", "n9", "n10", "n11"}, "contiguous ranges with different widths"},
	{"r[1-2]n[1-2]", []string{"r1n1", "r1n2", "r2n1", "r2n2"}, "two groups: row-major"},
	{"r[1-2,4]n[01-02,5]", []string{"r1n01", "r1n02", "r1n5", "r2n01", "r2n02", "r2n5", "r4n01", "r4n02", "r4n5"}, "two groups with lists"},
	{"n[1-2][3-4]", []string{"n13", "n14", "n23", "n24"}, "adjacent groups"},
	{"[1-2]", []string{"1", "2"}, "no prefix at all"},
	{"n[1-2]-[3-4]", []string{"n1-3", "n1-4", "n2-3", "n2-4"}, "text between groups"},
	{"n[1-3]-[1-2]x[1-2]", []string{
		"n1-1x1", "n1-1x2", "n2-1x1", "n2-1x2", "n3-1x1", "n3-1x2",
		"n1-2x1", "n1-2x2", "n2-2x1", "n2-2x2", "n3-2x1", "n3-2x2",
	}, "three groups: Slurm loops the middle group outermost"},
	{"a[1-2]b[1-2]c[1-2]d[1-2]", []string{
		"a1b1c1d1", "a1b1c1d2", "a2b1c1d1", "a2b1c1d2", "a1b2c1d1", "a1b2c1d2", "a2b2c1d1", "a2b2c1d2",
		"a1b1c2d1", "a1b1c2d2", "a2b1c2d1", "a2b1c2d2", "a1b2c2d1", "a1b2c2d2", "a2b2c2d1", "a2b2c2d2",
	}, "four groups: c, b, a from outermost, d innermost"},
	{"n[1-2]y[1-2],z[1-2]", []string{"n1y1", "n1y2", "n2y1", "n2y2", "z1", "z2"}, "a multi-group name in a list"},
	{"n1 n2\tn3\nn4", []string{"n1", "n2", "n3", "n4"}, "whitespace separates names too"},
	{"a,,b", []string{"a", "b"}, "empty names between separators are skipped"},
	{",a,", []string{"a"}, "leading and trailing separators"},
	{"n01,n1", []string{"n01", "n1"}, "plain names keep their zeros"},
	{"a-1", []string{"a-1"}, "a dash outside brackets is text"},
	{"n.[1-2]", []string{"n.1", "n.2"}, "dots in the prefix"},
	{"n[18446744073709551615]", []string{"n18446744073709551615"}, "the largest 64-bit number"},
	{"n[65535-65536]", []string{"n65535", "n65536"}, "numbers beyond 16 bits"},
}

func TestExpand(t *testing.T) {
	for _, tc := range expandCases {
		t.Run(tc.expr, func(t *testing.T) {
			got, err := Expand(tc.expr)
			if err != nil {
				t.Fatalf("Expand(%q): %v (%s)", tc.expr, err, tc.why)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Expand(%q) = %q, want %q (%s)", tc.expr, got, tc.want, tc.why)
			}
		})
	}
}

// syntaxCases are malformed expressions. scontrol records what `scontrol
// show hostnames` (22.05) does with each: "rejects" (it prints "Invalid
// hostlist" and no names), "" (it prints nothing), "skip" (not compared), or
// the names it prints instead, which are never what anyone meant.
// TestMalformedMatchesScontrolRecord checks this record.
var syntaxCases = []struct {
	expr     string
	pos      int
	msg      string // a fragment of the message
	scontrol string
	why      string
}{
	{"", 1, "names no host", "", "empty expression"},
	{" ,, ", 1, "names no host", "", "only separators"},
	{"n[5-1]", 3, "reversed", "rejects", "reversed range"},
	{"n[010-9]", 3, "reversed", "rejects", "reversed by value despite the longer lower bound"},
	{"n[]", 3, "empty range", "rejects", "empty brackets"},
	{"n[1,,2]", 5, "empty range", "rejects", "empty range inside a list"},
	{"n[1-2,]", 7, "empty range", "rejects", "trailing comma in a list"},
	{"n[,1]", 3, "empty range", "rejects", "leading comma in a list"},
	{"n[1-]", 5, "missing the upper bound", "n1", "scontrol silently drops the missing bound"},
	{"n[-1]", 3, "found '-'", "rejects", "missing lower bound"},
	{"n[1--3]", 5, "found '-'", "rejects", "negative upper bound"},
	{"n[a-b]", 3, `found 'a'`, "rejects", "letters in a range"},
	{"n[1x3]", 4, `unexpected 'x'`, "rejects", "Slurm's box syntax is not a range"},
	{"n[1a-3]", 4, `unexpected 'a'`, "n01 n02 n03", "scontrol reads 1a as 1 and pads to width 2"},
	{"n[+1-3]", 3, `found '+'`, "n01 n02 n03", "scontrol's strtoul takes a sign"},
	{"n[1-+3]", 5, `found '+'`, "n1 n2 n3", "sign on the upper bound"},
	{"n[1, 2]", 5, "whitespace inside the brackets", "n1 n02", "scontrol pads ' 2' to width 2"},
	{"n[1-2 ]", 6, "whitespace inside the brackets", "rejects", "trailing space in brackets"},
	{"n[1-2", 2, "never closed", "n]", "unclosed bracket: scontrol prints a mangled name"},
	{"n[1-2]m[3-4", 8, "never closed", "n[1-2]m]", "unclosed second bracket"},
	{"n[1-2],x[3", 9, "never closed", "n1 n2 x]", "unclosed bracket in a later name"},
	{"n1]", 3, "without a matching '['", "n1]", "stray closing bracket"},
	{"n[1]]", 5, "without a matching '['", "rejects", "doubled closing bracket"},
	{"a]b[1-2]", 2, "without a matching '['", "a]b1 a]b2", "stray bracket in a prefix"},
	{"a[[1-2]", 3, "'[' inside brackets", "a[1 a[2", "nested brackets"},
	{"n[1-2]x", 7, "after the last ']'", "rejects", "Slurm allows no suffix after the last group"},
	{"n[1-2].ib", 7, "after the last ']'", "rejects", "a domain suffix after the group"},
	{"x[1-2]y,z", 7, "after the last ']'", "rejects", "suffix, then another name"},
	{"a[1-2]b[1-2]c", 13, "after the last ']'", "rejects", "suffix after several groups"},
	{"n[1-65537]", 3, "more than 65536 names", "rejects", "Slurm's per-range limit"},
	{"n[99999999999999999999]", 3, "does not fit in 64 bits", "n18446744073709551615", "scontrol saturates overflowing numbers"},
	{"n[1-1024]m[1-1025]", 1, "more than 1048576 names", "skip", "noderun's total limit (scontrol prints 1 million names)"},
}

func TestExpandSyntaxError(t *testing.T) {
	for _, tc := range syntaxCases {
		t.Run(tc.expr, func(t *testing.T) {
			got, err := Expand(tc.expr)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Expand(%q) = %q, %v; want a *SyntaxError (%s)", tc.expr, got, err, tc.why)
			}
			if se.Expr != tc.expr || se.Pos != tc.pos || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("Expand(%q): got Expr %q Pos %d Msg %q; want Pos %d and a message with %q (%s)",
					tc.expr, se.Expr, se.Pos, se.Msg, tc.pos, tc.msg, tc.why)
			}
			if want := fmt.Sprintf("column %d", tc.pos); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		})
	}
}

// The limits are checked before anything is built, and count across names.
func TestExpandLimits(t *testing.T) {
	cases := []struct {
		expr string
		ok   bool
		why  string
	}{
		{"n[1-65536]", true, "exactly Slurm's per-range limit"},
		{"n[1-1024]m[1-1024]", true, "exactly MaxNames in one name"},
		{"n[1-1024]m[1-1024],x", false, "MaxNames is a total over all names"},
		{"n[1-65536]m[1-65536]o[1-65536]", false, "products beyond 64 bits must not wrap around"},
		{"n[0-18446744073709551615]", false, "the widest range (it wraps to 0 in Slurm's count)"},
		{"n[" + strings.Repeat("1,", MaxRanges-1) + "1]", true, "exactly Slurm's ranges-per-group limit"},
		{"n[" + strings.Repeat("1,", MaxRanges) + "1]", false, "one range too many"},
	}
	for _, tc := range cases {
		got, err := Expand(tc.expr)
		if tc.ok != (err == nil) {
			t.Errorf("%s: Expand gave %d names, error %v; want ok=%v", tc.why, len(got), err, tc.ok)
		}
	}
}

func TestSyntaxErrorExcerpt(t *testing.T) {
	// A 1000-node list with a typo near its end: the message shows the
	// neighbourhood of the typo, not 5000 characters.
	var parts []string
	for i := range 1000 {
		parts = append(parts, fmt.Sprintf("node%d", i))
	}
	expr := strings.Join(parts, ",") + ",bad]"
	_, err := Expand(expr)
	if err == nil {
		t.Fatal("no error")
	}
	if msg := err.Error(); len(msg) > 300 || !strings.Contains(msg, "bad]") || !strings.Contains(msg, "…") {
		t.Errorf("error message is %d bytes or misses the excerpt: %s", len(msg), msg)
	}
}

func BenchmarkExpand(b *testing.B) {
	for b.Loop() {
		if _, err := Expand("gpu-r[01-16]n[001-064],login[1-2]"); err != nil {
			b.Fatal(err)
		}
	}
}
