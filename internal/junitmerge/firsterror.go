package junitmerge

import (
	"bufio"
	"io"
	"os"
	"regexp"
	"strings"
)

// firstErrorBytes bounds the scan of a log for its first error line.
const firstErrorBytes = 16 << 20

// exceptionLine matches the last line of a Python traceback:
// "RuntimeError: boom", "torch.OutOfMemoryError: ...", "KeyboardInterrupt".
// CPython's "Fatal Python error: Segmentation fault" counts too.
var exceptionLine = regexp.MustCompile(`^(([A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*(Error|Exception|Interrupt|Exit)(: .*)?|Fatal Python error: .*)$`)

// ansiEscape matches the colour codes pytest and loggers write on a terminal.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// FirstError is the line of a log that best says what went wrong: the first
// pytest "E " line, else the first exception line, else the last non-empty
// line. The runner's own "noderun: " lines are skipped. "" when the log
// cannot be read or holds nothing.
func FirstError(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, firstErrorBytes))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var exception string
	for sc.Scan() {
		line := runnerFree(sc.Text())
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "noderun: ") {
			continue
		}
		if strings.HasPrefix(line, "E ") {
			return firstLine(strings.TrimSpace(strings.TrimPrefix(line, "E ")), 300)
		}
		if exception == "" && exceptionLine.MatchString(line) {
			exception = line
		}
	}
	if exception != "" {
		return firstLine(exception, 300)
	}
	// The tail, not the last line scanned: the log may be longer than the scan.
	tail, _ := logTail(path, 20)
	lines := strings.Split(tail, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(runnerFree(lines[i])); l != "" && !strings.HasPrefix(l, "noderun: ") {
			return firstLine(l, 300)
		}
	}
	return ""
}

// runnerFree is a log line without colour codes and without the runner's
// closing "noderun: child ended: …", which lands on the child's last line
// when the child's output did not end with a newline.
func runnerFree(line string) string {
	line = ansiEscape.ReplaceAllString(line, "")
	if k := strings.Index(line, " noderun: child ended:"); k >= 0 {
		line = line[:k]
	}
	return strings.TrimRight(line, " \t\r")
}
