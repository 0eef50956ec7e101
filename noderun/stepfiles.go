package noderun

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/noderun/noderun/internal/jobspec"
)

// clearStepFiles removes the step's shared log and done file left by an
// earlier run or attempt, so that a reader (TensorRT-LLM's gen_only
// benchmark) never takes them for this one's.
func clearStepFiles(st *jobspec.Step) error {
	for _, f := range []string{st.Log, st.DoneFile} {
		if f == "" {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return fmt.Errorf("create the directory of %s: %w", f, err)
		}
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove what an earlier run left: %w", err)
		}
	}
	return nil
}

// touchDoneFile says that every task of the step has ended.
func touchDoneFile(st *jobspec.Step) error {
	if st.DoneFile == "" {
		return nil
	}
	f, err := os.OpenFile(st.DoneFile, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("touch the done file: %w", err)
	}
	return f.Close()
}
