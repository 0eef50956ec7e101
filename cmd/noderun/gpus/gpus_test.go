package gpus

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/golden"
)

// envVars are every variable the command reads; tests start without them.
var envVars = []string{
	"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS",
	"SLURM_LOCALID", "SLURMD_NODENAME", "NODERUN_GPUS_JSON", "NODERUN_GPU_MODE", "NODERUN_GPUS_PER_TASK",
	"NODERUN_LOCAL_RANK", "NODERUN_TASKS_ON_NODE", "NODERUN_EXPECT_GPUS", "NODERUN_GPU_PRECHECK", "NODERUN_NODE",
	"NODERUN_FAKE_GPUS",
}

func cleanEnv(t *testing.T, set map[string]string) {
	t.Helper()
	for _, k := range envVars {
		t.Setenv(k, "") // restores the old value after the test
		os.Unsetenv(k)
	}
	for k, v := range set {
		t.Setenv(k, v)
	}
}

// run drives the command through a minimal app, as main does.
func run(t *testing.T, lib nvml.Interface, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	log := zerolog.Nop()
	env := &appenv.Env{Log: &log, Stdout: &stdout, Stderr: &stderr}
	if lib != nil {
		env.NVML = func() nvml.Interface { return lib }
	}
	app := &cli.App{
		Name: "noderun", Writer: &stdout, ErrWriter: &stderr,
		ExitErrHandler: func(*cli.Context, error) {},
		Commands:       []*cli.Command{NewCommand(env)},
	}
	err := app.Run(append([]string{"noderun", "gpus"}, args...))
	return stdout.String(), err
}

// twoH100 is a small NVML mock with fixed UUIDs, so the text is stable.
func twoH100() *mock.Interface {
	dev := func(i int) nvml.Device {
		uuid := []string{"GPU-11111111-2222-3333-4444-000000000000", "GPU-11111111-2222-3333-4444-000000000001"}[i]
		var pci nvml.PciInfo
		for k, c := range []byte("00000000:1" + string(rune('8'+i)) + ":00.0") {
			pci.BusId[k] = int8(c)
		}
		return &mock.Device{
			GetUUIDFunc:        func() (string, nvml.Return) { return uuid, nvml.SUCCESS },
			GetNameFunc:        func() (string, nvml.Return) { return "NVIDIA H100 80GB HBM3", nvml.SUCCESS },
			GetMemoryInfoFunc:  func() (nvml.Memory, nvml.Return) { return nvml.Memory{Total: 80 << 30}, nvml.SUCCESS },
			GetPciInfoFunc:     func() (nvml.PciInfo, nvml.Return) { return pci, nvml.SUCCESS },
			GetMinorNumberFunc: func() (int, nvml.Return) { return i, nvml.SUCCESS },
			GetMigModeFunc:     func() (int, int, nvml.Return) { return 0, 0, nvml.ERROR_NOT_SUPPORTED },
			GetNumaNodeIdFunc:  func() (int, nvml.Return) { return i, nvml.SUCCESS },
			GetCpuAffinityFunc: func(int) ([]uint, nvml.Return) { return []uint{0xffff << (16 * uint(i))}, nvml.SUCCESS },
		}
	}
	devs := []nvml.Device{dev(0), dev(1)}
	return &mock.Interface{
		InitFunc:     func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc: func() nvml.Return { return nvml.SUCCESS },
		ExtensionsFunc: func() nvml.ExtendedInterface {
			return &mock.ExtendedInterface{LookupSymbolFunc: func(string) error { return nil }}
		},
		DeviceGetCountFunc: func() (int, nvml.Return) { return len(devs), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			return devs[i], nvml.SUCCESS
		},
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lib    nvml.Interface
		env    map[string]string
		args   []string
		golden string
	}{
		// --help is part of the interface people read.
		{name: "help", args: []string{"--help"}, golden: "help.golden"},
		// A real-looking node: inventory table and a rank-1 task decision.
		{name: "nvml task", lib: twoH100(), env: map[string]string{"SLURM_LOCALID": "1"},
			args: []string{"--node", "gpu01", "--mode", "task", "--expect", "2"}, golden: "nvml-task.golden"},
		// No NVML under Slurm: the JSON says why and which fallback was used.
		{name: "json fallback", env: map[string]string{"SLURM_STEP_GPUS": "0,1", "CUDA_VISIBLE_DEVICES": "0,1", "SLURM_LOCALID": "1"},
			args: []string{"--node", "gpu02", "--json", "--mode", "task"}, golden: "fallback.json.golden"},
		// The local simulation's view.
		{name: "fake", args: []string{"--node", "laptop", "--fake-gpus", "2", "--mode", "none"}, golden: "fake-none.golden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t, tc.env)
			out, err := run(t, tc.lib, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", tc.golden), []byte(out))
		})
	}
}

// TestExitCodes checks each kind of failure gets its documented status and
// that the report is still printed first.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		code    int
		wantOut string // in stdout (the report is written before the error)
		wantErr string
	}{
		// NVML missing is not an error.
		{name: "no nvml", args: nil, code: exitcode.OK, wantOut: "NVML unavailable"},
		// A short node: the precheck's own status.
		{name: "precheck", args: []string{"--fake-gpus", "4", "--expect", "8", "--node", "n9"}, code: exitcode.GPUPrecheck,
			wantOut: "decision: none", wantErr: "expected 8 GPUs, saw 4"},
		// Too few GPUs for the rank: same status, it is the same kind of problem.
		{name: "rank too high", args: []string{"--fake-gpus", "2", "--mode", "task", "--local-rank", "2"}, code: exitcode.GPUPrecheck,
			wantErr: "not enough GPUs"},
		// Garbage in the environment is a usage error.
		{name: "garbage", env: map[string]string{"CUDA_VISIBLE_DEVICES": "0,,1"}, code: exitcode.Usage,
			wantErr: "CUDA_VISIBLE_DEVICES"},
		// JSON carries the error for scripts.
		{name: "json error", args: []string{"--json", "--fake-gpus", "1", "--expect", "2"}, code: exitcode.GPUPrecheck,
			wantOut: `"error": "GPU precheck failed on node`},
		// Bad flags name the flag and its env var.
		{name: "bad mode", args: []string{"--mode", "gpu"}, code: exitcode.Usage, wantErr: "NODERUN_GPU_MODE"},
		{name: "bad precheck", env: map[string]string{"NODERUN_GPU_PRECHECK": "maybe"}, code: exitcode.Usage, wantErr: `--gpu-precheck (NODERUN_GPU_PRECHECK): "maybe": use fail, warn or off`},
		// The same flag name as submit's.
		{name: "precheck flag", args: []string{"--fake-gpus", "1", "--expect", "2", "--gpu-precheck", "warn"}, code: exitcode.OK,
			wantOut: "going on because precheck is warn"},
		{name: "rank beyond tasks", args: []string{"--local-rank", "4", "--tasks-on-node", "4"}, code: exitcode.Usage, wantErr: "--tasks-on-node"},
		// SLURM_LOCALID is the default rank.
		{name: "slurm localid", env: map[string]string{"SLURM_LOCALID": "1"}, args: []string{"--fake-gpus", "2", "--mode", "task", "--json"},
			code: exitcode.OK, wantOut: `"local_rank": 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t, tc.env)
			out, err := run(t, nil, tc.args...)
			if got := exitcode.Of(err); got != tc.code {
				t.Fatalf("exit status %d (%v), want %d", got, err, tc.code)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantOut, out)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v lacks %q", err, tc.wantErr)
			}
		})
	}
}
