package noderun

import (
	"bufio"
	"io"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/rs/zerolog"

	"github.com/noderun/noderun/gpu"
	"github.com/noderun/noderun/internal/nvmlstandin"
)

// BenchmarkTelemetryCost measures what telemetry costs a task per default
// interval through real NVML calls (the stand-in library): one iteration is
// one sample of 8 GPUs written to the file, plus the event reader's wake-ups
// of one interval. It reports the CPU time of that as a share of one core
// (core-%); scripts/bench-telemetry.sh holds it to the goal of 1 %.
func BenchmarkTelemetryCost(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	LimitProcs() // as `noderun run` does
	dir := nvmlstandin.BuildT(b)
	b.Setenv("NVMLSTANDIN_GPUS", "8")
	for _, v := range []string{"UTIL", "MEM_UTIL", "MEM_USED_MIB", "POWER_W", "TEMP_C", "SM_CLOCK_MHZ", "CLOCK_EVENTS", "ECC_CORRECTED", "ECC_UNCORRECTED"} {
		b.Setenv("NVMLSTANDIN_"+v, "1,2,3,4,5,6,7,8,9")
	}
	lib := nvml.New(nvml.WithLibraryPath(filepath.Join(dir, nvmlstandin.Library)))
	inv, closeLib, err := gpu.Open(func() nvml.Interface { return lib })
	if err != nil {
		b.Fatal(err)
	}
	defer closeLib()
	devs, err := inv.Devices()
	if err != nil || len(devs) != 8 {
		b.Fatalf("%d devices: %v", len(devs), err)
	}
	var uuids []string
	for _, d := range devs {
		uuids = append(uuids, d.UUID)
	}
	t, err := inv.(gpu.TelemetrySource).OpenTelemetry(uuids)
	if err != nil {
		b.Fatal(err)
	}
	defer t.Close()
	tm := newTelemetry(nil, uuids, "", 0, zerolog.Nop())
	tm.w = bufio.NewWriter(io.Discard)
	const interval = 5 * time.Second // submit's --gpu-sample default
	wakes := int(interval / eventWait)

	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		tm.add(t.Sample(b.Context(), time.Now())...)
		for range wakes {
			// The reader's wait in NVML, shortened: its CPU cost is the wake-up.
			t.WaitEvent(time.Millisecond)
		}
	}
	perInterval := (cpuTime() - cpu0) / time.Duration(b.N)
	b.ReportMetric(float64(perInterval.Microseconds()), "cpu-µs/interval")
	b.ReportMetric(100*float64(perInterval)/float64(interval), "core-%")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
