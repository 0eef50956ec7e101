package noderun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/internal/atomicfile"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/procgroup"
	"github.com/noderun/noderun/internal/redact"
	"github.com/noderun/noderun/internal/workspace"
)

// Files in a node's setup directory.
const (
	setupLockFile   = "setup.lock"
	setupDoneFile   = "setup.done"
	setupFailedFile = "setup.failed"
)

// setupPoll is how often waiters look for the leader's verdict (a few
// stats of node-local files); it keeps the release-to-start latency under 50 ms.
const setupPoll = 20 * time.Millisecond

// nodeSetup runs the spec's setup command once per node and attempt. The
// first task to create the lock file runs it; the others wait for its
// verdict. The directory is keyed by the attempt (job id, submission id,
// restart count), so a lock left by another job, by a job with the same id
// after a controller reset, or by an earlier attempt of a requeued job is
// never seen, let alone trusted.
type nodeSetup struct {
	Dir     string // <node-local>/<node>/<attempt>
	Node    string
	Command jobspec.Command
	Env     []string
	Timeout time.Duration
	Grace   time.Duration
	LogPath string
	Log     zerolog.Logger
}

// setupDir is the directory of one node's setup for one attempt.
func setupDir(nodeLocal, node string, attempt workspace.Attempt) string {
	return filepath.Join(nodeLocal, node, attempt.Key())
}

// Do runs or awaits the setup. It returns nil once setup succeeded on this
// node, and an error naming the node and the setup log otherwise.
func (s *nodeSetup) Do(ctx context.Context) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return exitcode.With(exitcode.SetupFailed, fmt.Errorf("create setup directory: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	lock, err := os.OpenFile(filepath.Join(s.Dir, setupLockFile), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	switch {
	case err == nil:
		fmt.Fprintf(lock, "%d\n", os.Getpid())
		lock.Close()
		return s.lead(ctx)
	case errors.Is(err, os.ErrExist):
		return s.await(ctx)
	default:
		return exitcode.With(exitcode.SetupFailed, fmt.Errorf("take setup lock on node %s: %w", s.Node, err))
	}
}

// lead runs the setup command and publishes the verdict for the waiters.
func (s *nodeSetup) lead(ctx context.Context) error {
	start := time.Now()
	s.Log.Info().Strs("argv", redact.Args(s.Command.Argv)).Str("log", s.LogPath).Msg("running node setup")
	err := s.run(ctx)
	if err != nil {
		msg := fmt.Sprintf("setup on node %s failed: %v; see %s", s.Node, err, s.LogPath)
		if werr := atomicfile.WriteFile(filepath.Join(s.Dir, setupFailedFile), []byte(msg+"\n"), 0o644); werr != nil {
			s.Log.Error().Err(werr).Msg("could not publish the setup failure; waiters will see the leader gone")
		}
		return exitcode.With(exitcode.SetupFailed, errors.New(msg))
	}
	if err := atomicfile.WriteFile(filepath.Join(s.Dir, setupDoneFile), nil, 0o644); err != nil {
		return exitcode.With(exitcode.SetupFailed, fmt.Errorf("publish setup success on node %s: %w", s.Node, err))
	}
	s.Log.Info().Dur("took", time.Since(start).Round(10*time.Millisecond)).Msg("node setup done")
	return nil
}

func (s *nodeSetup) run(ctx context.Context) error {
	out, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open setup log: %w", err)
	}
	defer out.Close()
	path, err := lookPath(s.Command.Argv[0], s.Env)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, s.Command.Argv[1:]...)
	cmd.Args[0] = s.Command.Argv[0]
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = s.Env, s.Command.Dir, out, out
	g, err := procgroup.Start(cmd)
	if err != nil {
		return fmt.Errorf("start setup: %w", err)
	}
	select {
	case <-g.Done():
	case <-ctx.Done():
		<-g.Stop(syscall.SIGTERM, s.Grace, nil)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("setup did not finish within %s", s.Timeout)
		}
		return errors.New("setup interrupted: the task was asked to stop")
	}
	if r := g.Result(); r.ExitCode != 0 {
		if r.Signaled() {
			return fmt.Errorf("setup killed by %s", procgroup.SignalName(r.Signal))
		}
		return fmt.Errorf("setup exited with status %d", r.ExitCode)
	}
	return nil
}

// await waits for the leader's verdict; a leader that vanished without one
// fails the waiters at once instead of leaving them to the timeout.
func (s *nodeSetup) await(ctx context.Context) error {
	t := time.NewTicker(setupPoll)
	defer t.Stop()
	fail := func(err error) error { return exitcode.With(exitcode.SetupFailed, err) }
	for {
		if _, err := os.Stat(filepath.Join(s.Dir, setupDoneFile)); err == nil {
			return nil
		}
		if b, err := os.ReadFile(filepath.Join(s.Dir, setupFailedFile)); err == nil {
			return fail(errors.New(strings.TrimSpace(string(b))))
		}
		if pid, ok := s.leaderPID(); ok && !procgroup.Running(pid) {
			// The verdict may have landed between the checks above and now.
			if _, err := os.Stat(filepath.Join(s.Dir, setupDoneFile)); err == nil {
				return nil
			}
			return fail(fmt.Errorf("setup on node %s: the task running it (pid %d) died without a verdict; see %s", s.Node, pid, s.LogPath))
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fail(fmt.Errorf("setup on node %s did not finish within %s; see %s", s.Node, s.Timeout, s.LogPath))
			}
			return fail(fmt.Errorf("waiting for setup on node %s: %w", s.Node, ctx.Err()))
		case <-t.C:
		}
	}
}

func (s *nodeSetup) leaderPID() (int, bool) {
	b, err := os.ReadFile(filepath.Join(s.Dir, setupLockFile))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}
