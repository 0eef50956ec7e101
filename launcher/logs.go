package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/workspace"
)

// logPoll is how often `logs --follow` looks for more output.
const logPoll = 500 * time.Millisecond

// LogsRequest is what `noderun logs` is asked: every task's log (Role ""),
// or one task's, followed until the task ends.
type LogsRequest struct {
	Role   string
	Rank   int
	Follow bool
}

// Logs lists every task's log with its state, or prints one task's log.
func (l *Launcher) Logs(ctx context.Context, dir string, r LogsRequest) error {
	p, _, err := l.Attach(dir)
	if err != nil {
		return err
	}
	recs := map[string]*workspace.TaskRecord{}
	all, _ := p.Workspace.TaskRecords()
	for _, rec := range all {
		recs[rec.Role+"/"+strconv.Itoa(rec.Rank)] = rec
	}
	if r.Role == "" {
		return l.listLogs(p, recs)
	}
	step, ok := p.Spec.Step(r.Role)
	if !ok {
		return exitcode.Usagef("--role %s: the job has no such role; its roles: %v", r.Role, p.Spec.Roles())
	}
	if r.Rank < 0 || r.Rank >= step.Tasks {
		return exitcode.Usagef("--rank %d: %s has ranks 0 to %d", r.Rank, r.Role, step.Tasks-1)
	}
	return l.printLog(ctx, p, r)
}

func (l *Launcher) listLogs(p *Prepared, recs map[string]*workspace.TaskRecord) error {
	tw := tabwriter.NewWriter(l.o.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tRANK\tSTATE\tNODE\tLOG")
	for _, st := range p.Spec.Steps {
		for k := range st.Tasks {
			state, node, log := "not started", "-", p.Workspace.TaskLog(st.Role, k)
			if rec := recs[st.Role+"/"+strconv.Itoa(k)]; rec != nil {
				state, node = taskState(rec), orDefault(rec.Node, orDefault(rec.Host, "-"))
				if rec.Log != "" {
					log = p.Workspace.Resolve(rec.Log)
				}
			}
			shown := p.Workspace.Rel(log)
			if _, err := os.Stat(log); err != nil {
				shown += " (none yet)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", st.Role, k, state, node, shown)
		}
	}
	return tw.Flush()
}

// taskState says how a task stands, in a word or three.
func taskState(rec *workspace.TaskRecord) string {
	switch {
	case rec.State == workspace.StateExited:
		return "exited " + strconv.Itoa(rec.ExitCode)
	case rec.State == workspace.StateSignaled:
		return "killed by " + orDefault(rec.Signal, "a signal")
	}
	return rec.State
}

// printLog copies one task's log to stdout; with Follow, it keeps copying
// until the task has ended (or the job has, for a task that never started).
func (l *Launcher) printLog(ctx context.Context, p *Prepared, r LogsRequest) error {
	ws := p.Workspace
	var offset int64
	for {
		rec, _ := workspace.LoadTaskRecord(ws.TaskRecord(r.Role, r.Rank))
		path := ws.TaskLog(r.Role, r.Rank)
		if rec != nil && rec.Log != "" {
			path = ws.Resolve(rec.Log)
		}
		// Decide before reading, so that the last read sees everything.
		ended := (rec != nil && rec.State != workspace.StateRunning) || ws.HasJobResult()
		n, err := copyFrom(l.o.Stdout, path, offset)
		offset += n
		switch {
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return exitcode.With(exitcode.Failure, err)
		case !r.Follow && errors.Is(err, os.ErrNotExist):
			return exitcode.Usagef("%s rank %d has no log yet (%s): the task has not started; --follow waits for it", r.Role, r.Rank, ws.Rel(path))
		case !r.Follow || ended:
			return nil
		}
		if err := l.o.Sleep(ctx, logPoll); err != nil {
			return nil
		}
	}
}

// copyFrom copies path from offset to w and returns how much it copied.
func copyFrom(w io.Writer, path string, offset int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, err
	}
	return io.Copy(w, f)
}
