package junitmerge

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFirstError(t *testing.T) {
	tests := []struct {
		name, log, want string
	}{
		{
			// Why: pytest's "E " lines hold the assertion; the first is the one.
			name: "first pytest E line",
			log:  "collected 1 item\n\n    def test_x():\n>       assert f() == 2\nE       assert 1 == 2\nE        +  where 1 = f()\n\nRuntimeError: later\n",
			want: "assert 1 == 2",
		},
		{
			// Why: a crash outside pytest's reporting ends with a traceback.
			name: "exception line when there is no E line",
			log:  "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\ntorch.cuda.OutOfMemoryError: CUDA out of memory\nshutting down\n",
			want: "torch.cuda.OutOfMemoryError: CUDA out of memory",
		},
		{
			// Why: a segfault prints CPython's fatal error, often in colour.
			name: "fatal Python error in colour",
			log:  "loading\n\x1b[31mFatal Python error: Segmentation fault\x1b[0m\n\nThread 0x7f:\n  File \"model.py\", line 12 in forward\n",
			want: "Fatal Python error: Segmentation fault",
		},
		{
			// Why: the runner's own closing line says nothing of the error.
			name: "last non-empty line, not the runner's",
			log:  "server listening on :8000\nconnection refused by ctx-0\n\nnoderun: child ended: state=exited exit=3\n",
			want: "connection refused by ctx-0",
		},
		{
			// Why: a child killed mid-line leaves the runner's line on its own.
			name: "the runner's line on the child's last line",
			log:  "collected 1 item\n\nperf/test_perf.py::test_e2e[x] noderun: child ended: state=exited exit=3 signal= after 1.8s\n",
			want: "perf/test_perf.py::test_e2e[x]",
		},
		{name: "empty log", log: "", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rank0.log")
			if err := os.WriteFile(path, []byte(tc.log), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := FirstError(path); got != tc.want {
				t.Errorf("FirstError = %q, want %q", got, tc.want)
			}
		})
	}
	if got := FirstError(filepath.Join(t.TempDir(), "missing.log")); got != "" {
		t.Errorf("missing log: %q", got)
	}
}
