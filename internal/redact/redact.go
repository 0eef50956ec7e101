// Package redact hides secrets in values that go into logs and files people
// read: variables whose names mark them as secrets, --*token*-style command
// line options, and the credentials of URLs.
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
// the credentials of URLs in any other value (proxies, git remotes).
func Value(name, value string) string {
	if SecretName(name) {
		return Placeholder
	}
	return urlCredentials.ReplaceAllString(value, "${1}"+Placeholder+"@")
}

// Args is Value for a command line: the value of --NAME=VALUE and of
// --NAME VALUE when NAME marks a secret (--hf-token), and URL credentials
// anywhere. It returns a copy; the child gets argv as is.
func Args(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		switch name, value, hasValue := strings.Cut(a, "="); {
		case i > 0 && strings.HasPrefix(argv[i-1], "-") && !strings.Contains(argv[i-1], "=") && SecretName(argv[i-1]):
			out[i] = Placeholder
		case hasValue && strings.HasPrefix(name, "-"):
			out[i] = name + "=" + Value(name, value)
		default:
			out[i] = Value("", a)
		}
	}
	return out
}
