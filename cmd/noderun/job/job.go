// Package job is the `noderun job` subcommand: the batch step.
package job

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/slurmenv"
	"github.com/noderun/noderun/internal/workspace"
	"github.com/noderun/noderun/noderun"
)

type options struct {
	spec string
	srun string
}

// NewCommand builds `noderun job`.
func NewCommand(env *appenv.Env) *cli.Command {
	var o options
	return &cli.Command{
		Name:  "job",
		Usage: "the batch step: start one srun per role, supervise them, merge the results",
		Description: "What WS/job.sbatch execs (replaces slurm_launch_draft.sh). For every step of the\n" +
			"spec it starts `srun ... WS/bin/noderun run --spec WS/job.json` on the step's nodes\n" +
			"(GEN first, then CTX, then DISAGG_SERVER and BENCHMARK on the first node) and waits on\n" +
			"all of them. When the deciding step (BENCHMARK) ends, the others get --after-deciding to\n" +
			"finish, then are stopped. SIGTERM (scancel) or SIGUSR2 (time limit near) stops every step.\n" +
			"In every case it merges WS/results.xml and writes WS/job-result.json (outcome and root\n" +
			"cause), then exits with the outcome's status: 0 passed, 1 failed, 80 timeout, 81 cancelled,\n" +
			"82 node failure, 83 setup failed, 84 precheck failed, 85 start failed (README \"Exit codes\").",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "spec", Usage: "job spec `FILE` (WS/job.json), required", EnvVars: []string{"NODERUN_SPEC"}, Destination: &o.spec},
			&cli.StringFlag{Name: "srun", Usage: "srun `PATH`", Value: "srun", EnvVars: []string{"NODERUN_SRUN"}, Destination: &o.srun},
		},
		Before: func(c *cli.Context) error { return appenv.Require(c, "spec") },
		Action: func(c *cli.Context) error {
			log := env.Logger()
			specPath, err := filepath.Abs(o.spec)
			if err != nil {
				return exitcode.With(exitcode.Usage, err)
			}
			spec, err := jobspec.Load(specPath)
			if err != nil {
				return exitcode.With(exitcode.Usage, err)
			}
			jobID := os.Getenv("SLURM_JOB_ID")
			log = log.With().Str("job", jobID).Logger()
			opts := noderun.JobOptions{Spec: spec, JobID: jobID, Log: log, Stdout: env.Stdout}
			// Outside its batch step, `noderun job` would overwrite the
			// results of the job that owns the workspace: it writes nothing.
			if err := inBatchStep(os.LookupEnv); err != nil {
				return exitcode.With(exitcode.SlurmEnv, err)
			}
			if err := ownsWorkspace(workspace.New(spec.Workspace), spec.Submission, jobID); err != nil {
				return exitcode.With(exitcode.Usage, err)
			}
			nodelist := os.Getenv("SLURM_JOB_NODELIST")
			nodes, err := slurmenv.Expand(nodelist)
			if err != nil {
				return exitWith(noderun.Abort(opts, fmt.Sprintf("SLURM_JOB_NODELIST: %v", err), exitcode.SlurmEnv))
			}
			opts.Nodes = nodes
			if opts.Restart, err = slurmenv.RestartCount(os.LookupEnv); err != nil {
				return exitWith(noderun.Abort(opts, err.Error(), exitcode.SlurmEnv))
			}
			self, err := os.Executable()
			if err != nil {
				return exitcode.With(exitcode.Internal, fmt.Errorf("find the noderun binary: %w", err))
			}
			opts.Starter = &noderun.SrunStarter{
				Srun: o.srun, JobID: jobID, Attempt: opts.Attempt(), Binary: self, SpecPath: specPath, Workspace: workspace.New(spec.Workspace),
				ExtraArgs: spec.Srun.Args, Log: log,
			}
			return exitWith(noderun.Job(c.Context, opts))
		},
	}
}

// inBatchStep checks that `noderun job` runs as a job's batch step: Slurm
// sets SLURM_JOB_ID and SLURM_JOB_NODELIST there, and SLURM_STEP_ID only in
// the job's other steps (srun, salloc's interactive step).
func inBatchStep(lookup func(string) (string, bool)) error {
	const hint = "`noderun job` runs as the batch step of the job that `noderun submit` started, and writes nothing into the workspace otherwise (use `noderun submit --local` to simulate a job, `noderun merge` to rebuild the results)"
	id, _ := lookup("SLURM_JOB_ID")
	nodes, _ := lookup("SLURM_JOB_NODELIST")
	if id == "" || nodes == "" {
		return fmt.Errorf("SLURM_JOB_ID or SLURM_JOB_NODELIST is not set: %s", hint)
	}
	if step, ok := lookup("SLURM_STEP_ID"); ok {
		return fmt.Errorf("SLURM_STEP_ID=%s: this is step %s of job %s, not its batch step: %s", step, step, id, hint)
	}
	return nil
}

// ownsWorkspace checks that the job is the workspace's: submit records
// its job in WS/.noderun/owner.json once sbatch returns (the job may start
// before that, so a missing record passes). Another submission's record,
// or this submission's with another job id, means the workspace is not
// this job's to write.
func ownsWorkspace(ws workspace.Layout, submission, jobID string) error {
	o, err := ws.LoadOwner()
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the workspace's owner: %w", err)
	}
	if o.SubmissionID != submission || (o.JobID != "" && o.JobID != jobID) {
		return fmt.Errorf("%s belongs to job %s (submission %s), not to job %s (submission %s): this job writes nothing there",
			ws.Dir, orNone(o.JobID), orNone(o.SubmissionID), jobID, orNone(submission))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// exitWith turns the supervisor's status into the command's error: its
// reason is already logged and in WS/job-result.json.
func exitWith(code int, err error) error {
	if err != nil {
		return exitcode.With(code, err)
	}
	return exitcode.Silent(code)
}
