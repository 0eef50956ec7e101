package main

import (
	"runtime/debug"
	"strings"
)

// buildVersion is what --version prints: the module version and the VCS
// revision the binary was built from, as the Go toolchain recorded them.
func buildVersion(info *debug.BuildInfo, ok bool) string {
	if !ok {
		return "unknown (no build information)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	var b strings.Builder
	b.WriteString(version)
	switch {
	case rev == "":
		b.WriteString(", revision unknown (built without VCS information)")
	case modified == "true":
		b.WriteString(", revision " + rev + " with local changes")
	default:
		b.WriteString(", revision " + rev)
	}
	b.WriteString(", " + info.GoVersion)
	return b.String()
}
