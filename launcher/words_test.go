package launcher

import (
	"reflect"
	"strings"
	"testing"
)

func TestLiteralWords(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string // substring; "" means success
	}{
		// The common case of every real config.
		{"plain words", "A=1 B=two", []string{"A=1", "B=two"}, ""},
		// Quotes group words; the value loses them, as in a shell.
		{"double quotes", `A="x y"`, []string{"A=x y"}, ""},
		// A real config quotes the whole word (con8's PYTHONWARNINGS).
		{"quoted whole word", `"P=ignore::DeprecationWarning:cutlass.cute.core"`, []string{"P=ignore::DeprecationWarning:cutlass.cute.core"}, ""},
		// Single quotes keep $ and backticks literal: this is how a value
		// that looks like code reaches the child as text.
		{"single quotes keep $()", `A='$(touch /tmp/pwned)' B='` + "`id`" + `'`, []string{"A=$(touch /tmp/pwned)", "B=`id`"}, ""},
		// Backslash rules differ inside and outside double quotes.
		{"escapes", `A=a\ b B="q\"r\\s\$t\x"`, []string{"A=a b", `B=q"r\s$t\x`}, ""},
		// Newlines separate words like spaces (YAML block scalars).
		{"newlines", "A=1\nB=2", []string{"A=1", "B=2"}, ""},
		// Globs and braces are not expanded in assignments; they stay.
		{"glob stays literal", "A=*.py B={a,b}", []string{"A=*.py", "B={a,b}"}, ""},
		{"empty", "  ", nil, ""},
		// Everything that a shell would run or expand is refused.
		{"command substitution in double quotes", `A="$(touch /tmp/pwned)"`, nil, "command substitution is not allowed"},
		{"backticks", "A=`id`", nil, "command substitution is not allowed"},
		{"parameter expansion", "A=$HOME", nil, "parameter expansion is not allowed"},
		{"parameter expansion in quotes", `A="${HOME}/x"`, nil, "parameter expansion is not allowed"},
		{"arithmetic", "A=$((1+2))", nil, "arithmetic expansion is not allowed"},
		{"ansi-c quotes", "A=$'\\n'", nil, "$'…' quoting is not allowed"},
		{"tilde", "A=~/x", nil, "unquoted ~"},
		{"tilde after colon", "A=/a:~/x", nil, "unquoted ~"},
		{"semicolon", "A=1;touch x", nil, "; is not a valid word"},
		{"pipe", "A=1 | sh", nil, "| is not a valid word"},
		{"redirect", "A=1 > f", nil, "> is not a valid word"},
		// The parser would drop it silently; quoting does not make it possible.
		{"NUL", "A=1 B=a\x00b", nil, `a NUL byte is not allowed in "B=a\x00b"`},
		{"NUL in quotes", "A='x\x00 y'", nil, `a NUL byte is not allowed in "A='x\x00"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := literalArgs(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("literalArgs(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("literalArgs(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("literalArgs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
