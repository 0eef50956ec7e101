package noderun

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/noderun/noderun/internal/jobspec"
)

// clearDoneFile removes a step's done file left by an earlier run, so that
// a reader (TensorRT-LLM's gen_only benchmark) never takes it for this one.
func clearDoneFile(st *jobspec.Step) error {
	if st.DoneFile == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(st.DoneFile), 0o755); err != nil {
		return fmt.Errorf("create the directory of the done file: %w", err)
	}
	if err := os.Remove(st.DoneFile); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove a stale done file: %w", err)
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
