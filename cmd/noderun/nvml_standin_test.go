package main

import (
	"debug/elf"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/noderun/noderun/gpu"
	"github.com/noderun/noderun/internal/nvmlstandin"
	"github.com/noderun/noderun/internal/testbin"
)

// The release binary's real NVML path (dlopen of libnvidia-ml.so.1, Init,
// the device queries) against the stand-in library, on a machine without a GPU.

type gpusJSON struct {
	Inventory struct {
		Available   bool         `json:"available"`
		Source      string       `json:"source"`
		Devices     []gpu.Device `json:"devices"`
		DeviceError string       `json:"device_error"`
	} `json:"inventory"`
	Decision struct {
		Source  string   `json:"source"`
		Devices []string `json:"devices"`
	} `json:"decision"`
}

func gpusWithStandin(t *testing.T, lib string, env ...string) gpusJSON {
	t.Helper()
	var r gpusJSON
	out := runGPUs(t, testbin.Path(t), append([]string{"LD_LIBRARY_PATH=" + lib}, env...), "gpus", "--json")
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json output is not one JSON object: %v\n%s", err, out)
	}
	return r
}

func TestGPUsWithStandinNVML(t *testing.T) {
	lib := nvmlstandin.BuildT(t)
	const u0, u1 = "GPU-aaaaaaaa-0000-4000-8000-000000000000", "GPU-bbbbbbbb-0000-4000-8000-000000000001"
	r := gpusWithStandin(t, lib, "NVMLSTANDIN_GPUS=3", "NVMLSTANDIN_UUIDS="+u0+","+u1,
		"NVMLSTANDIN_LOST=2", "NVMLSTANDIN_MIG_1=2")
	inv := r.Inventory
	if !inv.Available || inv.Source != "nvml" || len(inv.Devices) != 2 {
		t.Fatalf("inventory = %+v, want the 2 healthy GPUs of 3 through NVML", inv)
	}
	if d := inv.Devices[0]; d.UUID != u0 || d.Minor != 0 || d.PCIBusID != "00000000:10:00.0" || d.NUMANode != 0 || d.CPUAffinity != "0-3" || d.MIGEnabled {
		t.Errorf("GPU 0 = %+v", d)
	}
	if d := inv.Devices[1]; d.UUID != u1 || !d.MIGEnabled || len(d.MIG) != 2 || !strings.HasPrefix(d.MIG[0].UUID, "MIG-") {
		t.Errorf("GPU 1 = %+v, want MIG on with 2 MIG devices", d)
	}
	// The lost GPU is reported, not listed, and the decision leaves it out.
	if !strings.Contains(inv.DeviceError, "GPU 2") || !strings.Contains(inv.DeviceError, "GPU is lost") {
		t.Errorf("device error = %q, want GPU 2 lost", inv.DeviceError)
	}
	want := []string{u0, inv.Devices[1].MIG[0].UUID, inv.Devices[1].MIG[1].UUID}
	if r.Decision.Source != "nvml" || !slices.Equal(r.Decision.Devices, want) {
		t.Errorf("decision = %+v, want %v", r.Decision, want)
	}

	// Slurm's gres index is the device minor: step GPU 1 is GPU 1's MIG devices.
	r = gpusWithStandin(t, lib, "NVMLSTANDIN_GPUS=2", "NVMLSTANDIN_MIG_1=1", "SLURM_STEP_GPUS=1")
	if len(r.Decision.Devices) != 1 || !strings.HasPrefix(r.Decision.Devices[0], "MIG-") {
		t.Errorf("decision with SLURM_STEP_GPUS=1 = %+v", r.Decision)
	}
}

// An older driver lacks functions beyond those that list devices: the
// binary looks them up first and does without, where calling one would end
// it with "symbol lookup error" (exit status 127).
func TestGPUsWithOldDriver(t *testing.T) {
	omit := []string{"nvmlDeviceGetNumaNodeId", "nvmlDeviceGetMigMode", "nvmlDeviceGetCpuAffinity"}
	lib := nvmlstandin.BuildT(t, omit...)
	assertOmitted(t, filepath.Join(lib, nvmlstandin.Library), omit)
	r := gpusWithStandin(t, lib, "NVMLSTANDIN_GPUS=2", "NVMLSTANDIN_MIG_1=2")
	if !r.Inventory.Available || len(r.Inventory.Devices) != 2 {
		t.Fatalf("inventory = %+v", r.Inventory)
	}
	for _, d := range r.Inventory.Devices {
		if d.NUMANode != -1 || d.CPUAffinity != "" || d.MIGEnabled {
			t.Errorf("device %+v: NUMA, CPU affinity and MIG must be unknown without their functions", d)
		}
	}
}

// assertOmitted checks that the library really lacks the symbols, so that
// the test above proves the lookups and not a stand-in that has them.
func assertOmitted(t *testing.T, path string, omit []string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, s := range syms {
		have[s.Name] = s.Section != elf.SHN_UNDEF
	}
	if !have["nvmlInit_v2"] {
		t.Fatalf("%s does not export nvmlInit_v2: the symbol check is broken", path)
	}
	for _, name := range omit {
		if have[name] {
			t.Errorf("%s still exports %s", path, name)
		}
	}
}
