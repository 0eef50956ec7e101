package gpu

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Visible is the parsed value of a visible-devices variable such as
// CUDA_VISIBLE_DEVICES. No Tokens and not All means no GPU.
type Visible struct {
	Name   string // the variable
	Value  string
	All    bool
	Tokens []Token
}

// Token is one entry of a visible-devices list: an Index (else -1), a MIG
// UUID, or a GPU UUID, with GI and CI (else -1) in the older form
// "MIG-GPU-<uuid>/<gi>/<ci>".
type Token struct {
	Text   string // as written, trimmed
	Index  int
	GPU    string
	GI, CI int
	MIG    string
}

const uuidRE = `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`

// devicePatterns are compiled on first use: at package init they cost
// every `noderun run` 1.8 ms, and most runners never parse a device list.
var devicePatterns = sync.OnceValue(func() (p struct{ gpuUUID, migUUID, migLegacy, index *regexp.Regexp }) {
	p.gpuUUID = regexp.MustCompile(`^GPU-` + uuidRE + `$`)
	p.migUUID = regexp.MustCompile(`^MIG-` + uuidRE + `$`)
	p.migLegacy = regexp.MustCompile(`^MIG-(GPU-` + uuidRE + `)/([0-9]{1,4})/([0-9]{1,4})$`)
	p.index = regexp.MustCompile(`^[0-9]{1,4}$`)
	return p
})

// acceptedForms ends every parse error, so the user sees what to write.
const acceptedForms = `accepted: "all", "none", "void", "" (no GPU), or a comma-separated list of ` +
	`device indices (0,1), GPU-<uuid>, MIG-<uuid> or MIG-GPU-<uuid>/<gi>/<ci>`

// ParseVisible parses the value of variable name; a bad or repeated entry
// is an error wrapping ErrInvalidDevices. UUIDs must be complete: CUDA's
// unique-prefix shorthand cannot be checked against other nodes.
func ParseVisible(name, value string) (Visible, error) {
	v := Visible{Name: name, Value: value}
	switch strings.TrimSpace(value) {
	case "all":
		v.All = true
		return v, nil
	case "none", "void", "":
		return v, nil
	}
	seen := map[string]bool{}
	for _, raw := range strings.Split(value, ",") {
		text := strings.TrimSpace(raw)
		t, err := parseToken(text)
		if err != nil {
			return Visible{}, fmt.Errorf("%w: %s=%q: entry %q %v; %s", ErrInvalidDevices, name, value, text, err, acceptedForms)
		}
		key := strings.ToLower(text)
		if seen[key] {
			return Visible{}, fmt.Errorf("%w: %s=%q: entry %q is listed twice; list each device once", ErrInvalidDevices, name, value, text)
		}
		seen[key] = true
		v.Tokens = append(v.Tokens, t)
	}
	return v, nil
}

func parseToken(text string) (Token, error) {
	t := Token{Text: text, Index: -1, GI: -1, CI: -1}
	re := devicePatterns()
	switch {
	case text == "":
		return t, fmt.Errorf("is empty (two commas in a row, or a trailing comma?)")
	case text == "all" || text == "none" || text == "void":
		return t, fmt.Errorf("is a keyword and must stand alone")
	case re.index.MatchString(text):
		t.Index, _ = strconv.Atoi(text)
	case re.gpuUUID.MatchString(text):
		t.GPU = text
	case re.migUUID.MatchString(text):
		t.MIG = text
	case re.migLegacy.MatchString(text):
		m := re.migLegacy.FindStringSubmatch(text)
		t.GPU = m[1]
		t.GI, _ = strconv.Atoi(m[2])
		t.CI, _ = strconv.Atoi(m[3])
	case strings.HasPrefix(text, "GPU-") || strings.HasPrefix(text, "MIG-"):
		return t, fmt.Errorf("is not a complete UUID (expected 8-4-4-4-12 hex digits after the prefix)")
	default:
		return t, fmt.Errorf("is not a device index or UUID")
	}
	return t, nil
}

func (v Visible) isIndexList() bool {
	for _, t := range v.Tokens {
		if t.Index < 0 {
			return false
		}
	}
	return len(v.Tokens) > 0
}

func texts(ts []Token) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Text
	}
	return out
}
