package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/noderun/noderun/internal/golden"
	"github.com/noderun/noderun/internal/testbin"
)

// README's "Running TensorRT-LLM's perf test" shows what each role
// receives as `submit --dry-run` prints it for the example; this keeps the
// two the same (go test ./cmd/noderun -update rewrites the section).
func TestReadmeRoles(t *testing.T) {
	bin := testbin.Path(t)
	root := testbin.RepoRoot(t)
	trtllm := filepath.Join(root, "examples", "trtllm")
	ws := filepath.Join(t.TempDir(), "ws")
	cmd := exec.Command(bin, "--log-level", "warn", "submit", "--dry-run", "--workspace", ws)
	cmd.Env = append(os.Environ(), "TRTLLM_DIR="+trtllm, "stageName=GB200-4_GPUs-PyTorch-PerfSanity-1",
		"CONFIG_NAME=disagg-tiny", "PERF_TEST_PREFIX=disagg_upload-e2e")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("submit --dry-run: %v\n%s", err, out)
	}
	text := strings.NewReplacer(trtllm, "$TRTLLM_DIR", ws, "$WS").Replace(string(out))
	text, _, _ = strings.Cut(text, "\n--- ") // the stub is shown elsewhere
	section := "```text\n" + strings.TrimLeft(text, "\n") + "\n```\n"
	golden.CheckSection(t, filepath.Join(root, "README.md"), readmeBegin, readmeEnd, []byte(section))
}

// The markers around the generated section of README.md.
const (
	readmeBegin = "<!-- begin: submit --dry-run of the example, rewritten by go test ./cmd/noderun -update -->"
	readmeEnd   = "<!-- end: submit --dry-run -->"
)
