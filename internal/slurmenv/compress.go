package slurmenv

import (
	"math"
	"strconv"
	"strings"
)

// Compress writes names as a hostlist expression, the reverse of Expand:
// n1,n2,n3,n4,n7 becomes n[1-4,7]. It keeps the order and the duplicates of
// names, so Expand(Compress(names)) returns names again. Only neighbours in
// the list are merged, and only on their trailing number (Slurm allows no
// text after a bracket group), so n1x,n2x stay as they are.
//
// The names must be ones Expand can produce: not empty, and without commas,
// whitespace or brackets. Others are written unchanged and do not round-trip.
// An empty list gives "".
func Compress(names []string) string {
	var b strings.Builder
	for i := 0; i < len(names); {
		if i > 0 {
			b.WriteByte(',')
		}
		prefix, _, _, ok := splitNumber(names[i])
		if !ok {
			b.WriteString(names[i])
			i++
			continue
		}
		start := i
		var ranges []numRange
		for i < len(names) {
			p, v, width, ok := splitNumber(names[i])
			if !ok || p != prefix {
				break
			}
			if n := len(ranges); n > 0 && extends(ranges[n-1], v, width) {
				ranges[n-1].hi = v
			} else if n == MaxRanges {
				break // Expand would refuse a longer bracket group
			} else {
				ranges = append(ranges, numRange{lo: v, hi: v, width: width})
			}
			i++
		}
		if i-start == 1 {
			b.WriteString(names[start])
			continue
		}
		b.WriteString(prefix)
		b.WriteByte('[')
		for ri, r := range ranges {
			if ri > 0 {
				b.WriteByte(',')
			}
			b.WriteString(pad(r.lo, r.width))
			if r.hi != r.lo {
				b.WriteByte('-')
				b.WriteString(pad(r.hi, r.width))
			}
		}
		b.WriteByte(']')
	}
	return b.String()
}

// extends reports whether a name numbered v, written with width digits,
// continues r: it must be the next number, and Expand must print it the
// same way when it pads it to r's width (n9,n10 continue n[9-10], but
// n8,n09 do not: n[8-9] would print n9).
func extends(r numRange, v uint64, width int) bool {
	if r.hi == math.MaxUint64 || v != r.hi+1 || v-r.lo >= MaxRangeHosts {
		return false
	}
	s := pad(v, r.width)
	return len(s) == width
}

// splitNumber splits a name into its text and its trailing decimal number.
// ok is false for a name without a trailing number, or with one beyond 64
// bits, which Expand could not read back from a range.
func splitNumber(name string) (prefix string, v uint64, width int, ok bool) {
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	if i == len(name) {
		return "", 0, 0, false
	}
	v, err := strconv.ParseUint(name[i:], 10, 64)
	if err != nil {
		return "", 0, 0, false
	}
	return name[:i], v, len(name) - i, true
}
