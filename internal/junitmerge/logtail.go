package junitmerge

import (
	"bytes"
	"io"
	"os"
)

// logTailBytes bounds how much of a log is read for its tail: a task log can
// be gigabytes, its last lines are what explains a crash.
const logTailBytes = 64 << 10

// logTail returns the last n lines of the file at path (fewer when the last
// 64 KiB hold fewer), without a trailing newline. n <= 0 returns nothing.
func logTail(path string, n int) (string, error) {
	if n <= 0 {
		return "", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", err
	}
	off := max(size-logTailBytes, 0)
	buf := make([]byte, size-off)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return "", err
	}
	buf = bytes.TrimRight(buf, "\n")
	if off > 0 {
		// The first line is probably cut; drop it unless it is all we have.
		if k := bytes.IndexByte(buf, '\n'); k >= 0 {
			buf = buf[k+1:]
		}
	}
	start := len(buf)
	for i := 0; i < n; i++ {
		k := bytes.LastIndexByte(buf[:start], '\n')
		if k < 0 {
			start = 0
			break
		}
		start = k
		if i == n-1 {
			start = k + 1
		}
	}
	return string(buf[start:]), nil
}
