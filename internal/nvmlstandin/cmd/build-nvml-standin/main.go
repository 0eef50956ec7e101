// Command build-nvml-standin builds the stand-in libnvidia-ml.so.1 for
// scripts: go run ./internal/nvmlstandin/cmd/build-nvml-standin DIR [SYMBOL...]
// builds DIR/libnvidia-ml.so.1 without the named symbols and prints DIR.
package main

import (
	"fmt"
	"os"

	"github.com/noderun/noderun/internal/nvmlstandin"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: build-nvml-standin DIR [SYMBOL_TO_OMIT...]")
		os.Exit(2)
	}
	if err := os.MkdirAll(os.Args[1], 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := nvmlstandin.Build(os.Args[1], os.Args[2:]...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(dir)
}
