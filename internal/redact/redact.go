// Package redact hides secrets in values that go into logs and files people
// read: variables whose names mark them as secrets, NAME=value words and
// --*token*-style options with such a name, the credentials of URLs, and
// the known values of secret variables wherever they turn up.
package redact

import (
	"regexp"
	"strings"
)

// Placeholder replaces a hidden value.
const Placeholder = "<redacted>"

// secretMarkers make a name's value unfit for logs.
var secretMarkers = []string{"TOKEN", "SECRET", "PASSWORD", "KEY", "CREDENTIAL"}

// urlCredentials matches the user:password@ part of a URL.
var urlCredentials = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@`)

// assignment matches NAME=value in a word or a shell string (env X=v cmd,
// sh -c 'export X=v; …'): the value runs to a blank, a shell operator or a
// quote, or is a whole quoted string.
var assignment = regexp.MustCompile(`\b([A-Za-z_][A-Za-z0-9_]*)=('[^']*'|"[^"]*"|[^\s;&|'"]*)`)

// SecretName reports whether a variable or option name marks a secret.
func SecretName(name string) bool {
	upper := strings.ToUpper(name)
	for _, m := range secretMarkers {
		if strings.Contains(upper, m) {
			return true
		}
	}
	return false
}

// Value hides the value of a variable whose name marks it as a secret, and
// in any other value the secret NAME=value assignments it holds (a setup
// command in NODERUN_SETUP) and the credentials of URLs (proxies, git
// remotes).
func Value(name, value string) string {
	if SecretName(name) {
		return Placeholder
	}
	return Text(value)
}

// Text hides, in free text, the values of NAME=value assignments whose NAME
// marks a secret and the credentials of URLs.
func Text(s string) string {
	if strings.IndexByte(s, '=') >= 0 {
		s = assignment.ReplaceAllStringFunc(s, func(m string) string {
			name, _, _ := strings.Cut(m, "=")
			if !SecretName(name) {
				return m
			}
			return name + "=" + Placeholder
		})
	}
	return urlCredentials.ReplaceAllString(s, "${1}"+Placeholder+"@")
}

// Args is Value for a command line: the value of --NAME=VALUE and of
// --NAME VALUE when NAME marks a secret (--hf-token), NAME=value words
// with such a NAME (env HF_TOKEN=… cmd), and URL credentials anywhere. It
// returns a copy; the child gets argv as is.
func Args(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		switch name, value, hasValue := strings.Cut(a, "="); {
		case i > 0 && strings.HasPrefix(argv[i-1], "-") && !strings.Contains(argv[i-1], "=") && SecretName(argv[i-1]):
			out[i] = Placeholder
		case hasValue && strings.HasPrefix(name, "-"):
			out[i] = name + "=" + Value(name, value)
		default:
			out[i] = Text(a)
		}
	}
	return out
}
