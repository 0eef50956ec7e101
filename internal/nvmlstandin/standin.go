// Package nvmlstandin builds a stand-in libnvidia-ml.so.1 (lib/nvml.c) with gcc,
// so that tests and scripts run noderun's real NVML path (dlopen, Init,
// device queries, telemetry, XID events) on a machine without a GPU.
//
// The library answers from the environment of the process that loads it:
//
//	NVMLSTANDIN_GPUS=N             number of GPUs (default 1)
//	NVMLSTANDIN_UUIDS=u0,u1,...    their UUIDs (default GPU-5a1d0000-0000-4000-8000-<index>)
//	NVMLSTANDIN_LOST=i,j           GPUs that answer GPU_IS_LOST
//	NVMLSTANDIN_MIG_<i>=n          GPU i has MIG on with n MIG devices
//	NVMLSTANDIN_XIDS=g:x@s,...     XID x on GPU g, s seconds after nvmlInit
//	NVMLSTANDIN_EVENT_WAIT_RET=r   nvmlEventSetWait returns NVML code r at once
//
// Calls after nvmlShutdown fail with NVML_ERROR_UNINITIALIZED.
// and, per GPU with a _<i> suffix or for all GPUs without, series of values
// that step on every call, or every NVMLSTANDIN_STEP_MS milliseconds when
// set, and repeat the last one (unset: not supported):
// UTIL, MEM_UTIL (percent), MEM_USED_MIB, POWER_W, TEMP_C, SM_CLOCK_MHZ,
// CLOCK_EVENTS (NVML's bitmask), ECC_CORRECTED, ECC_UNCORRECTED.
package nvmlstandin

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

//go:embed lib/nvml.c
var source []byte

// Library is the file name go-nvml dlopens.
const Library = "libnvidia-ml.so.1"

// Build compiles the stand-in into dir/libnvidia-ml.so.1, leaving out the
// named symbols (an older driver lacks them), and returns dir, the value
// for LD_LIBRARY_PATH.
func Build(dir string, omit ...string) (string, error) {
	src := filepath.Join(dir, "nvml.c")
	if err := os.WriteFile(src, source, 0o644); err != nil {
		return "", fmt.Errorf("write stand-in source: %w", err)
	}
	args := []string{"-shared", "-fPIC", "-O2", "-Wall", "-o", filepath.Join(dir, Library), src}
	if len(omit) > 0 {
		// An exact name in local: wins over the global wildcard.
		script := filepath.Join(dir, "omit.map")
		text := "{ global: *; local: " + strings.Join(omit, "; ") + "; };\n"
		if err := os.WriteFile(script, []byte(text), 0o644); err != nil {
			return "", fmt.Errorf("write version script: %w", err)
		}
		args = append(args, "-Wl,--version-script="+script)
	}
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build stand-in NVML: gcc: %v\n%s", err, out)
	}
	return dir, nil
}

// BuildT builds the stand-in into a temporary directory of tb; without gcc
// it skips tb, or fails it in CI (scripts/test.sh installs gcc).
func BuildT(tb testing.TB, omit ...string) string {
	tb.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("no gcc in CI to build the stand-in libnvidia-ml.so.1 with (Debian: gcc, libc6-dev)")
		}
		tb.Skip("no gcc to build the stand-in libnvidia-ml.so.1 with (Debian: gcc, libc6-dev)")
	}
	dir, err := Build(tb.TempDir(), omit...)
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}
