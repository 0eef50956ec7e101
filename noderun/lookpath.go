package noderun

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/noderun/noderun/internal/exitcode"
)

// lookPath resolves a command name with the PATH of the child's
// environment, not the runner's: the step env may put a virtualenv first.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return checkExecutable(name)
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		if p, err := checkExecutable(filepath.Join(dir, name)); err == nil {
			return p, nil
		}
	}
	return "", exitcode.With(exitcode.NotFound, fmt.Errorf("command %q not found in the child's PATH (%s)", name, path))
}

func checkExecutable(p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", exitcode.With(exitcode.NotFound, fmt.Errorf("command %s: %w", p, err))
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", exitcode.With(exitcode.NotExecutable, fmt.Errorf("command %s is not an executable file", p))
	}
	return p, nil
}
