package slurmenv

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestCompress(t *testing.T) {
	cases := []struct {
		names []string
		want  string
		why   string
	}{
		{nil, "", "nothing to print"},
		{[]string{"n1"}, "n1", "a single name needs no brackets"},
		{[]string{"n1", "n2", "n3", "n4"}, "n[1-4]", "the basic range"},
		{[]string{"n1", "n2", "n3", "n4", "n7"}, "n[1-4,7]", "a gap starts a new range in the same group"},
		{[]string{"n01", "n02", "n03", "n10"}, "n[01-03,10]", "padded names"},
		{[]string{"n09", "n10", "n11"}, "n[09-11]", "padding that runs out stays one range"},
		{[]string{"n9", "n10"}, "n[9-10]", "unpadded names across a digit boundary"},
		{[]string{"n8", "n09"}, "n[8,09]", "n[8-9] would print n9, not n09"},
		{[]string{"n0", "n1"}, "n[0-1]", "zero"},
		{[]string{"n1", "n1"}, "n[1,1]", "duplicates are kept"},
		{[]string{"n2", "n1"}, "n[2,1]", "order is kept, not sorted"},
		{[]string{"n1", "m1", "n2"}, "n1,m1,n2", "only neighbours are merged, so the order survives"},
		{[]string{"login", "n1", "n2"}, "login,n[1-2]", "names without a number pass through"},
		{[]string{"n1x", "n2x"}, "n1x,n2x", "Slurm allows no text after a bracket group"},
		{[]string{"1", "2", "3"}, "[1-3]", "names that are only a number"},
		{[]string{"r1n1", "r1n2", "r2n1"}, "r1n[1-2],r2n1", "only the trailing number is compressed"},
		{[]string{"n18446744073709551614", "n18446744073709551615"}, "n[18446744073709551614-18446744073709551615]", "the top of uint64 must not wrap"},
		{[]string{"n18446744073709551615", "n0"}, "n[18446744073709551615,0]", "max+1 wraps to 0 in uint64 but is no successor"},
		{[]string{"n99999999999999999999", "n1"}, "n99999999999999999999,n1", "a number beyond 64 bits cannot go into a range"},
	}
	for _, tc := range cases {
		got := Compress(tc.names)
		if got != tc.want {
			t.Errorf("Compress(%q) = %q, want %q (%s)", tc.names, got, tc.want, tc.why)
		}
		if len(tc.names) == 0 {
			continue
		}
		back, err := Expand(got)
		if err != nil || !slices.Equal(back, tc.names) {
			t.Errorf("Expand(Compress(%q)) = %q, %v (%s)", tc.names, back, err, tc.why)
		}
	}
}

// Every valid Expand table case survives Compress then Expand.
func TestCompressRoundTripsExpandCases(t *testing.T) {
	for _, tc := range expandCases {
		expr := Compress(tc.want)
		got, err := Expand(expr)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Expand(Compress(Expand(%q))) via %q = %q, %v", tc.expr, expr, got, err)
		}
	}
}

// Compress must respect the limits Expand enforces, or its output could not
// be read back.
func TestCompressRespectsExpandLimits(t *testing.T) {
	cases := []struct {
		names []string
		why   string
	}{
		{seq("n", 0, MaxRangeHosts+10), "a run longer than one range may hold"},
		{slices.Repeat([]string{"n1"}, MaxRanges+5), "more single ranges than one group may hold"},
	}
	for _, tc := range cases {
		expr := Compress(tc.names)
		got, err := Expand(expr)
		if err != nil || !slices.Equal(got, tc.names) {
			t.Errorf("%s: Expand(Compress(…)) gave %d names, %v; want %d names", tc.why, len(got), err, len(tc.names))
		}
	}
}

func seq(prefix string, from, to int) []string {
	var names []string
	for i := from; i < to; i++ {
		names = append(names, fmt.Sprintf("%s%d", prefix, i))
	}
	return names
}

// FuzzExpand: Expand never panics, what it returns is a list of proper names,
// and Compress writes them so that Expand reads back the same list.
func FuzzExpand(f *testing.F) {
	for _, tc := range expandCases {
		f.Add(tc.expr)
	}
	for _, tc := range syntaxCases {
		if len(tc.expr) < 100 {
			f.Add(tc.expr)
		}
	}
	f.Fuzz(func(t *testing.T, expr string) {
		names, err := Expand(expr)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("Expand(%q) returned %T, want *SyntaxError", expr, err)
			}
			return
		}
		if len(names) == 0 || len(names) > MaxNames {
			t.Fatalf("Expand(%q) returned %d names", expr, len(names))
		}
		for _, n := range names {
			if n == "" || strings.ContainsAny(n, "[], \t\n") {
				t.Fatalf("Expand(%q) returned the name %q", expr, n)
			}
		}
		expr2 := Compress(names)
		back, err := Expand(expr2)
		if err != nil {
			t.Fatalf("Expand(Compress(Expand(%q))) = Expand(%q): %v", expr, expr2, err)
		}
		if !slices.Equal(back, names) {
			t.Fatalf("Expand(%q) = %s, but Expand(Compress(that)) = Expand(%q) = %s", expr, short(names), expr2, short(back))
		}
	})
}
