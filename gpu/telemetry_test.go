package gpu

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/noderun/noderun/internal/nvmlstandin"
)

// openStandin opens the stand-in NVML with env and the telemetry of all its
// first GPU; it returns the telemetry, the inventory's close and the library.
func openStandin(t *testing.T, env ...string) (Telemetry, func(), nvml.Interface) {
	t.Helper()
	dir := nvmlstandin.BuildT(t)
	for i := 0; i+1 < len(env); i += 2 {
		t.Setenv(env[i], env[i+1])
	}
	lib := nvml.New(nvml.WithLibraryPath(filepath.Join(dir, nvmlstandin.Library)))
	inv, closeInv, err := Open(func() nvml.Interface { return lib })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeInv)
	devs, err := inv.Devices()
	if err != nil || len(devs) == 0 {
		t.Fatalf("devices %v: %v", devs, err)
	}
	tel, err := inv.(TelemetrySource).OpenTelemetry([]string{devs[0].UUID})
	if err != nil {
		t.Fatal(err)
	}
	return tel, closeInv, lib
}

// A GPU that fell off the bus fails the event wait at once; the reader
// must still take its timeout, not spin on a core.
func TestWaitEventLostGPUDoesNotSpin(t *testing.T) {
	tel, _, _ := openStandin(t, "NVMLSTANDIN_EVENT_WAIT_RET", "15") // GPU_IS_LOST
	defer tel.Close()
	const waits, timeout = 5, 40 * time.Millisecond
	start := time.Now()
	for range waits {
		_, ok, err := tel.WaitEvent(timeout)
		var nerr *NVMLError
		if ok || !errors.As(err, &nerr) || nerr.Return != nvml.ERROR_GPU_IS_LOST {
			t.Fatalf("WaitEvent = %v, %v; want no event and GPU_IS_LOST", ok, err)
		}
	}
	if took := time.Since(start); took < waits*timeout*9/10 {
		t.Errorf("%d failed waits of %s took %s: the reader spins", waits, timeout, took)
	}
}

// NVML stays initialised while a telemetry is open: a reader may be in a
// call. Once it is closed, the inventory's close shuts NVML down.
func TestCloseKeepsNVMLForOpenTelemetry(t *testing.T) {
	t.Setenv("NVMLSTANDIN_UTIL", "7")

	// The reader outlived the runner's wait: NVML must still answer it (the
	// stand-in fails every call after nvmlShutdown).
	t.Run("reader busy", func(t *testing.T) {
		tel, closeInv, lib := openStandin(t)
		closeInv()
		if s := tel.Sample(t.Context(), time.Now()); len(s) != 1 || s[0].GPUUtil == nil || *s[0].GPUUtil != 7 {
			t.Errorf("sample after the inventory's close = %+v; want the GPU's readings", s)
		}
		tel.Close()
		if ret := lib.Shutdown(); ret != nvml.SUCCESS {
			t.Errorf("NVML was shut down under an open telemetry (Shutdown now: %v)", ret)
		}
	})

	// All readers done: the inventory's close shuts NVML down.
	t.Run("reader done", func(t *testing.T) {
		tel, closeInv, lib := openStandin(t)
		tel.Close()
		tel.Close() // idempotent: must not count the user twice
		closeInv()
		if ret := lib.Shutdown(); ret != nvml.ERROR_UNINITIALIZED {
			t.Errorf("NVML still initialised after the inventory's close (Shutdown now: %v)", ret)
		}
	})
}

// The telemetry finds each device by its UUID: a MIG device is read through
// its parent GPU (once, however many of its MIG devices the task has), and
// a lost GPU the task was not given does not matter.
func TestOpenTelemetryByUUID(t *testing.T) {
	dir := nvmlstandin.BuildT(t)
	t.Setenv("NVMLSTANDIN_GPUS", "3")
	t.Setenv("NVMLSTANDIN_MIG_2", "2")
	t.Setenv("NVMLSTANDIN_LOST", "0")
	lib := nvml.New(nvml.WithLibraryPath(filepath.Join(dir, nvmlstandin.Library)))
	inv, closeInv, err := Open(func() nvml.Interface { return lib })
	if err != nil {
		t.Fatal(err)
	}
	defer closeInv()
	gpu := func(i int) string { return fmt.Sprintf("GPU-5a1d0000-0000-4000-8000-%012d", i) }
	mig := func(i, j int) string { return fmt.Sprintf("MIG-5a1d0000-%04d-4000-8000-%012d", i, j) }
	tel, err := inv.(TelemetrySource).OpenTelemetry([]string{mig(2, 1), gpu(1), mig(2, 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Close()
	var got []string
	for _, s := range tel.Sample(t.Context(), time.Now()) {
		got = append(got, fmt.Sprintf("%d %s", s.Index, s.UUID))
	}
	if want := []string{"1 " + gpu(1), "2 " + gpu(2)}; !slices.Equal(got, want) {
		t.Errorf("sampled %q, want %q", got, want)
	}
	if _, err := inv.(TelemetrySource).OpenTelemetry([]string{gpu(0)}); !errors.Is(err, ErrNoTelemetryGPU) {
		t.Errorf("telemetry of a lost GPU: %v, want ErrNoTelemetryGPU", err)
	}
}
