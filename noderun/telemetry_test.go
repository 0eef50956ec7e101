package noderun

import (
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/gpu"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// fakeTelemetry serves fixed readings; hang makes Sample block for good,
// like an NVML call on a GPU that fell off the bus.
type fakeTelemetry struct {
	hang   chan struct{}
	util   uint32
	opened []string
}

func (f *fakeTelemetry) OpenTelemetry(devices []string) (gpu.Telemetry, error) {
	f.opened = devices
	return f, nil
}

func (f *fakeTelemetry) Sample(now time.Time) []workspace.GPUSample {
	if f.hang != nil {
		<-f.hang
	}
	u := f.util
	return []workspace.GPUSample{{Time: now, UUID: "GPU-0", GPUUtil: &u}}
}

func (f *fakeTelemetry) WaitEvent(timeout time.Duration) (workspace.GPUSample, bool) {
	time.Sleep(timeout)
	return workspace.GPUSample{}, false
}
func (f *fakeTelemetry) Missing() []string { return nil }
func (f *fakeTelemetry) Close()            {}

func telemetrySpec(t *testing.T, sample time.Duration) *jobspec.Spec {
	spec := testSpec(t, jobspec.KindWorker, "sleep", "0.3")
	spec.Steps[0].Tasks, spec.Nodes, spec.Steps[0].Nodes = 1, 1, 1
	spec.GPU.Sample = jobspec.Duration(sample)
	return spec
}

func TestRunTelemetry(t *testing.T) {
	env := slurmEnv("7", 0, 0, "n1", "SLURM_STEP_GPUS=0", "CUDA_VISIBLE_DEVICES=0")
	gpus := gpu.Fake(1)

	// The task's GPUs are sampled; the file and the record's summary agree.
	t.Run("sampled", func(t *testing.T) {
		spec := telemetrySpec(t, 50*time.Millisecond)
		f := &fakeTelemetry{util: 42}
		if code, err := Run(t.Context(), RunOptions{Spec: spec, Role: spec.Steps[0].Role, Environ: env, GPUs: gpus, Telemetry: f, Log: zerolog.Nop(), Signals: make(chan os.Signal)}); code != 0 || err != nil {
			t.Fatalf("run: %d %v", code, err)
		}
		rec := record(t, spec, 0)
		if len(f.opened) != 1 || rec.GPU == nil || rec.GPU.Samples < 3 || rec.GPU.UtilMax != 42 || rec.GPU.UtilMean != 42 {
			t.Fatalf("opened %v, summary %+v", f.opened, rec.GPU)
		}
		b, err := os.ReadFile(workspace.New(spec.Workspace).Telemetry(spec.Steps[0].Role, 0))
		if err != nil {
			t.Fatal(err)
		}
		if lines := countLines(b); lines != rec.GPU.Samples {
			t.Errorf("%d lines in the telemetry file, %d samples in the summary", lines, rec.GPU.Samples)
		}
	})

	// A sampler stuck in NVML holds up neither the child's end nor the record.
	t.Run("hung", func(t *testing.T) {
		spec := telemetrySpec(t, 50*time.Millisecond)
		f := &fakeTelemetry{hang: make(chan struct{})}
		defer close(f.hang)
		start := time.Now()
		code, err := Run(t.Context(), RunOptions{Spec: spec, Role: spec.Steps[0].Role, Environ: env, GPUs: gpus, Telemetry: f, Log: zerolog.Nop(), Signals: make(chan os.Signal)})
		if code != 0 || err != nil {
			t.Fatalf("run: %d %v", code, err)
		}
		rec := record(t, spec, 0)
		if rec.State != workspace.StateExited || rec.End.Sub(start) > 2*time.Second {
			t.Errorf("record %s, written %s after the start; want it within 2s", rec.State, rec.End.Sub(start))
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Run took %s", took)
		}
	})

	// --gpu-sample 0 takes no telemetry at all.
	t.Run("off", func(t *testing.T) {
		spec := telemetrySpec(t, 0)
		f := &fakeTelemetry{}
		if code, err := Run(t.Context(), RunOptions{Spec: spec, Role: spec.Steps[0].Role, Environ: env, GPUs: gpus, Telemetry: f, Log: zerolog.Nop(), Signals: make(chan os.Signal)}); code != 0 || err != nil {
			t.Fatalf("run: %d %v", code, err)
		}
		if rec := record(t, spec, 0); f.opened != nil || rec.GPU != nil {
			t.Errorf("opened %v, summary %+v", f.opened, rec.GPU)
		}
	})
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}
