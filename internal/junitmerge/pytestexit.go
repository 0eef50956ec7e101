package junitmerge

import (
	"fmt"
	"strings"
)

// pytestSays are what pytest prints when it ends with its own statuses 2–5:
// a task that merely exited 3 (a crash, a launcher) is not pytest's
// internal error.
var pytestSays = map[int][]string{
	2: {"Interrupted:", "KeyboardInterrupt"},
	3: {"INTERNALERROR>"},
	4: {"ERROR: usage:", "error: unrecognized arguments", "ERROR: file or directory not found", "ERROR: not found:"},
	5: {"no tests ran", "collected 0 items"},
}

// pytestTailLines is how much of a log's end pytestStatus reads.
const pytestTailLines = 200

// pytestStatus says what pytest's own exit statuses 2–5 mean for a task
// that ran pytest and ended with one, by its own words in the log, so that a
// status 4 or 5 reads as a wrong command line or test id rather than as a
// crash; "" for any other task or status.
func (b *wsBuild) pytestStatus(t *task) string {
	rec := t.rec
	if rec == nil || rec.Junit == "" || rec.ExitCode < 2 || rec.ExitCode > 5 {
		return ""
	}
	tail, _ := logTail(b.logPath(t), pytestTailLines)
	said := false
	for _, s := range pytestSays[rec.ExitCode] {
		said = said || strings.Contains(tail, s)
	}
	if !said {
		return ""
	}
	testID, root := "the test id", "the test root"
	if b.spec != nil {
		if b.spec.Job.TestID != "" {
			testID = b.spec.Job.TestID
		}
		if st, ok := b.spec.Step(t.role); ok && st.Command.Dir != "" {
			root = st.Command.Dir
		}
	}
	switch rec.ExitCode {
	case 2:
		return "pytest was interrupted (status 2): by a stop signal, or by errors while collecting tests; see the log"
	case 3:
		return "pytest hit an internal error (status 3), in pytest itself or a plugin or conftest.py; see the traceback in the log"
	case 4:
		return "pytest rejected its command line (status 4, usage error): an unknown option (--pytest-arg), a missing plugin, or a test path that does not exist in " + root + "; see the first lines of the log"
	}
	return fmt.Sprintf("pytest collected no tests (status 5): nothing matches %s in %s; the id is built from "+
		"--test-prefix, --config-name, --server-name (aggregated configs), --test-module and --test-function "+
		"(see noderun submit --help), and --test-root says where pytest looks", testID, root)
}
