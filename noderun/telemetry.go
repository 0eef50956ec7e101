package noderun

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/gpu"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

// eventWait bounds one wait for an XID, and so how long the end of the task
// may wait for the event reader.
const eventWait = 200 * time.Millisecond

// telemetry samples a task's GPUs while its child runs, writes each reading
// to the task's telemetry file and keeps the summary for its record.
type telemetry struct {
	t     gpu.Telemetry
	every time.Duration
	log   zerolog.Logger

	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	sum    workspace.GPUSummary
	acc    map[string]*gpuAcc // by UUID
	closed bool

	stop    chan struct{}
	sampled chan struct{} // closed when the sampler ended, after its last sample
	done    sync.WaitGroup
}

// gpuAcc is what the summary needs of one GPU.
type gpuAcc struct {
	index            int
	eccFirst, eccNow *uint64
	utilSum          float64
	utilN            int
}

// startTelemetry opens path and starts sampling every interval, the first
// sample at once.
func startTelemetry(t gpu.Telemetry, path string, every time.Duration, log zerolog.Logger) (*telemetry, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create telemetry directory: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create telemetry file: %w", err)
	}
	tm := &telemetry{t: t, every: every, log: log, f: f, w: bufio.NewWriter(f), acc: map[string]*gpuAcc{},
		stop: make(chan struct{}), sampled: make(chan struct{})}
	tm.done.Add(2)
	go tm.sample()
	go tm.events()
	return tm, nil
}

func (tm *telemetry) sample() {
	defer tm.done.Done()
	defer close(tm.sampled)
	tick := time.NewTicker(tm.every)
	defer tick.Stop()
	for {
		tm.add(tm.t.Sample(time.Now().UTC())...)
		select {
		case <-tick.C:
		case <-tm.stop:
			// The last reading: ECC errors up to the end of the task.
			tm.add(tm.t.Sample(time.Now().UTC())...)
			return
		}
	}
}

func (tm *telemetry) events() {
	defer tm.done.Done()
	for {
		select {
		case <-tm.stop:
			return
		default:
		}
		if e, ok := tm.t.WaitEvent(eventWait); ok {
			tm.log.Warn().Uint64("xid", e.XID).Int("gpu", e.Index).Str("uuid", e.UUID).Msg("GPU XID event")
			tm.add(e)
		}
	}
}

// add writes samples and folds them into the summary; after finish it
// drops them, so a late reading cannot change a written record.
func (tm *telemetry) add(samples ...workspace.GPUSample) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.closed {
		return
	}
	for _, s := range samples {
		if b, err := json.Marshal(s); err == nil {
			tm.w.Write(append(b, '\n'))
		}
		tm.fold(s)
	}
	// Flushed per batch: report.html may read the file while the task runs.
	_ = tm.w.Flush()
}

func (tm *telemetry) fold(s workspace.GPUSample) {
	sum := &tm.sum
	if s.XID != 0 {
		sum.XIDs = append(sum.XIDs, s.XID)
		sum.Faults = append(sum.Faults, fmt.Sprintf("XID %d on GPU %d (%s)", s.XID, s.Index, s.UUID))
		return
	}
	a := tm.acc[s.UUID]
	if a == nil {
		a = &gpuAcc{index: s.Index}
		tm.acc[s.UUID] = a
	}
	sum.Samples++
	if s.MemUsed != nil {
		sum.PeakMemUsed = max(sum.PeakMemUsed, *s.MemUsed)
	}
	if s.GPUUtil != nil {
		sum.UtilMax = max(sum.UtilMax, *s.GPUUtil)
		a.utilSum += float64(*s.GPUUtil)
		a.utilN++
	}
	if s.TempC != nil {
		sum.TempMaxC = max(sum.TempMaxC, *s.TempC)
	}
	for _, e := range s.ClockEvents {
		// An idle GPU lowers its clocks: no throttling to report.
		if e != "gpu_idle" && !slices.Contains(sum.ClockEvents, e) {
			sum.ClockEvents = append(sum.ClockEvents, e)
		}
	}
	if s.ECCUncorrected != nil {
		if a.eccFirst == nil {
			a.eccFirst = s.ECCUncorrected
		}
		a.eccNow = s.ECCUncorrected
	}
}

// finish stops sampling and returns the summary. It waits for the last
// sample at most wait: a hung NVML call must not hold up the task's record.
func (tm *telemetry) finish(wait time.Duration) *workspace.GPUSummary {
	close(tm.stop)
	select {
	case <-tm.sampled:
	case <-time.After(wait):
		tm.log.Warn().Dur("waited", wait).Msg("GPU telemetry did not answer in time: the summary lacks the last sample")
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.closed = true
	_ = tm.w.Flush()
	if err := tm.f.Close(); err != nil {
		tm.log.Warn().Err(err).Msg("could not write the GPU telemetry file")
	}
	sum := tm.sum
	sum.Faults = slices.Clone(sum.Faults)
	var utilSum float64
	var utilN int
	uuids := make([]string, 0, len(tm.acc))
	for u := range tm.acc {
		uuids = append(uuids, u)
	}
	slices.Sort(uuids)
	for _, u := range uuids {
		a := tm.acc[u]
		utilSum, utilN = utilSum+a.utilSum, utilN+a.utilN
		if a.eccFirst != nil && *a.eccNow > *a.eccFirst {
			n := *a.eccNow - *a.eccFirst
			sum.ECCUncorrected += n
			sum.Faults = append(sum.Faults, fmt.Sprintf("%d uncorrected ECC error(s) on GPU %d (%s)", n, a.index, u))
		}
	}
	if utilN > 0 {
		sum.UtilMean = utilSum / float64(utilN)
	}
	return &sum
}

// wait lets the readers end (at most wait), then closes the telemetry:
// the NVML library must not be shut down under a reader still in a call.
func (tm *telemetry) wait(wait time.Duration) {
	ended := make(chan struct{})
	go func() { tm.done.Wait(); close(ended) }()
	select {
	case <-ended:
		tm.t.Close()
	case <-time.After(wait):
		tm.log.Warn().Dur("waited", wait).Msg("GPU telemetry still in an NVML call; leaving it")
	}
}

// startTelemetry starts sampling the task's GPUs, or says once why not.
func (r *runner) startTelemetry() *telemetry {
	every := r.spec.GPU.Sample.D()
	if every <= 0 || len(r.rec.GPUs) == 0 || r.step.GPUMode == jobspec.GPUModeNone {
		return nil
	}
	missing := func(why string) *telemetry {
		r.log.Info().Str("why", why).Msg("no GPU telemetry")
		r.rec.GPU = &workspace.GPUSummary{Missing: why}
		return nil
	}
	if r.o.Telemetry == nil {
		why := r.o.NVMLUnavailable
		if why == "" {
			why = "NVML unavailable"
		}
		return missing(why)
	}
	t, err := r.o.Telemetry.OpenTelemetry(r.rec.GPUs)
	if err != nil {
		return missing(err.Error())
	}
	if m := t.Missing(); len(m) > 0 {
		r.log.Warn().Strs("functions", m).Msg("this NVIDIA driver lacks NVML functions: GPU telemetry goes without what they read")
	}
	tm, err := startTelemetry(t, r.ws.Telemetry(r.step.Role, r.task.ProcID), every, r.log)
	if err != nil {
		t.Close()
		return missing(err.Error())
	}
	return tm
}

// judgeGPUFaults applies the spec's gpu.faults to the faults seen during
// the task and returns the task's exit status.
func (r *runner) judgeGPUFaults(code int) int {
	if r.rec.GPU == nil || len(r.rec.GPU.Faults) == 0 {
		return code
	}
	msg := "GPU fault during the task: " + strings.Join(r.rec.GPU.Faults, "; ")
	if f, _ := gpu.ParseFaults(r.spec.GPU.Faults); f != gpu.FaultsFail {
		r.log.Warn().Msg(msg + " (--gpu-faults warn: the task's result stands)")
		return code
	}
	r.log.Error().Msg(msg + " (--gpu-faults fail: the task fails)")
	r.rec.Error = msg + "; the task fails because of --gpu-faults fail"
	if code == 0 {
		code = exitcode.GPUFault
		r.rec.ExitCode = code
	}
	return code
}
