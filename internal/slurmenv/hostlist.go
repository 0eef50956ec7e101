package slurmenv

import (
	"fmt"
	"strconv"
	"strings"
)

// Limits of Expand. The two per-bracket limits are Slurm's own (MAX_RANGE and
// MAX_RANGES in src/common/hostlist.c), so an expression scontrol refuses for
// size is refused here too. MaxNames has no Slurm counterpart: scontrol
// happily prints millions of names, but no allocation is that large and a
// typo such as n[1-1000]g[1-1000] should not eat the memory of a login node.
const (
	// MaxNames is the most names one expression may expand to.
	MaxNames = 1 << 20
	// MaxRangeHosts is the most names one range (lo-hi) may hold.
	MaxRangeHosts = 64 * 1024
	// MaxRanges is the most comma-separated ranges one bracket group may hold.
	MaxRanges = 64 * 1024
)

// SyntaxError reports a hostlist expression that Expand cannot expand.
type SyntaxError struct {
	// Expr is the whole expression as given.
	Expr string
	// Pos is the 1-based column (byte offset + 1) of the offending character.
	Pos int
	// Msg says what is wrong there and what to write instead.
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("hostlist %s, column %d: %s", excerpt(e.Expr, e.Pos), e.Pos, e.Msg)
}

// excerpt quotes expr, or for a long one (a 1000-node SLURM_JOB_NODELIST) the
// part around pos, so that error messages stay readable.
func excerpt(expr string, pos int) string {
	const window = 40
	if len(expr) <= 2*window {
		return strconv.Quote(expr)
	}
	lo, hi := max(pos-1-window, 0), min(pos-1+window, len(expr))
	s := strconv.Quote(expr[lo:hi])
	if lo > 0 {
		s = "…" + s
	}
	if hi < len(expr) {
		s += "…"
	}
	return s
}

// numRange is one lo-hi range of a bracket group. Every number in it is
// printed zero-padded to width, the length of lo as written: that is how
// Slurm pads (n[1-010] gives n1…n10, n[09-11] gives n09 n10 n11).
type numRange struct {
	lo, hi uint64
	width  int
}

// group is the content of one pair of brackets.
type group struct {
	ranges []numRange
	count  uint64
}

// pattern is one top-level name of an expression: literal text around
// bracket groups. lits has one entry more than groups; the last one is
// always empty when there are groups (Slurm allows no text after the final
// bracket).
type pattern struct {
	lits   []string
	groups []group
	count  uint64
}

// Expand expands a Slurm hostlist expression ("n[01-04,7],gpu[1-2]x[1-2]")
// into host names, in exactly the order and form `scontrol show hostnames`
// prints them: duplicates are kept, numbers are zero-padded to the width of
// each range's lower bound, and a name with several bracket groups expands
// in Slurm's order (row-major for two groups; for three or more Slurm's own
// order, e.g. a[1-2]b[1-2]c[1-2] begins a1b1c1 a1b1c2 a2b1c1). Names are
// separated by commas or whitespace outside brackets; empty names between
// separators are skipped, as Slurm does. More than MaxNames names in all is
// an error.
//
// Expand is stricter than Slurm where Slurm accepts an expression by
// accident and then prints mangled names: stray or nested brackets, an
// unclosed '[', whitespace, signs or letters inside brackets, a range with a
// missing bound (n[1-]), numbers beyond 64 bits, and an expression without
// any name. Those are a *SyntaxError here. So is a suffix after the last
// bracket group (n[1-2]x), which scontrol rejects as well.
func Expand(expr string) ([]string, error) {
	if err := checkBrackets(expr); err != nil {
		return nil, err
	}
	var pats []pattern
	var total uint64
	for i := 0; i < len(expr); {
		if isSep(expr[i]) {
			i++
			continue
		}
		start := i
		p, next, err := parseName(expr, i)
		if err != nil {
			return nil, err
		}
		total += p.count
		if p.count > MaxNames || total > MaxNames {
			return nil, &SyntaxError{Expr: expr, Pos: start + 1, Msg: fmt.Sprintf(
				"the expression expands to more than %d names; check the ranges for a typo, or split the list", MaxNames)}
		}
		pats = append(pats, p)
		i = next
	}
	if len(pats) == 0 {
		return nil, &SyntaxError{Expr: expr, Pos: 1, Msg: "the hostlist names no host; give at least one name, e.g. n[1-4]"}
	}
	names := make([]string, 0, total)
	for _, p := range pats {
		names = expandPattern(names, p)
	}
	return names, nil
}

// isSep reports a separator between names: Slurm splits hostlists on commas
// and whitespace (its separator set is "\t\n ,").
func isSep(c byte) bool { return c == ',' || c == ' ' || c == '\t' || c == '\n' }

// checkBrackets validates the bracket structure first, so that a missing
// ']' is reported as such rather than as whatever character follows.
func checkBrackets(expr string) error {
	open := -1
	for i := 0; i < len(expr); i++ {
		switch c := expr[i]; {
		case c == '[' && open >= 0:
			return &SyntaxError{Expr: expr, Pos: i + 1, Msg: fmt.Sprintf(
				"'[' inside brackets: the '[' at column %d is not closed yet; close it with ']' first", open+1)}
		case c == '[':
			open = i
		case c == ']' && open < 0:
			return &SyntaxError{Expr: expr, Pos: i + 1, Msg: "']' without a matching '['; remove it or add the '[' that opens the range list"}
		case c == ']':
			open = -1
		case open >= 0 && c != ',' && isSep(c):
			return &SyntaxError{Expr: expr, Pos: i + 1, Msg: fmt.Sprintf(
				"whitespace inside the brackets opened at column %d; a range list holds only digits, '-' and ',' and ends with ']'", open+1)}
		}
	}
	if open >= 0 {
		return &SyntaxError{Expr: expr, Pos: open + 1, Msg: "'[' is never closed; end the range list with ']', e.g. n[1-4]"}
	}
	return nil
}

// parseName parses the name starting at expr[i] up to the next separator
// outside brackets. checkBrackets has already run.
func parseName(expr string, i int) (pattern, int, error) {
	var p pattern
	litStart := i
	for i < len(expr) && !isSep(expr[i]) {
		if expr[i] != '[' {
			i++
			continue
		}
		p.lits = append(p.lits, expr[litStart:i])
		g, next, err := parseGroup(expr, i)
		if err != nil {
			return pattern{}, 0, err
		}
		p.groups = append(p.groups, g)
		i, litStart = next, next
	}
	p.lits = append(p.lits, expr[litStart:i])
	if len(p.groups) > 0 && p.lits[len(p.lits)-1] != "" {
		suffix := p.lits[len(p.lits)-1]
		return pattern{}, 0, &SyntaxError{Expr: expr, Pos: litStart + 1, Msg: fmt.Sprintf(
			"text %q after the last ']': Slurm allows text between bracket groups but not after the final one; "+
				"write such names out (e.g. n1%s,n2%s) or end the name with the bracket group", suffix, suffix, suffix)}
	}
	p.count = 1
	for _, g := range p.groups {
		p.count = mulCapped(p.count, g.count)
	}
	return p, i, nil
}

// mulCapped multiplies name counts, stopping just above MaxNames so that
// n[1-65536]m[1-65536]… cannot overflow.
func mulCapped(a, b uint64) uint64 {
	if a > MaxNames || b > MaxNames || a*b > MaxNames {
		return MaxNames + 1
	}
	return a * b
}

// parseGroup parses the range list of the '[' at expr[open]; it returns the
// index after the matching ']'.
func parseGroup(expr string, open int) (group, int, error) {
	var g group
	i := open + 1
	for {
		start := i
		lo, width, next, err := parseNumber(expr, i, "a number")
		if err != nil {
			return group{}, 0, err
		}
		i = next
		hi := lo
		if expr[i] == '-' {
			i++
			if hi, _, i, err = parseNumber(expr, i, "the upper bound after '-'"); err != nil {
				return group{}, 0, err
			}
			if hi < lo {
				return group{}, 0, &SyntaxError{Expr: expr, Pos: start + 1, Msg: fmt.Sprintf(
					"range %s is reversed; write the lower bound first: [%s-%s]", expr[start:i], expr[next+1:i], expr[start:next])}
			}
		}
		if hi-lo >= MaxRangeHosts {
			return group{}, 0, &SyntaxError{Expr: expr, Pos: start + 1, Msg: fmt.Sprintf(
				"range %s holds more than %d names (Slurm's limit); check it for a typo", expr[start:i], MaxRangeHosts)}
		}
		g.ranges = append(g.ranges, numRange{lo: lo, hi: hi, width: width})
		if len(g.ranges) > MaxRanges {
			return group{}, 0, &SyntaxError{Expr: expr, Pos: start + 1, Msg: fmt.Sprintf(
				"the brackets opened at column %d hold more than %d ranges (Slurm's limit)", open+1, MaxRanges)}
		}
		g.count = min(g.count+hi-lo+1, MaxNames+1)
		switch expr[i] {
		case ',':
			i++
		case ']':
			return g, i + 1, nil
		default:
			return group{}, 0, &SyntaxError{Expr: expr, Pos: i + 1, Msg: fmt.Sprintf(
				"unexpected %q in a range list; write numbers and ranges separated by ',', e.g. [1-3,7]", expr[i])}
		}
	}
}

// parseNumber reads the decimal number at expr[i] inside brackets. It returns the value, the number of digits as written (the pad
// width), and the index after it.
func parseNumber(expr string, i int, what string) (uint64, int, int, error) {
	start := i
	for i < len(expr) && expr[i] >= '0' && expr[i] <= '9' {
		i++
	}
	if i == start {
		var msg string
		switch c := expr[i]; c { // checkBrackets guarantees a ']' follows
		case ']', ',':
			if what == "a number" {
				msg = "empty range; every range between '[', ',' and ']' needs a number, e.g. [1-3,7]"
			} else {
				msg = fmt.Sprintf("missing %s; write both bounds, e.g. [1-4]", what)
			}
		case '-':
			msg = fmt.Sprintf("expected %s, found '-'; ranges hold non-negative numbers, e.g. [0-3]", what)
		default:
			msg = fmt.Sprintf("expected %s, found %q; a range list holds only digits, '-' and ','", what, c)
		}
		return 0, 0, 0, &SyntaxError{Expr: expr, Pos: i + 1, Msg: msg}
	}
	v, err := strconv.ParseUint(expr[start:i], 10, 64)
	if err != nil {
		return 0, 0, 0, &SyntaxError{Expr: expr, Pos: start + 1, Msg: fmt.Sprintf(
			"number %s does not fit in 64 bits; check it for a typo", expr[start:i])}
	}
	return v, i - start, i, nil
}

// expandPattern appends the names of p to names.
//
// Order: with groups g1…gk, Slurm's recursion (_push_range_list) peels the
// last group off as the innermost loop and then walks the remaining groups
// from right to left, so the loop nest from outermost to innermost is
// g(k-1), g(k-2), …, g1, gk. For the common two groups (r[1-2]n[1-2]) that
// is plain row-major order; for three it is not (a[1-2]b[1-2]c[1-2] starts
// a1b1c1 a1b1c2 a2b1c1), and scontrol prints exactly that.
func expandPattern(names []string, p pattern) []string {
	k := len(p.groups)
	if k == 0 {
		return append(names, p.lits[0])
	}
	values := make([][]string, k)
	for gi, g := range p.groups {
		vs := make([]string, 0, g.count)
		for _, r := range g.ranges {
			for v := r.lo; ; v++ {
				vs = append(vs, pad(v, r.width))
				if v == r.hi {
					break
				}
			}
		}
		values[gi] = vs
	}
	// order lists the groups from the outermost loop to the innermost.
	order := make([]int, 0, k)
	for gi := k - 2; gi >= 0; gi-- {
		order = append(order, gi)
	}
	order = append(order, k-1)

	idx := make([]int, k) // idx[gi]: current value of group gi
	var b strings.Builder
	for {
		b.Reset()
		for gi := range k {
			b.WriteString(p.lits[gi])
			b.WriteString(values[gi][idx[gi]])
		}
		names = append(names, b.String())
		// Advance the odometer, innermost loop first.
		j := k - 1
		for ; j >= 0; j-- {
			gi := order[j]
			idx[gi]++
			if idx[gi] < len(values[gi]) {
				break
			}
			idx[gi] = 0
		}
		if j < 0 {
			return names
		}
	}
}

// pad formats v in decimal, zero-padded to width digits (C's "%0*lu").
func pad(v uint64, width int) string {
	s := strconv.FormatUint(v, 10)
	if len(s) >= width {
		return s
	}
	return strings.Repeat("0", width-len(s)) + s
}
