package launcher

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Defaults of the test id parts: jobs that set nothing get the id the
// reference chain hard-coded.
const (
	DefaultTestModule   = "perf/test_perf_sanity.py"
	DefaultTestFunction = "test_e2e"
	DefaultTestPrefix   = "disagg_upload"
)

// TestID is the pytest node id a job runs:
// {module}::{function}[{prefix}-{config_name}] and, for an aggregated config
// with a server name, {module}::{function}[{prefix}-{config_name}-{server_name}].
// TensorRT-LLM's test code parses the bracket to find its config and server.
type TestID struct {
	Module     string
	Function   string
	Prefix     string
	ConfigName string
	ServerName string
}

// String renders the id; call Validate first.
func (t TestID) String() string {
	return t.Module + "::" + t.Function + "[" + t.Param() + "]"
}

// Param is the bracket of the id, which TensorRT-LLM's test also uses as
// the name of its output directory under --output-dir.
func (t TestID) Param() string {
	param := t.Prefix + "-" + t.ConfigName
	if t.ServerName != "" {
		param += "-" + t.ServerName
	}
	return param
}

// Parts of a test id, as errors name them.
const (
	PartModule     = "test module"
	PartFunction   = "test function"
	PartPrefix     = "test prefix"
	PartConfigName = "config name"
	PartServerName = "server name"
)

// PartError is a test id part that breaks the grammar.
type PartError struct {
	Part  string
	Value string
	// Char is the refused character or sequence ("" for an empty value or a
	// structural problem such as a missing .py).
	Char string
	Msg  string
}

// Error names the refused character, the part and the value.
func (e *PartError) Error() string {
	v := e.Value
	if strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) {
		v = strconv.Quote(v)
	}
	if e.Char != "" {
		return fmt.Sprintf("%s is not allowed in a %s: %s (%s)", e.Char, e.Part, v, e.Msg)
	}
	return fmt.Sprintf("%s %s: %s", e.Part, v, e.Msg)
}

const nameChars = "letters, digits and _ . + -"

// ValidatePart checks one part of a test id against its grammar. The
// grammar is strict because the id travels into test lists, pytest's argv,
// file names and the TensorRT-LLM tooling that parses it: no brackets,
// whitespace, quotes, $, backticks, ;, .. or absolute paths anywhere.
//   - module: a relative path of [A-Za-z0-9_.-] segments ending in .py
//   - function: a Python identifier
//   - prefix, config name, server name: [A-Za-z0-9_.+-]
func ValidatePart(part, value string) error {
	bad := func(char, msg string) error {
		return &PartError{Part: part, Value: value, Char: char, Msg: msg}
	}
	if value == "" {
		return bad("", "is empty")
	}
	if strings.Contains(value, "..") {
		return bad(`".."`, "no parent-directory references or empty name pieces")
	}
	switch part {
	case PartModule:
		if strings.HasPrefix(value, "/") {
			return bad("an absolute path", "the module is relative to the test root, e.g. "+DefaultTestModule)
		}
		if c, ok := firstOutside(value, func(r rune) bool { return isNameRune(r) && r != '+' || r == '/' }); ok {
			return bad(c, "use a relative path of letters, digits, _ . - and /")
		}
		for seg := range strings.SplitSeq(value, "/") {
			if seg == "" || seg == "." {
				return bad("", "has an empty or \".\" path segment: write it as a plain relative path, e.g. "+DefaultTestModule)
			}
		}
		if !strings.HasSuffix(value, ".py") || value == ".py" || strings.HasSuffix(value, "/.py") {
			return bad("", "must be a Python file ending in .py, e.g. "+DefaultTestModule)
		}
	case PartFunction:
		if c, ok := firstOutside(value, func(r rune) bool { return r == '_' || isASCIILetter(r) || r >= '0' && r <= '9' }); ok {
			return bad(c, "a test function is a Python identifier: letters, digits and _")
		}
		if value[0] >= '0' && value[0] <= '9' {
			return bad("", "a Python identifier cannot start with a digit")
		}
	case PartPrefix, PartConfigName, PartServerName:
		if c, ok := firstOutside(value, isNameRune); ok {
			return bad(c, "use "+nameChars)
		}
	default:
		return fmt.Errorf("validate test id: unknown part %q", part)
	}
	return nil
}

// firstOutside returns the first rune of s that ok refuses, quoted for a
// message (a space shows as " ").
func firstOutside(s string, ok func(rune) bool) (string, bool) {
	for _, r := range s {
		if !ok(r) {
			return strconv.Quote(string(r)), true
		}
	}
	return "", false
}

func isASCIILetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

func isNameRune(r rune) bool {
	return isASCIILetter(r) || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '+' || r == '-'
}
