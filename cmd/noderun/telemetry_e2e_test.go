package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/nvmlstandin"
	"github.com/noderun/noderun/internal/testbin"
	"github.com/noderun/noderun/internal/workspace"
)

// runWithStandin runs one WORKER task of `make build`'s binary against the
// stand-in NVML: it returns the runner's exit status, stderr, the record
// and the telemetry lines.
func runWithStandin(t *testing.T, lib string, faults string, env ...string) (int, string, *workspace.TaskRecord, []workspace.GPUSample) {
	t.Helper()
	bin := testbin.Path(t)
	ws := t.TempDir()
	spec := &jobspec.Spec{
		Version: jobspec.Version, Workspace: ws, NodeLocalDir: filepath.Join(ws, "local"), Nodes: 1,
		Timeouts: jobspec.Timeouts{KillGrace: jobspec.Duration(5 * time.Second)},
		GPU:      jobspec.GPUPolicy{Precheck: "fail", PerNode: 2, Sample: jobspec.Duration(100 * time.Millisecond), Faults: faults},
		Steps: []jobspec.Step{{Role: jobspec.RoleWorker, Kind: jobspec.KindWorker, Nodes: 1, Tasks: 1, TasksPerNode: 1,
			GPUMode: jobspec.GPUModeNode, Command: jobspec.Command{Argv: []string{"sleep", "0.7"}}}},
	}
	specPath := filepath.Join(ws, "job.json")
	if err := spec.Save(specPath); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--spec", specPath, "--role", jobspec.RoleWorker)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "LD_LIBRARY_PATH=" + lib, "SLURM_JOB_ID=3", "SLURM_STEP_ID=0",
		"SLURM_PROCID=0", "SLURM_LOCALID=0", "SLURM_NODEID=0", "SLURMD_NODENAME=n1", "SLURM_JOB_NODELIST=n1",
		"SLURM_STEP_NODELIST=n1", "SLURM_NTASKS=1", "SLURM_STEP_NUM_TASKS=1", "SLURM_JOB_NUM_NODES=1", "SLURM_STEP_GPUS=0,1"}, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	layout := workspace.New(ws)
	rec, err := workspace.LoadTaskRecord(layout.TaskRecord(jobspec.RoleWorker, 0))
	if err != nil {
		t.Fatalf("no task record (exit %d): %v\n%s", code, err, &stderr)
	}
	var samples []workspace.GPUSample
	if f, err := os.Open(layout.Telemetry(jobspec.RoleWorker, 0)); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var s workspace.GPUSample
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				t.Fatalf("telemetry line %q: %v", sc.Text(), err)
			}
			samples = append(samples, s)
		}
	}
	return code, stderr.String(), rec, samples
}

// Telemetry through the release binary's real NVML path: values that change
// over time, an XID and a new uncorrected ECC error during the task.
func TestRunTelemetryWithStandinNVML(t *testing.T) {
	lib := nvmlstandin.BuildT(t)
	// The series step on every call and hold their last value: the task's
	// first and last samples (always taken) see both, however slow the machine.
	series := []string{"NVMLSTANDIN_GPUS=2", "NVMLSTANDIN_UTIL=10,90", "NVMLSTANDIN_MEM_UTIL=5",
		"NVMLSTANDIN_MEM_USED_MIB=1024,4096", "NVMLSTANDIN_TEMP_C=40,71", "NVMLSTANDIN_POWER_W=300",
		"NVMLSTANDIN_SM_CLOCK_MHZ=1980", "NVMLSTANDIN_CLOCK_EVENTS=0x1,0x4", "NVMLSTANDIN_ECC_CORRECTED=0",
		"NVMLSTANDIN_ECC_UNCORRECTED_1=3,5", "NVMLSTANDIN_ECC_UNCORRECTED=0", "NVMLSTANDIN_XIDS=1:79@0.2"}

	for _, tc := range []struct {
		faults   string
		wantCode int
	}{
		{"warn", 0},                 // a fault is a warning: the child's status stands
		{"fail", exitcode.GPUFault}, // a fault fails a task whose child passed
	} {
		t.Run(tc.faults, func(t *testing.T) {
			code, stderr, rec, samples := runWithStandin(t, lib, tc.faults, series...)
			if code != tc.wantCode {
				t.Fatalf("exit status %d, want %d\n%s", code, tc.wantCode, stderr)
			}
			g := rec.GPU
			if g == nil || g.Samples < 4 || g.Missing != "" {
				t.Fatalf("GPU summary = %+v, want samples of 2 GPUs", g)
			}
			if g.PeakMemUsed != 4096<<20 || g.UtilMax != 90 || g.TempMaxC != 71 || !slices.Equal(g.ClockEvents, []string{"sw_power_cap"}) {
				t.Errorf("summary = %+v", g)
			}
			if !slices.Equal(g.XIDs, []uint64{79}) || g.ECCUncorrected != 2 || len(g.Faults) != 2 ||
				!strings.Contains(g.Faults[0], "XID 79 on GPU 1") || !strings.Contains(g.Faults[1], "2 uncorrected ECC error(s) on GPU 1") {
				t.Errorf("faults: XIDs %v, ECC %d, %q", g.XIDs, g.ECCUncorrected, g.Faults)
			}
			if tc.faults == "fail" && !strings.Contains(rec.Error, "--gpu-faults fail") {
				t.Errorf("record error %q does not say why the task failed", rec.Error)
			}
			var xid, full int
			for _, s := range samples {
				switch {
				case s.XID == 79 && s.Index == 1:
					xid++
				case s.GPUUtil != nil && s.MemUsed != nil && s.PowerW != nil && *s.PowerW == 300 && s.TempC != nil &&
					s.SMClock != nil && s.ECCUncorrected != nil && s.ECCCorrected != nil && s.UUID != "":
					full++
				}
			}
			if xid != 1 || full != g.Samples {
				t.Errorf("telemetry file: %d XID lines (want 1), %d full samples (want %d)", xid, full, g.Samples)
			}
		})
	}
}

// An older driver without the telemetry's newer functions: a warning, the
// readings it can give, and no crash.
func TestRunTelemetryWithOldDriver(t *testing.T) {
	omit := []string{"nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetTotalEccErrors", "nvmlEventSetWait_v2", "nvmlDeviceGetNumaNodeId"}
	lib := nvmlstandin.BuildT(t, omit...)
	assertOmitted(t, filepath.Join(lib, nvmlstandin.Library), omit)
	code, stderr, rec, samples := runWithStandin(t, lib, "fail", "NVMLSTANDIN_GPUS=2", "NVMLSTANDIN_UTIL=30",
		"NVMLSTANDIN_CLOCK_EVENTS=0x40", "NVMLSTANDIN_ECC_UNCORRECTED=0,9")
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "lacks NVML functions") || !strings.Contains(stderr, "nvmlDeviceGetTotalEccErrors") {
		t.Errorf("no warning about the missing functions:\n%s", stderr)
	}
	// Throttle reasons come from the older function; ECC counts are not read.
	if g := rec.GPU; g == nil || g.Samples == 0 || g.UtilMax != 30 || !slices.Equal(g.ClockEvents, []string{"hw_thermal_slowdown"}) || len(g.Faults) != 0 {
		t.Errorf("GPU summary = %+v", rec.GPU)
	}
	for _, s := range samples {
		if s.ECCUncorrected != nil {
			t.Fatalf("sample %+v has ECC counts without nvmlDeviceGetTotalEccErrors", s)
		}
	}
}

// Without libnvidia-ml.so.1 the runner says once that there is no telemetry.
func TestRunTelemetryWithoutNVML(t *testing.T) {
	if out, err := exec.Command("ldconfig", "-p").Output(); err == nil && strings.Contains(string(out), "libnvidia-ml.so.1") {
		t.Skip("libnvidia-ml.so.1 is installed here")
	}
	code, stderr, rec, samples := runWithStandin(t, t.TempDir(), "warn")
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
	if n := strings.Count(stderr, "no GPU telemetry"); n != 1 {
		t.Errorf("%d lines say there is no GPU telemetry, want 1:\n%s", n, stderr)
	}
	if rec.GPU == nil || !strings.Contains(rec.GPU.Missing, "libnvidia-ml.so.1 not found") || len(samples) != 0 {
		t.Errorf("GPU summary = %+v, %d samples", rec.GPU, len(samples))
	}
}
