package launcher

import (
	"errors"
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// A word of a shell-like string whose value is literal: what a shell would
// produce for it without running or expanding anything.
type literalWord struct {
	// Value is the word after quote removal.
	Value string
	// Source is the word as written, for error messages.
	Source string
	// Line is the 1-based line of the word inside the parsed string.
	Line int
}

// wordError says which word of a string is refused and why.
type wordError struct {
	Source string
	Line   int
	Reason string
	// Hint says what to write instead.
	Hint string
}

func (e *wordError) Error() string {
	msg := e.Reason
	if e.Source != "" {
		msg = fmt.Sprintf("%s in %q", e.Reason, e.Source)
	}
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

// literalWords splits s into shell words with a real shell parser (bash
// grammar) and returns their literal values. Plain, '…' and "…" text is
// accepted, with the usual backslash rules; anything a shell would expand or
// run is refused: $VAR, ${…}, $(…), `…`, $((…)), <(…), $'…', an unquoted ~
// that would expand, and operators such as ; | & < >. The reference chain ran
// these strings through `export` and `eval`; here they become data, so a value
// that only makes sense after expansion is an error rather than a surprise.
func literalWords(s string) ([]literalWord, error) {
	// The parser drops NUL bytes without a word: "A=a\x00b" would become A=ab.
	if i := strings.IndexByte(s, 0); i >= 0 {
		return nil, nulError(s, i)
	}
	p := syntax.NewParser(syntax.Variant(syntax.LangBash))
	var words []literalWord
	for w, err := range p.WordsSeq(strings.NewReader(s)) {
		if err != nil {
			var pe syntax.ParseError
			if errors.As(err, &pe) {
				rest := s[min(int(pe.Pos.Offset()), len(s)):]
				if i := strings.IndexByte(rest, '\n'); i >= 0 {
					rest = rest[:i]
				}
				return nil, &wordError{Source: rest, Line: int(pe.Pos.Line()), Reason: strings.ReplaceAll(pe.Text, "`", "")}
			}
			return nil, fmt.Errorf("parse shell words: %w", err)
		}
		src := s[w.Pos().Offset():w.End().Offset()]
		val, reason, hint := wordValue(w)
		if reason != "" {
			return nil, &wordError{Source: src, Line: int(w.Pos().Line()), Reason: reason, Hint: hint}
		}
		words = append(words, literalWord{Value: val, Source: src, Line: int(w.Pos().Line())})
	}
	return words, nil
}

// nulError refuses the NUL byte at s[i], naming the word around it: no
// argument or environment variable can carry one through execve.
func nulError(s string, i int) *wordError {
	start := strings.LastIndexAny(s[:i], " \t\n") + 1
	end := len(s)
	if j := strings.IndexAny(s[i:], " \t\n"); j >= 0 {
		end = i + j
	}
	return &wordError{Source: s[start:end], Line: 1 + strings.Count(s[:i], "\n"), Reason: "a NUL byte is not allowed",
		Hint: "no process can receive one in its arguments or environment"}
}

// literalArgs is literalWords for an argument list: the words' values only.
func literalArgs(s string) ([]string, error) {
	words, err := literalWords(s)
	if err != nil {
		return nil, err
	}
	var args []string
	for _, w := range words {
		args = append(args, w.Value)
	}
	return args, nil
}

// literalHint is the advice for a refused expansion.
const literalHint = "values are literal; use '…' to pass $ or ` as text"

// wordValue returns the literal value of w, or why it has none and what to do.
func wordValue(w *syntax.Word) (value, reason, hint string) {
	var b strings.Builder
	for i, part := range w.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			if tildeExpands(p.Value, i == 0) {
				return "", "an unquoted ~ would be expanded by a shell but is not here", "quote it ('~') or write the full path"
			}
			b.WriteString(unescapeUnquoted(p.Value))
		case *syntax.SglQuoted:
			if p.Dollar {
				return "", "$'…' quoting is not allowed", "write the characters inside plain '…'"
			}
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			if p.Dollar {
				return "", "$\"…\" quoting is not allowed", "use plain \"…\""
			}
			for _, q := range p.Parts {
				lit, ok := q.(*syntax.Lit)
				if !ok {
					return "", expansionName(q) + " is not allowed", literalHint
				}
				b.WriteString(unescapeDoubleQuoted(lit.Value))
			}
		default:
			return "", expansionName(part) + " is not allowed", literalHint
		}
	}
	return b.String(), "", ""
}

func expansionName(p syntax.WordPart) string {
	switch p := p.(type) {
	case *syntax.CmdSubst:
		return "command substitution"
	case *syntax.ParamExp:
		return "parameter expansion"
	case *syntax.ArithmExp:
		return "arithmetic expansion"
	case *syntax.ProcSubst:
		return "process substitution"
	case *syntax.ExtGlob:
		return "an extended glob"
	default:
		return fmt.Sprintf("%T", p)
	}
}

// tildeExpands reports whether bash would expand a ~ in this unquoted text:
// at the start of a word, or after = or : in an assignment value.
func tildeExpands(lit string, wordStart bool) bool {
	for i := 0; i < len(lit); i++ {
		if lit[i] == '\\' {
			i++
			continue
		}
		if lit[i] != '~' {
			continue
		}
		if (i == 0 && wordStart) || (i > 0 && (lit[i-1] == '=' || lit[i-1] == ':')) {
			return true
		}
	}
	return false
}

// unescapeUnquoted applies the shell's rule outside quotes: a backslash
// quotes the next character, and backslash-newline disappears.
func unescapeUnquoted(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unescapeDoubleQuoted applies the rule inside "…": a backslash quotes only
// $ ` " \ and newline; before anything else it stays.
func unescapeDoubleQuoted(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '$', '`', '"', '\\':
				i++
			case '\n':
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
