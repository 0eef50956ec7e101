package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/procgroup"
	"github.com/noderun/noderun/internal/workspace"
)

// What a follower does when it is told to stop (SIGINT, SIGTERM, SIGHUP).
const (
	// OnAbortCancel cancels the job, waits for its results and exits 128+signal.
	OnAbortCancel = "cancel"
	// OnAbortDetach leaves the job running; `noderun wait` follows it again.
	OnAbortDetach = "detach"
)

const (
	// resultCheck is how often the follower looks for job-result.json and
	// redraws its live line between squeue polls.
	resultCheck = time.Second
	// heartbeat bounds the silence of a follower on a pipe: a poll prints a
	// line when the last one is this old (polls are at most 15 s apart, so a
	// line comes at least once a minute).
	heartbeat = 45 * time.Second
	// defaultKillWait is Slurm's default KillWait, used when scontrol cannot tell.
	defaultKillWait = 30 * time.Second
	// cancelMargin is added to KillWait for the end of a cancelled job to
	// reach squeue and its results the shared filesystem.
	cancelMargin = 15 * time.Second
)

// Follow is how a follower (submit --wait, wait) handles the edges of a
// job's life. Flags binds it.
type Follow struct {
	OnAbort        string
	PendingTimeout time.Duration
}

var (
	flagOnAbort        = flagName{"on-abort", env("ON_ABORT")}
	flagPendingTimeout = flagName{"pending-timeout", env("PENDING_TIMEOUT")}
)

// Flags returns the follower's flags, bound to f.
func (f *Follow) Flags(category string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagOnAbort.Name, Category: category, EnvVars: flagOnAbort.Env, Value: OnAbortCancel, Destination: &f.OnAbort,
			Usage: "`MODE` for SIGINT, SIGTERM or SIGHUP while following: cancel (cancel the job, wait for its results, exit 128+signal) or detach (leave it running)"},
		&cli.DurationFlag{Name: flagPendingTimeout.Name, Category: category, EnvVars: flagPendingTimeout.Env, Destination: &f.PendingTimeout,
			Usage: "cancel a job still pending after this `DURATION` of following; a pending reason that can never clear (PartitionNodeLimit, …) cancels it at once " + durationHelp(flagPendingTimeout)},
	}
}

// Validate checks the follower's flags: exit status 2 for a bad value.
func (f *Follow) Validate() error {
	switch f.OnAbort {
	case "", OnAbortCancel, OnAbortDetach:
	default:
		return usageError(flagOnAbort, "%q: choose %s or %s", f.OnAbort, OnAbortCancel, OnAbortDetach)
	}
	return checkDuration(flagPendingTimeout, f.PendingTimeout)
}

// hopelessReasons are pending reasons that cannot clear for this job: the
// request itself exceeds what the partition, account or QOS allows.
var hopelessReasons = map[string]bool{
	"PartitionNodeLimit": true, "PartitionTimeLimit": true, "InvalidAccount": true, "InvalidQOS": true,
	"BadConstraints": true, "AccountNotAllowed": true, "QOSNotAllowed": true, "DependencyNeverSatisfied": true,
}

// hopeless reports a pending reason that can never clear: one of
// hopelessReasons, or an association or QOS limit per job.
func hopeless(reason string) bool {
	reason = strings.Trim(reason, "()")
	return hopelessReasons[reason] ||
		((strings.HasPrefix(reason, "Assoc") || strings.HasPrefix(reason, "QOS")) && strings.Contains(reason, "PerJob"))
}

// follower follows one Slurm job to its end.
type follower struct {
	l    *Launcher
	p    *Prepared
	id   string
	o    Follow
	sigs <-chan os.Signal
	term bool

	start  time.Time
	waited time.Duration // the sum of pauses: the clock of tests, whose pauses take no time
	prog   Progress
	polled time.Duration // when prog was polled
	key    string
	said   time.Duration // when the last line was printed on a pipe
	live   bool          // a live line is on the terminal

	// abort is the signal that stopped the follower; cancelBy, once set,
	// is when a cancelled job should have ended.
	abort    os.Signal
	cancelBy time.Duration
	overdue  bool // cancelBy has passed
	// stopOutcome and stopReason say why the follower cancelled the job
	// itself (a pending reason that cannot clear, --pending-timeout).
	stopOutcome, stopReason string
	// stop ends the follower's signal subscription; nil when it has none.
	stop func()
	// seen is the result in the workspace at the last poll that found the
	// job active; noticed, that a pause ended for a new one.
	seen    string
	noticed bool
}

// follow polls the job until it ends, showing progress, then finishes.
func (l *Launcher) follow(ctx context.Context, p *Prepared, id string, o Follow) error {
	f := l.newFollower(p, id, o)
	defer f.close()
	return f.run(ctx)
}

func (l *Launcher) newFollower(p *Prepared, id string, o Follow) *follower {
	f := &follower{l: l, p: p, id: id, o: o, sigs: l.o.Signals, term: l.o.IsTerminal(l.o.Stdout), start: time.Now()}
	if f.o.OnAbort == "" {
		f.o.OnAbort = OnAbortCancel
	}
	if f.sigs == nil {
		ch := make(chan os.Signal, 2)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		f.sigs = ch
		f.stop = func() { signal.Stop(ch) }
	}
	return f
}

func (f *follower) close() {
	if f.stop != nil {
		f.stop()
	}
}

// now is the time since the follower started.
func (f *follower) now() time.Duration { return max(f.waited, time.Since(f.start)) }

func (f *follower) run(ctx context.Context) error {
	delay := pollFirst
	failures := 0
	last := JobState{ID: f.id}
	for {
		states, err := f.l.o.Scheduler.Poll(ctx, []string{f.id})
		switch {
		case ctx.Err() != nil:
			return stopped(f.id, ctx.Err())
		case errors.Is(err, ErrMissingCommand):
			return exitcode.With(exitcode.Submit, err)
		case err != nil:
			failures++
			f.l.o.Log.Warn().Err(err).Str("job_id", f.id).Int("failures", failures).Msg("poll job state")
			if failures >= maxPollErrors {
				return exitcode.With(exitcode.Submit, fmt.Errorf("follow job %s: %d polls in a row failed, the last with: %w; the job may still be running (squeue -j %s; scancel %s stops it)", f.id, failures, err, f.id, f.id))
			}
		default:
			failures = 0
			last = stateOf(states, f.id)
			f.prog, f.polled = f.l.progress(f.p, f.id, last), f.now()
			f.show(f.prog)
			if f.prog.Ended() {
				f.endLine()
				return f.done(ctx, last)
			}
			// A result while the job is active is an earlier attempt's
			// (the job was requeued) or one its batch step is still writing.
			f.seen = f.resultKey()
			if err := f.checkPending(ctx, last); err != nil {
				return err
			}
		}
		if f.cancelBy > 0 && !f.overdue && f.now() >= f.cancelBy {
			// Its batch step may still be merging: the results are written
			// only once Slurm says the job ended.
			f.say("job %s: still %s although it was cancelled: waiting for Slurm to end it, then for its results (a second signal stops waiting)", f.id, orDefault(last.State, "in the queue"))
			f.overdue = true
		}
		if err := f.pause(ctx, delay); err != nil {
			return err
		}
		delay = min(delay*2, pollMax)
		if f.cancelBy > 0 || f.noticed {
			delay = pollFirst // a cancelled job ends within KillWait: look often
		}
	}
}

// pause waits d before the next poll, in steps of resultCheck: each step
// looks for a new job-result.json, which ends the pause, and ticks the live line's clock; a signal ends
// the pause at once.
func (f *follower) pause(ctx context.Context, d time.Duration) error {
	for left := d; left > 0; left -= resultCheck {
		step := min(left, resultCheck)
		sig, err := f.sleep(ctx, step)
		f.waited += step
		if sig != nil {
			return f.aborted(ctx, sig)
		}
		if err != nil {
			return stopped(f.id, err)
		}
		if f.noticed = f.newResult(); f.noticed {
			return nil
		}
		if f.term && f.prog.State == "RUNNING" {
			prog := f.prog
			prog.Elapsed = addElapsed(prog.Elapsed, f.now()-f.polled)
			f.draw(prog)
		}
	}
	return nil
}

// sleep is Options.Sleep that a signal interrupts.
func (f *follower) sleep(ctx context.Context, d time.Duration) (os.Signal, error) {
	sctx, cancel := context.WithCancel(ctx)
	var got os.Signal
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case got = <-f.sigs:
			cancel()
		case <-sctx.Done():
		}
	}()
	err := f.l.o.Sleep(sctx, d)
	cancel()
	<-done
	if got == nil {
		select {
		case got = <-f.sigs:
		default:
		}
	}
	return got, err
}

// aborted handles a stop signal: detach, or cancel the job and go on
// following it to its results. A second signal stops following at once.
func (f *follower) aborted(ctx context.Context, sig os.Signal) error {
	code, name := signalStatus(sig), signalName(sig)
	f.endLine()
	if f.abort != nil {
		return exitcode.With(code, fmt.Errorf("%v again: stopped following job %s, which was cancelled; its results may not be written yet: `noderun wait --workspace %s` waits for them", name, f.id, f.p.Workspace.Dir))
	}
	f.abort = sig
	if f.cancelBy > 0 {
		// noderun cancel, or a job the follower stopped for pending: the
		// job is ending already; a second signal stops waiting for it.
		f.say("%v: job %s is already being cancelled; waiting for its results", name, f.id)
		return nil
	}
	if f.o.OnAbort == OnAbortDetach {
		return exitcode.With(code, fmt.Errorf("%v: detached from job %s, which keeps running (--on-abort detach): `noderun wait --workspace %s` follows it again, `noderun cancel --workspace %s` stops it",
			name, f.id, f.p.Workspace.Dir, f.p.Workspace.Dir))
	}
	f.say("%v: cancelling job %s (--on-abort cancel), then waiting for its results", name, f.id)
	return f.cancel(ctx, fmt.Sprintf("%v to the follower, --on-abort cancel", name))
}

// cancel cancels the job and sets the time the follower waits for its end.
// why is what the job's result says of the cancel, with who ran it:
// Slurm does not tell the job.
func (f *follower) cancel(ctx context.Context, why string) error {
	c, ok := f.l.o.Scheduler.(Canceller)
	if !ok {
		return exitcode.With(exitcode.Internal, fmt.Errorf("cannot cancel job %s: this scheduler cannot; scancel %s stops it", f.id, f.id))
	}
	if err := f.p.Workspace.WriteCancelNote(f.id, why); err != nil {
		f.l.o.Log.Warn().Err(err).Msg("the job's result will not say who cancelled it")
	}
	if err := c.Cancel(ctx, f.id); err != nil {
		_ = f.p.Workspace.RemoveCancelNote()
		// A missing or refusing scancel is Slurm's failure (75), whatever
		// asked for the cancel.
		return exitcode.With(exitcode.Submit, fmt.Errorf("cancel job %s: %w; it may still be running: scancel %s stops it", f.id, err, f.id))
	}
	wait := defaultKillWait
	if k, ok := f.l.o.Scheduler.(interface {
		KillWait(context.Context) (time.Duration, error)
	}); ok {
		if d, err := k.KillWait(ctx); err == nil {
			wait = d
		} else {
			f.l.o.Log.Debug().Err(err).Msg("Slurm's KillWait unknown; assuming its default")
		}
	}
	f.cancelBy = f.now() + wait + cancelMargin
	f.say("job %s cancelled: waiting up to %s for its results (Slurm's KillWait %s + %s)", f.id, (wait + cancelMargin).Round(time.Second), wait, cancelMargin)
	return nil
}

// checkPending cancels a job that pends for a reason that cannot clear,
// or longer than --pending-timeout.
func (f *follower) checkPending(ctx context.Context, st JobState) error {
	if st.State != "PENDING" || f.cancelBy > 0 {
		return nil
	}
	reason := strings.Trim(st.Reason, "()")
	why := ""
	switch {
	case hopeless(reason):
		why = fmt.Sprintf("Slurm keeps the job pending for %s, which cannot clear: the job asks for more than its partition, account or QOS allows; change its size, --time, --partition or --account", reason)
	case f.o.PendingTimeout > 0 && f.now() >= f.o.PendingTimeout:
		why = fmt.Sprintf("the job was still pending (%s) after %s %s", orDefault(reason, "no reason given"), flagPendingTimeout, f.o.PendingTimeout)
	default:
		return nil
	}
	f.endLine()
	f.say("job %s: %s: cancelling it", f.id, why)
	f.stopOutcome, f.stopReason = workspace.OutcomeStartFailed, why
	return f.cancel(ctx, "it could not start: "+reason)
}

// done finishes the follow; after an abort the exit status is 128+signal,
// with the summary printed all the same.
func (f *follower) done(ctx context.Context, st JobState) error {
	outcome := f.stopOutcome
	if outcome == "" && f.cancelBy > 0 && outcomeOfState(st.State) == workspace.OutcomeFailed {
		// The follower cancelled it: a state that names no outcome (gone
		// from the queue, COMPLETED as the cancel landed) is that cancel.
		outcome = workspace.OutcomeCancelled
	}
	err := f.l.finishSlurm(ctx, f.p, st, outcome, f.stopReason)
	if f.abort == nil {
		return err
	}
	code := signalStatus(f.abort)
	var e *exitcode.Error
	if errors.As(err, &e) && e.Err != nil {
		return exitcode.With(code, e.Err)
	}
	return exitcode.Silent(code)
}

// resultKey names the result in the workspace, "" when there is none.
func (f *follower) resultKey() string {
	res, err := f.p.Workspace.LoadJobResult()
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s/%d/%s", res.Submission, res.Attempt, res.End)
}

// newResult reports a result other than the one seen while the job was
// active: the job is ending, and is worth a poll now. Only Slurm saying it
// ended makes a result final.
func (f *follower) newResult() bool {
	k := f.resultKey()
	return k != "" && k != f.seen
}

// show prints a poll's progress: on a terminal the live line, on a pipe a
// line when something changed or the last line is heartbeat old.
func (f *follower) show(prog Progress) {
	if f.term {
		f.draw(prog)
		return
	}
	if k := prog.key(); k != f.key || f.now()-f.said >= heartbeat {
		fmt.Fprintln(f.l.o.Stdout, prog)
		f.key, f.said = k, f.now()
	}
}

func (f *follower) draw(prog Progress) {
	fmt.Fprintf(f.l.o.Stdout, "\r%s\x1b[K", prog)
	f.live = true
}

// endLine ends the live line, so that what follows starts on its own.
func (f *follower) endLine() {
	if f.live {
		fmt.Fprintln(f.l.o.Stdout)
		f.live = false
	}
}

// say prints what the follower did, as a line of its own.
func (f *follower) say(format string, args ...any) {
	f.endLine()
	fmt.Fprintf(f.l.o.Stdout, "noderun: "+format+"\n", args...)
	f.said = f.now()
}

// signalStatus is 128+signal, the status of a process a signal stopped.
func signalStatus(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return exitcode.SignalBase + int(s)
	}
	return exitcode.Failure
}

func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		return procgroup.SignalName(s)
	}
	return sig.String()
}

// addElapsed adds d to an elapsed time as squeue prints it (M:SS, H:MM:SS,
// D-HH:MM:SS), for the live line's clock between polls.
func addElapsed(elapsed string, d time.Duration) string {
	secs, err := parseTimeLimit(orDefault(elapsed, "0:00"))
	if err != nil || !strings.Contains(orDefault(elapsed, "0:00"), ":") {
		return elapsed
	}
	secs += int(d.Round(time.Second) / time.Second)
	days, h, m, s := secs/86400, secs/3600%24, secs/60%60, secs%60
	switch {
	case days > 0:
		return fmt.Sprintf("%d-%02d:%02d:%02d", days, h, m, s)
	case h > 0:
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}
