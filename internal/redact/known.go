package redact

import (
	"bytes"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"sync"
)

// minKnownLen is the shortest value Known hides wherever it appears: a
// secret variable set to "1" or "yes" would otherwise blank out every such
// text of a log.
const minKnownLen = 4

// Known is a set of secret values, hidden wherever they appear in text
// that does not name them: an error message, a log line, a log tail. It is
// safe for concurrent use; the zero value is an empty set.
type Known struct {
	mu     sync.RWMutex
	values map[string]bool
	r      *strings.Replacer
}

// FromEnviron returns the values of the secret-like variables of env
// (NAME=value entries, as os.Environ gives them).
func FromEnviron(env []string) *Known {
	k := &Known{}
	k.AddEnviron(env)
	return k
}

// AddEnviron adds the values of env's secret-like variables.
func (k *Known) AddEnviron(env []string) {
	for _, e := range env {
		if name, value, ok := strings.Cut(e, "="); ok && SecretName(name) {
			k.Add(value)
		}
	}
}

// AddArgs adds the secrets a command line shows to Args: the values of
// secret --NAME=VALUE and --NAME VALUE options and of secret NAME=value words.
func (k *Known) AddArgs(argv []string) {
	for i, a := range argv {
		name, value, hasValue := strings.Cut(a, "=")
		switch {
		case i > 0 && strings.HasPrefix(argv[i-1], "-") && !strings.Contains(argv[i-1], "=") && SecretName(argv[i-1]):
			k.Add(a)
		case hasValue && strings.HasPrefix(name, "-") && SecretName(name):
			k.Add(value)
		default:
			for _, m := range assignment.FindAllStringSubmatch(a, -1) {
				if SecretName(m[1]) {
					k.Add(strings.Trim(m[2], `'"`))
				}
			}
		}
	}
}

// Add adds values. A value is also hidden as JSON writes it (a quote or a
// backslash in it escaped), so that JSON log lines lose it too.
func (k *Known) Add(values ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, v := range values {
		if len(v) < minKnownLen || k.values[v] {
			continue
		}
		if k.values == nil {
			k.values = map[string]bool{}
		}
		k.values[v] = true
		if j := jsonText(v); j != v {
			k.values[j] = true
		}
		k.r = nil
	}
}

func jsonText(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(b.String(), `"`), "\n"), `"`)
}

// replacer is built once per change of the set. Longer values come first,
// so that a secret that starts another is not replaced inside it first.
func (k *Known) replacer() *strings.Replacer {
	if k == nil {
		return nil
	}
	k.mu.RLock()
	r := k.r
	k.mu.RUnlock()
	if r != nil {
		return r
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.r == nil && len(k.values) > 0 {
		vs := make([]string, 0, len(k.values))
		for v := range k.values {
			vs = append(vs, v)
		}
		sort.Slice(vs, func(i, j int) bool {
			if len(vs[i]) != len(vs[j]) {
				return len(vs[i]) > len(vs[j])
			}
			return vs[i] < vs[j]
		})
		pairs := make([]string, 0, 2*len(vs))
		for _, v := range vs {
			pairs = append(pairs, v, Placeholder)
		}
		k.r = strings.NewReplacer(pairs...)
	}
	return k.r
}

// String replaces the known values in s with Placeholder. A nil Known
// hides nothing.
func (k *Known) String(s string) string {
	if r := k.replacer(); r != nil {
		return r.Replace(s)
	}
	return s
}

// Writer returns a writer that hides the known values in what it writes
// to w, including values added later. Each Write is replaced on its own:
// it suits writers that write whole lines or records at once, as zerolog
// does for each event.
func (k *Known) Writer(w io.Writer) io.Writer {
	return &knownWriter{k: k, w: w}
}

type knownWriter struct {
	k *Known
	w io.Writer
}

func (kw *knownWriter) Write(p []byte) (int, error) {
	r := kw.k.replacer()
	if r == nil {
		return kw.w.Write(p)
	}
	if _, err := io.WriteString(kw.w, r.Replace(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
