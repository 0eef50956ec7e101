// Command noderun runs GPU pytest jobs under Slurm. See README.md.
package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/noderun/noderun/internal/exitcode"
)

func main() {
	app := NewApp(Options{
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		NVML:    func() nvml.Interface { return nvml.New() },
		Version: buildVersion(debug.ReadBuildInfo()),
	})
	err := app.Run(os.Args)
	if err != nil && exitcode.Of(err) != exitcode.OK {
		if msg := err.Error(); msg != "" && !isSilent(err) {
			fmt.Fprintln(os.Stderr, "noderun:", msg)
		}
	}
	os.Exit(exitcode.Of(err))
}
