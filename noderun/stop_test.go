package noderun

import (
	"context"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/internal/jobspec"
)

// virtualStop drives a stopWatch on a virtual clock: tick k is virtual time
// k·Every, and the stop request exists from virtual time requestAt on.
type virtualStop struct {
	t         *testing.T
	requestAt time.Duration
	ticks     chan time.Time
	statted   chan time.Duration
	mu        sync.Mutex
	now       time.Duration
	stats     int
	every     time.Duration
}

func newVirtualStop(t *testing.T, requestAt time.Duration) *virtualStop {
	return &virtualStop{t: t, requestAt: requestAt, ticks: make(chan time.Time), statted: make(chan time.Duration, 1024)}
}

func (v *virtualStop) watch() stopWatch {
	return stopWatch{
		File: "stop", Every: stopPoll,
		Tick: func(d time.Duration) (<-chan time.Time, func()) {
			v.every = d
			return v.ticks, func() {}
		},
		Stat: func(string) (fs.FileInfo, error) {
			v.mu.Lock()
			defer v.mu.Unlock()
			v.stats++
			v.statted <- v.now
			if v.requestAt > 0 && v.now >= v.requestAt {
				return nil, nil
			}
			return nil, fs.ErrNotExist
		},
	}
}

// advance moves the virtual clock to the next tick and waits for the
// watcher's stat; ok is false when the watcher no longer takes ticks, found
// says whether the stat found the request.
func (v *virtualStop) advance() (ok, found bool) {
	v.mu.Lock()
	v.now += v.every
	v.mu.Unlock()
	select {
	case v.ticks <- time.Time{}:
	case <-time.After(5 * time.Second): // a hang guard, not a timing goal
		return false, false
	}
	select {
	case at := <-v.statted:
		return true, v.requestAt > 0 && at >= v.requestAt
	case <-time.After(5 * time.Second):
		v.t.Fatal("the watcher took a tick but did not look for the stop request")
	}
	return false, false
}

// An idle runner costs the shared filesystem at most one stat a second,
// counted over 60 virtual seconds of an injected ticker.
func TestStopWatchStatsPerSecond(t *testing.T) {
	v := newVirtualStop(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v.watch().withStopRequest(ctx, make(chan os.Signal))
	const horizon = 60 * time.Second
	for v.now+stopPoll <= horizon {
		if ok, _ := v.advance(); !ok {
			t.Fatal("the watcher stopped taking ticks without a stop request")
		}
	}
	if v.every <= 0 {
		t.Fatalf("ticker period %s", v.every)
	}
	perSecond := float64(v.stats) / horizon.Seconds()
	if perSecond > 1 {
		t.Errorf("%d stats in %s (%.1f/s, period %s), want at most 1/s", v.stats, horizon, perSecond, v.every)
	}
	if v.stats == 0 {
		t.Error("the watcher never looked for the stop request")
	}
}

// A stop request is seen within a second of virtual time, wherever it
// falls between two ticks, becomes one SIGINT, and ends the polling.
func TestStopWatchSeesRequestWithinASecond(t *testing.T) {
	for k := 4; k <= 16; k++ {
		requestAt := time.Duration(k)*250*time.Millisecond + time.Millisecond
		v := newVirtualStop(t, requestAt)
		ctx, cancel := context.WithCancel(context.Background())
		out := v.watch().withStopRequest(ctx, make(chan os.Signal))
		var seenAt time.Duration
		for seenAt == 0 && v.now < time.Minute {
			ok, found := v.advance()
			if !ok {
				t.Fatal("the watcher stopped taking ticks before it saw the request")
			}
			if !found {
				continue
			}
			if s := <-out; s != syscall.SIGINT {
				t.Fatalf("got %v, want SIGINT", s)
			}
			seenAt = v.now
		}
		if seenAt == 0 || seenAt-requestAt > time.Second {
			t.Errorf("request at %s seen at %s, want within 1 s", requestAt, seenAt)
		}
		// The watcher takes no more ticks and sends nothing more.
		select {
		case v.ticks <- time.Time{}:
			t.Error("the watcher still polls after it saw the request")
		case s := <-out:
			t.Errorf("a second signal %v after one stop request", s)
		case <-time.After(50 * time.Millisecond):
		}
		cancel()
	}
}

// BenchmarkIdleRunnerCPU reports the CPU a runner uses per second while
// its child sleeps (goal: at most 0.3 ms/s), and its context switches: the
// process's getrusage over a window in which only the runner runs, minus the
// same window with nothing running (the test binary's own idle cost,
// reported as base-cpu-us/s).
// Run: go test -run '^$' -bench IdleRunnerCPU -benchtime 3x ./noderun
func BenchmarkIdleRunnerCPU(b *testing.B) {
	const window = 3 * time.Second
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	LimitProcs() // as `noderun run` does
	var base, cpu idleUse
	for i := 0; i < b.N; i++ {
		base.add(measureIdle(b, window))
		tmp := b.TempDir()
		spec := &jobspec.Spec{
			Version: jobspec.Version, Workspace: tmp, NodeLocalDir: tmp, Nodes: 1,
			Timeouts: jobspec.Timeouts{KillGrace: jobspec.Duration(time.Second)},
			Steps: []jobspec.Step{{Role: jobspec.RoleWorker, Kind: jobspec.KindWorker, Nodes: 1, Tasks: 1, TasksPerNode: 1,
				GPUMode: jobspec.GPUModeNone, Command: jobspec.Command{Argv: []string{"sleep", (window + 2*time.Second).String()}}}},
		}
		env := append(os.Environ(), "SLURM_JOB_ID=1", "SLURM_STEP_ID=0", "SLURM_PROCID=0", "SLURM_LOCALID=0",
			"SLURM_NODEID=0", "SLURMD_NODENAME=n1", "SLURM_JOB_NODELIST=n1", "SLURM_STEP_NODELIST=n1",
			"SLURM_NTASKS=1", "SLURM_STEP_NUM_TASKS=1", "SLURM_JOB_NUM_NODES=1")
		done := make(chan error, 1)
		go func() {
			_, err := Run(context.Background(), RunOptions{Spec: spec, Role: spec.Steps[0].Role, Environ: env, Log: zerolog.Nop(), Signals: make(chan os.Signal)})
			done <- err
		}()
		time.Sleep(time.Second) // the child runs
		cpu.add(measureIdle(b, window))
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) / window.Seconds() }
	b.ReportMetric(per(cpu.cpu-base.cpu), "cpu-us/s")
	b.ReportMetric(per(base.cpu), "base-cpu-us/s")
	b.ReportMetric(float64(cpu.switches-base.switches)/float64(b.N)/window.Seconds(), "switches/s")
}

type idleUse struct {
	cpu      time.Duration
	switches int64
}

func (u *idleUse) add(v idleUse) { u.cpu, u.switches = u.cpu+v.cpu, u.switches+v.switches }

// measureIdle is what the process used while it slept for window.
func measureIdle(b *testing.B, window time.Duration) idleUse {
	before := rusage(b)
	time.Sleep(window)
	after := rusage(b)
	return idleUse{cpu: after.cpu - before.cpu, switches: after.switches - before.switches}
}

func rusage(b *testing.B) idleUse {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return idleUse{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), switches: ru.Nvcsw + ru.Nivcsw}
}
