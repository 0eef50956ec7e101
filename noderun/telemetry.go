package noderun

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
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

// maxFaultPhrases bounds the fault phrases of a summary: an XID storm must
// not flood the record, results.xml and the summary. The rest is counted.
const maxFaultPhrases = 8

// telemetry samples a task's GPUs while its child runs, writes each reading
// to the task's telemetry file and keeps the summary for its record. It
// opens the GPUs in its own goroutine: NVML can block for seconds on a
// sick GPU, and the runner must forward signals meanwhile.
type telemetry struct {
	src     gpu.TelemetrySource
	devices []string
	path    string
	every   time.Duration
	log     zerolog.Logger

	mu     sync.Mutex
	opened bool
	f      *os.File
	w      *bufio.Writer
	sum    workspace.GPUSummary
	acc    map[string]*gpuAcc // by UUID
	xids   []xidKey           // in order of first sight
	xidN   map[xidKey]int
	closed bool

	stop    chan struct{} // the child ended: take the last sample
	abandon func()        // finish gave up waiting: read no further GPU
	sampled chan struct{} // closed when both readers ended (or never began)
	ended   chan struct{} // closed when the readers ended and the telemetry is closed
}

// xidKey is one kind of XID fault: an XID on a GPU.
type xidKey struct {
	uuid  string
	index int
	xid   uint64
}

// gpuAcc is what the summary needs of one GPU.
type gpuAcc struct {
	index            int
	eccFirst, eccNow *uint64
	utilSum          float64
	utilN            int
}

func newTelemetry(src gpu.TelemetrySource, devices []string, path string, every time.Duration, log zerolog.Logger) *telemetry {
	return &telemetry{src: src, devices: devices, path: path, every: every, log: log,
		acc: map[string]*gpuAcc{}, xidN: map[xidKey]int{}, abandon: func() {},
		stop: make(chan struct{}), sampled: make(chan struct{}), ended: make(chan struct{})}
}

// startTelemetry starts opening the devices' telemetry and then sampling
// every interval into path, the first sample at once. It returns at once.
func startTelemetry(src gpu.TelemetrySource, devices []string, path string, every time.Duration, log zerolog.Logger) *telemetry {
	tm := newTelemetry(src, devices, path, every, log)
	ctx, cancel := context.WithCancel(context.Background())
	tm.abandon = cancel
	go tm.run(ctx)
	return tm
}

func (tm *telemetry) run(ctx context.Context) {
	defer close(tm.ended)
	t, err := tm.open()
	if err != nil {
		tm.log.Info().Str("why", err.Error()).Msg("no GPU telemetry")
		tm.mu.Lock()
		tm.sum.Missing = err.Error()
		tm.mu.Unlock()
		close(tm.sampled) // after Missing: finish reads it then
		return
	}
	defer t.Close()
	var events sync.WaitGroup
	events.Add(1)
	go func() {
		defer events.Done()
		tm.events(t)
	}()
	tm.sample(ctx, t)
	// The event reader's last wait may hold an XID of the task's last
	// moments: finish waits for it too (within its bound, > eventWait).
	events.Wait()
	close(tm.sampled)
}

// open opens the telemetry and its file, unless the task ended meanwhile.
func (tm *telemetry) open() (gpu.Telemetry, error) {
	t, err := tm.src.OpenTelemetry(tm.devices)
	if err != nil {
		return nil, err
	}
	if m := t.Missing(); len(m) > 0 {
		tm.log.Warn().Strs("functions", m).Msg("this NVIDIA driver lacks NVML functions: GPU telemetry goes without what they read")
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	fail := func(err error) (gpu.Telemetry, error) {
		t.Close()
		return nil, err
	}
	if tm.closed {
		return fail(errors.New("the task ended before its GPU telemetry opened"))
	}
	if err := os.MkdirAll(filepath.Dir(tm.path), 0o755); err != nil {
		return fail(fmt.Errorf("create telemetry directory: %w", err))
	}
	if tm.f, err = os.Create(tm.path); err != nil {
		return fail(fmt.Errorf("create telemetry file: %w", err))
	}
	tm.w, tm.opened = bufio.NewWriter(tm.f), true
	return t, nil
}

func (tm *telemetry) sample(ctx context.Context, t gpu.Telemetry) {
	tick := time.NewTicker(tm.every)
	defer tick.Stop()
	for {
		tm.add(t.Sample(ctx, time.Now().UTC())...)
		select {
		case <-tick.C:
		case <-tm.stop:
			// The last reading: ECC errors up to the end of the task.
			tm.add(t.Sample(ctx, time.Now().UTC())...)
			return
		}
	}
}

func (tm *telemetry) events(t gpu.Telemetry) {
	failed := false
	for {
		// At least one wait, so an XID due before a quick task ended is read.
		e, ok, err := t.WaitEvent(eventWait)
		if err != nil && !failed {
			failed = true // once: a lost GPU fails every wait
			tm.log.Warn().Err(err).Msg("cannot wait for GPU XID events")
		}
		if ok {
			tm.add(e)
		}
		select {
		case <-tm.stop:
			return
		default:
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
		sum.XIDCount++
		k := xidKey{uuid: s.UUID, index: s.Index, xid: s.XID}
		if tm.xidN[k] == 0 {
			// Logged once per GPU and XID: a storm repeats one XID.
			tm.log.Warn().Uint64("xid", s.XID).Int("gpu", s.Index).Str("uuid", s.UUID).Msg("GPU XID event")
			tm.xids = append(tm.xids, k)
			if !slices.Contains(sum.XIDs, s.XID) {
				sum.XIDs = append(sum.XIDs, s.XID)
			}
		}
		tm.xidN[k]++
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
		tm.abandon()
		tm.log.Warn().Dur("waited", wait).Msg("GPU telemetry did not answer in time: the summary lacks the last sample")
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.closed = true
	if tm.f != nil {
		_ = tm.w.Flush()
		if err := tm.f.Close(); err != nil {
			tm.log.Warn().Err(err).Msg("could not write the GPU telemetry file")
		}
	}
	sum := tm.sum
	sum.XIDs = slices.Clone(sum.XIDs)
	if !tm.opened && sum.Missing == "" {
		sum.Missing = "NVML did not answer in time to open the GPU telemetry"
	}
	var faults []string
	for _, k := range tm.xids {
		f := fmt.Sprintf("XID %d on GPU %d (%s)", k.xid, k.index, k.uuid)
		if n := tm.xidN[k]; n > 1 {
			f += fmt.Sprintf(" ×%d", n)
		}
		faults = append(faults, f)
	}
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
			faults = append(faults, fmt.Sprintf("%d uncorrected ECC error(s) on GPU %d (%s)", n, a.index, u))
		}
	}
	if len(faults) > maxFaultPhrases {
		more := len(faults) - (maxFaultPhrases - 1)
		faults = append(faults[:maxFaultPhrases-1], fmt.Sprintf("%d more kinds of fault in the telemetry file", more))
	}
	sum.Faults = faults
	if utilN > 0 {
		sum.UtilMean = utilSum / float64(utilN)
	}
	return &sum
}

// wait lets the readers end, at most wait. A reader still in an NVML call
// keeps its telemetry open, and so NVML initialised (see gpu.TelemetrySource).
func (tm *telemetry) wait(wait time.Duration) {
	select {
	case <-tm.ended:
	case <-time.After(wait):
		tm.log.Warn().Dur("waited", wait).Msg("GPU telemetry still in an NVML call: leaving NVML initialised")
	}
}

// startTelemetry starts sampling the task's GPUs, or says once why not. It
// makes no NVML call: that happens in the telemetry's own goroutine.
func (r *runner) startTelemetry() *telemetry {
	every := r.spec.GPU.Sample.D()
	if every <= 0 || len(r.rec.GPUs) == 0 || r.step.GPUMode == jobspec.GPUModeNone {
		return nil
	}
	if r.o.Telemetry == nil {
		why := r.o.NVMLUnavailable
		if why == "" {
			why = "NVML unavailable"
		}
		r.log.Info().Str("why", why).Msg("no GPU telemetry")
		r.rec.GPU = &workspace.GPUSummary{Missing: why}
		return nil
	}
	return startTelemetry(r.o.Telemetry, r.rec.GPUs, r.ws.Telemetry(r.step.Role, r.task.ProcID), every, r.log)
}

// failsOnGPUFault reports whether the spec's gpu.faults fails a task for a
// GPU fault.
func failsOnGPUFault(faults string) bool {
	f, _ := gpu.ParseFaults(faults)
	return f == gpu.FaultsFail
}

// judgeGPUFaults applies the spec's gpu.faults to the faults seen during
// the task and returns the task's exit status.
func (r *runner) judgeGPUFaults(code int) int {
	if r.rec.GPU == nil || len(r.rec.GPU.Faults) == 0 {
		return code
	}
	msg := "GPU fault during the task: " + strings.Join(r.rec.GPU.Faults, "; ")
	if !failsOnGPUFault(r.spec.GPU.Faults) {
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
