// Package launcher is the submit side of noderun: it turns a request (flags,
// environment, a perf config YAML) into a plan, a job spec, a test list and
// an sbatch stub, writes them into the workspace, and submits the job, to
// Slurm or to the local simulation, optionally following it to its verdict.
package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/internal/atomicfile"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/logging"
	"github.com/noderun/noderun/internal/workspace"
)

// LocalRunner runs the job described by the spec at specPath on this
// machine, Slurm simulated, with localGPUs fake GPUs per simulated node. It
// returns when the job has ended and WS/job-result.json is written; err is
// for faults of the simulation itself, not for a failed job.
type LocalRunner func(ctx context.Context, specPath string, localGPUs int) (exitCode int, err error)

// Options are the outside world of a Launcher. Only cmd/ builds the real
// ones; tests pass fakes.
type Options struct {
	Log zerolog.Logger
	// Stdout receives the job id, the plan, the stub, progress and the summary.
	Stdout io.Writer
	// Scheduler submits and follows jobs; nil: NewSlurm().
	Scheduler Scheduler
	// Local runs --local jobs; nil: --local is refused.
	Local LocalRunner
	// Executable returns the path of the binary copied to WS/bin/noderun;
	// nil: os.Executable.
	Executable func() (string, error)
	// Sleep waits between polls; nil: a timer that honours ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// SubmissionID returns the id written into job.json; nil: a random one.
	SubmissionID func() string
	// IsTerminal decides between a live progress line and log lines; nil:
	// whether Stdout is a terminal.
	IsTerminal func(w io.Writer) bool
	// Signals delivers the signals that abort a follower; nil: the
	// follower subscribes to SIGINT, SIGTERM and SIGHUP while it follows.
	Signals <-chan os.Signal
}

// Launcher carries out `noderun submit`.
type Launcher struct{ o Options }

// New returns a Launcher, filling the defaults of o.
func New(o Options) *Launcher {
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Scheduler == nil {
		o.Scheduler = NewSlurm()
	}
	if o.Executable == nil {
		o.Executable = os.Executable
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.IsTerminal == nil {
		o.IsTerminal = logging.IsTerminal
	}
	if o.SubmissionID == nil {
		o.SubmissionID = jobspec.NewSubmissionID
	}
	return &Launcher{o: o}
}

// ErrLocalNotWired is returned for --local when no LocalRunner was given.
var ErrLocalNotWired = errors.New("--local: the local simulation is not wired into this noderun build")

// Submit validates req, writes the workspace and submits the job (or runs
// it locally), following it with --wait. Validation errors exit 2 with
// nothing written; a job that ran and failed exits with its outcome's status.
func (l *Launcher) Submit(ctx context.Context, req Request) error {
	p, err := l.Prepare(req)
	if err != nil {
		return err
	}
	// Check what the chosen path needs before anything is written; mode
	// only names that path in the log.
	mode := "sbatch"
	switch {
	case req.DryRun:
		mode = "dry-run"
	case req.Local:
		mode = "local"
		if l.o.Local == nil {
			return exitcode.With(exitcode.Submit, ErrLocalNotWired)
		}
	default:
		if a, ok := l.o.Scheduler.(interface{ Available() error }); ok {
			if err := a.Available(); err != nil {
				return exitcode.With(exitcode.Submit, err)
			}
		}
		if req.Wait {
			if err := l.followAvailable(); err != nil {
				return err
			}
		}
	}
	claim, err := l.claimOwner(ctx, p, req.Local)
	if err != nil {
		return err
	}
	// The claim goes again unless a job may run under it.
	keep := false
	defer func() {
		if !keep {
			l.releaseOwner(p.Workspace, claim)
		}
	}()
	if err := l.Write(p); err != nil {
		return exitcode.With(exitcode.Internal, err)
	}
	log := l.o.Log.With().Str("workspace", p.Workspace.Dir).Str("test_id", p.TestID.String()).Logger()
	log.Info().Str("mode", mode).Int("nodes", p.Plan.Nodes).Int("gpus", p.Plan.GPUs).Int("steps", len(p.Plan.Steps)).Msg("workspace written")

	switch {
	case req.DryRun:
		if err := p.Plan.WriteTable(l.o.Stdout); err != nil {
			return err
		}
		if err := p.WriteRoles(l.o.Stdout); err != nil {
			return err
		}
		fmt.Fprintf(l.o.Stdout, "\n--- %s\n", p.Workspace.Sbatch())
		if _, err := l.o.Stdout.Write(p.Stub); err != nil {
			return err
		}
		return l.testOnly(ctx, p)
	case req.Local:
		keep = true
		code, err := l.o.Local(ctx, p.Workspace.Spec(), p.LocalGPUs)
		if err != nil {
			return exitcode.With(exitcode.Submit, fmt.Errorf("run the job locally: %w", err))
		}
		return l.finish(p, code)
	}
	id, err := l.o.Scheduler.Submit(ctx, p.Workspace.Sbatch())
	if err != nil {
		if errors.Is(err, ErrSubmitUnknown) {
			// A job that may run keeps the workspace, so that no submit clears it.
			keep = true
			err = fmt.Errorf("%w; the workspace stays claimed (%s): if no job of it runs, remove that file", err, p.Workspace.Owner())
		}
		return exitcode.With(exitcode.Submit, err)
	}
	keep = true
	// The job may be running already: record it before anything else.
	claim.JobID = id
	if err := p.Workspace.SaveOwner(claim); err != nil {
		log.Error().Err(err).Str("job_id", id).Msg("the job runs, but the workspace does not name it: status, wait and cancel cannot find it")
	}
	log.Info().Str("job_id", id).Msg("job submitted")
	fmt.Fprintln(l.o.Stdout, id)
	if !req.Wait {
		return nil
	}
	return l.follow(ctx, p, id, req.Follow)
}

// testOnly asks Slurm, when this machine can, whether it would run the
// dry run's stub (sbatch --test-only), and says what it answered; a refusal
// is a submit failure (exit 75), a Slurm that cannot be asked only a note.
func (l *Launcher) testOnly(ctx context.Context, p *Prepared) error {
	t, ok := l.o.Scheduler.(interface {
		TestOnly(ctx context.Context, script string) (string, bool, error)
	})
	if !ok {
		return nil
	}
	answer, refused, err := t.TestOnly(ctx, p.Workspace.Sbatch())
	switch {
	case errors.Is(err, ErrNoSbatch):
		fmt.Fprintln(l.o.Stdout, "\n--- sbatch --test-only: not asked, sbatch is not on this machine")
	case err != nil:
		fmt.Fprintf(l.o.Stdout, "\n--- sbatch --test-only: Slurm could not be asked\n%v\n", err)
	case refused:
		fmt.Fprintf(l.o.Stdout, "\n--- sbatch --test-only: Slurm refuses the job\n%s\n", answer)
		return exitcode.With(exitcode.Submit, fmt.Errorf("Slurm would refuse this job (sbatch --test-only): %s", answer))
	default:
		fmt.Fprintf(l.o.Stdout, "\n--- sbatch --test-only (Slurm's answer; nothing submitted)\n%s\n", answer)
	}
	return nil
}

// Write puts the prepared files into the workspace, each atomically, in
// this order: bin/noderun (the largest, most likely to fail), job.json,
// test_list.txt, and job.sbatch last, because the stub refers to the other
// files and is what gets submitted: a workspace with a stub is complete.
// Outputs of an earlier job in the same workspace are removed first so that
// --wait never reads a stale verdict.
func (l *Launcher) Write(p *Prepared) error {
	ws := p.Workspace
	if err := os.MkdirAll(ws.Dir, 0o755); err != nil {
		return fmt.Errorf("create workspace: %w", err)
	}
	if err := ws.ClearTestOutput(p.TestID.Param()); err != nil {
		return err
	}
	if err := l.clearOutputs(ws); err != nil {
		return err
	}
	if err := l.copyExecutable(ws.Binary()); err != nil {
		return err
	}
	if err := p.Spec.Save(ws.Spec()); err != nil {
		return fmt.Errorf("write job spec: %w", err)
	}
	if err := atomicfile.WriteFile(ws.TestList(), p.TestList, 0o644); err != nil {
		return fmt.Errorf("write test list: %w", err)
	}
	if p.Waives != nil {
		if err := atomicfile.WriteFile(ws.Waives(), p.Waives, 0o644); err != nil {
			return fmt.Errorf("write waives file: %w", err)
		}
	}
	if err := atomicfile.WriteFile(ws.Sbatch(), p.Stub, 0o755); err != nil {
		return fmt.Errorf("write batch stub: %w", err)
	}
	return nil
}

// clearOutputs removes what an earlier job left (workspace.Layout.ClearOutputs
// says which), logging each path removed.
func (l *Launcher) clearOutputs(ws workspace.Layout) error {
	removed, err := ws.ClearOutputs()
	for _, p := range removed {
		l.o.Log.Info().Str("path", p).Msg("removed output of an earlier job")
	}
	return err
}

// copyExecutable copies the running binary so that the compute nodes run
// exactly this version (the spec version must match).
func (l *Launcher) copyExecutable(dst string) error {
	src, err := l.o.Executable()
	if err != nil {
		return fmt.Errorf("find the noderun binary: %w", err)
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy noderun binary: %w", err)
	}
	defer f.Close()
	if err := atomicfile.Write(dst, 0o755, func(w io.Writer) error {
		_, err := io.Copy(w, f)
		return err
	}); err != nil {
		return fmt.Errorf("copy noderun binary: %w", err)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
