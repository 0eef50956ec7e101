package noderun

import (
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/gpu"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// fakeTelemetry serves fixed readings; hang makes Sample, openHang makes
// OpenTelemetry block until closed, like an NVML call on a GPU that fell
// off the bus; xids are served by WaitEvent, one a call.
type fakeTelemetry struct {
	hang     chan struct{}
	openHang chan struct{}
	openErr  error
	util     uint32
	xids     []workspace.GPUSample
	// xidAfter delays each XID within its wait, as a driver reports it
	// while the reader waits.
	xidAfter time.Duration

	mu     sync.Mutex
	opened []string
}

func (f *fakeTelemetry) OpenTelemetry(devices []string) (gpu.Telemetry, error) {
	if f.openHang != nil {
		<-f.openHang
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = devices
	if f.openErr != nil {
		return nil, f.openErr
	}
	return f, nil
}

func (f *fakeTelemetry) openedDevices() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opened
}

func (f *fakeTelemetry) Sample(_ context.Context, now time.Time) []workspace.GPUSample {
	if f.hang != nil {
		<-f.hang
	}
	u := f.util
	return []workspace.GPUSample{{Time: now, UUID: "GPU-0", GPUUtil: &u}}
}

func (f *fakeTelemetry) WaitEvent(timeout time.Duration) (workspace.GPUSample, bool, error) {
	time.Sleep(min(f.xidAfter, timeout))
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.xids) > 0 {
		e := f.xids[0]
		f.xids = f.xids[1:]
		return e, true, nil
	}
	time.Sleep(timeout)
	return workspace.GPUSample{}, false, nil
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
		if len(f.openedDevices()) != 1 || rec.GPU == nil || rec.GPU.Samples < 3 || rec.GPU.UtilMax != 42 || rec.GPU.UtilMean != 42 {
			t.Fatalf("opened %v, summary %+v", f.openedDevices(), rec.GPU)
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
		// The child takes 0.3 s, the runner waits 1 s for the last sample
		// and 2 s for the readers; the rest is slack for a loaded machine.
		// The sampler hangs for good: any bound shows it does not hold things up.
		rec := record(t, spec, 0)
		if rec.State != workspace.StateExited || rec.End.Sub(start) > 6*time.Second {
			t.Errorf("record %s, written %s after the start; want it within 6s", rec.State, rec.End.Sub(start))
		}
		if took := time.Since(start); took > 10*time.Second {
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
		if rec := record(t, spec, 0); f.openedDevices() != nil || rec.GPU != nil {
			t.Errorf("opened %v, summary %+v", f.openedDevices(), rec.GPU)
		}
	})

	// Opening the GPUs stuck in NVML: the child's PID is recorded and
	// Slurm's SIGTERM reaches it at once, not when NVML answers.
	t.Run("open hung", func(t *testing.T) {
		spec := telemetrySpec(t, 50*time.Millisecond)
		spec.Steps[0].Command.Argv = []string{"sleep", "60"}
		f := &fakeTelemetry{openHang: make(chan struct{})}
		defer close(f.openHang)
		sigs := make(chan os.Signal, 1)
		done := make(chan error, 1)
		go func() {
			_, err := Run(t.Context(), RunOptions{Spec: spec, Role: spec.Steps[0].Role, Environ: env, GPUs: gpus, Telemetry: f, Log: zerolog.Nop(), Signals: sigs})
			done <- err
		}()
		path := workspace.New(spec.Workspace).TaskRecord(spec.Steps[0].Role, 0)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if rec, err := workspace.LoadTaskRecord(path); err == nil && rec.PID > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no record with the child's PID within 10s: opening the telemetry holds up the runner")
			}
		}
		sigs <- syscall.SIGTERM
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the child still runs 10s after SIGTERM")
		}
		rec := record(t, spec, 0)
		if rec.Signal != "SIGTERM" || !rec.Stopped || rec.GPU == nil || rec.GPU.Missing == "" || rec.GPU.Samples != 0 {
			t.Errorf("record: signal %q, stopped %v, GPU summary %+v", rec.Signal, rec.Stopped, rec.GPU)
		}
	})

	// Telemetry that cannot open says why in the record, and there is no file.
	t.Run("open failed", func(t *testing.T) {
		spec := telemetrySpec(t, 50*time.Millisecond)
		f := &fakeTelemetry{openErr: gpu.ErrNoTelemetryGPU}
		if code, err := Run(t.Context(), RunOptions{Spec: spec, Role: spec.Steps[0].Role, Environ: env, GPUs: gpus, Telemetry: f, Log: zerolog.Nop(), Signals: make(chan os.Signal)}); code != 0 || err != nil {
			t.Fatalf("run: %d %v", code, err)
		}
		if g := record(t, spec, 0).GPU; g == nil || g.Missing != gpu.ErrNoTelemetryGPU.Error() || g.Samples != 0 {
			t.Errorf("GPU summary = %+v", g)
		}
		if _, err := os.Stat(workspace.New(spec.Workspace).Telemetry(spec.Steps[0].Role, 0)); !os.IsNotExist(err) {
			t.Errorf("telemetry file: %v, want none", err)
		}
	})

	// An XID the driver reports while the task ends is in the record: the
	// end waits for the event reader's last wait, not only the sampler.
	t.Run("xid at the end", func(t *testing.T) {
		for i := range 10 {
			spec := telemetrySpec(t, time.Hour)
			spec.Steps[0].Command.Argv = []string{"true"}
			f := &fakeTelemetry{util: 1, xidAfter: eventWait / 2, xids: []workspace.GPUSample{{UUID: "GPU-0", XID: 79}}}
			if code, err := Run(t.Context(), RunOptions{Spec: spec, Role: spec.Steps[0].Role, Environ: env, GPUs: gpus, Telemetry: f, Log: zerolog.Nop(), Signals: make(chan os.Signal)}); code != 0 || err != nil {
				t.Fatalf("run %d: %d %v", i, code, err)
			}
			if g := record(t, spec, 0).GPU; g == nil || g.XIDCount != 1 {
				t.Fatalf("run %d: the XID reported as the task ended is missing: %+v", i, g)
			}
		}
	})

	// An XID storm: counted per GPU and XID, not one phrase per event.
	t.Run("xid storm", func(t *testing.T) {
		spec := telemetrySpec(t, 50*time.Millisecond)
		f := &fakeTelemetry{util: 1}
		for range 500 {
			f.xids = append(f.xids, workspace.GPUSample{UUID: "GPU-0", XID: 79})
		}
		for i := range 20 {
			f.xids = append(f.xids, workspace.GPUSample{UUID: "GPU-1", Index: 1, XID: uint64(100 + i)})
		}
		if code, err := Run(t.Context(), RunOptions{Spec: spec, Role: spec.Steps[0].Role, Environ: env, GPUs: gpus, Telemetry: f, Log: zerolog.Nop(), Signals: make(chan os.Signal)}); code != 0 || err != nil {
			t.Fatalf("run: %d %v", code, err)
		}
		g := record(t, spec, 0).GPU
		if g == nil || g.XIDCount != 520 || len(g.XIDs) != 21 || len(g.Faults) != maxFaultPhrases {
			t.Fatalf("GPU summary = %+v", g)
		}
		if g.Faults[0] != "XID 79 on GPU 0 (GPU-0) ×500" || !strings.Contains(g.Faults[maxFaultPhrases-1], "14 more") {
			t.Errorf("faults %q", g.Faults)
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
