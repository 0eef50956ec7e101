package main

import (
	"github.com/noderun/noderun/internal/testbin"

	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// The GPU-less build test: build noderun with `make build` (cgo, -z lazy),
// then run `noderun gpus` on a machine
// without libnvidia-ml.so.1 in a clean environment. It must exit 0, die by no
// signal, and say that NVML is unavailable, why, and which fallback it used.
// docs/ARCHITECTURE.md "Build" explains what goes wrong otherwise.

func TestGPUsWithoutNVML(t *testing.T) {
	if out, err := exec.Command("ldconfig", "-p").Output(); err == nil && bytes.Contains(out, []byte("libnvidia-ml.so.1")) {
		t.Skip("libnvidia-ml.so.1 is installed here; this test is about machines without it")
	}
	bin := testbin.Path(t)
	checkLinkage(t, bin)

	t.Run("text", func(t *testing.T) {
		out := runGPUs(t, bin, nil, "gpus")
		for _, want := range []string{
			"NVML unavailable: libnvidia-ml.so.1 not found: no NVIDIA driver on this machine",
			"falling back to the GPUs Slurm assigned",
			"decision: source passthrough",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		var r struct {
			Inventory struct {
				Available   bool   `json:"available"`
				Unavailable string `json:"unavailable"`
			} `json:"inventory"`
			Decision struct {
				Source string `json:"source"`
			} `json:"decision"`
		}
		out := runGPUs(t, bin, nil, "gpus", "--json")
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("--json output is not one JSON object: %v\n%s", err, out)
		}
		if r.Inventory.Available || !strings.Contains(r.Inventory.Unavailable, "libnvidia-ml.so.1 not found") ||
			r.Decision.Source != "passthrough" {
			t.Errorf("report = %+v", r)
		}
	})

	// Under Slurm the fallback is the GPUs Slurm assigned, sliced by rank.
	t.Run("slurm fallback", func(t *testing.T) {
		out := runGPUs(t, bin, []string{"SLURM_STEP_GPUS=0,1,2,3", "SLURM_LOCALID=2"}, "gpus", "--mode", "task")
		for _, want := range []string{"NVML unavailable", "decision: source slurm:SLURM_STEP_GPUS", "set   CUDA_VISIBLE_DEVICES=2"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
}

// checkLinkage asserts what makes the binary safe without a driver: it is
// dynamically linked (a static glibc binary crashes in dlopen'ed NVML on GPU
// machines) and does not bind all symbols at start (it would die before main
// on the undefined nvml* symbols).
func checkLinkage(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	interp := false
	for _, p := range f.Progs {
		interp = interp || p.Type == elf.PT_INTERP
	}
	if !interp {
		t.Errorf("%s is statically linked; it must link glibc dynamically", bin)
	}
	if v, _ := f.DynValue(elf.DT_FLAGS); len(v) > 0 && v[0]&uint64(elf.DF_BIND_NOW) != 0 {
		t.Errorf("%s has DF_BIND_NOW: it will die at start without libnvidia-ml.so.1", bin)
	}
	if v, _ := f.DynValue(elf.DT_FLAGS_1); len(v) > 0 && v[0]&uint64(elf.DF_1_NOW) != 0 {
		t.Errorf("%s has DF_1_NOW: it will die at start without libnvidia-ml.so.1", bin)
	}
}

// runGPUs runs the binary with only PATH and extra in its environment and
// returns stdout; it fails the test on a signal or a non-zero exit.
func runGPUs(t *testing.T, bin string, extra []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "NODERUN_NODE=testnode"}, extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("noderun %v died by %v\nstdout:\n%s\nstderr:\n%s", args, ws.Signal(), &stdout, &stderr)
		}
		t.Fatalf("noderun %v exited %d\nstdout:\n%s\nstderr:\n%s", args, ee.ExitCode(), &stdout, &stderr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return stdout.String()
}
