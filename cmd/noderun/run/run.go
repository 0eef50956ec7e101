// Package run is the `noderun run` subcommand: one task of a step.
package run

import (
	"os"
	"os/signal"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/gpu"
	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/procgroup"
	"github.com/noderun/noderun/noderun"
)

type options struct {
	spec     string
	role     string
	fakeGPUs int
}

// NewCommand builds `noderun run`.
func NewCommand(env *appenv.Env) *cli.Command {
	var o options
	return &cli.Command{
		Name:  "run",
		Usage: "run one task of a step (what every srun task starts)",
		Description: "Started by srun on every task of a step (replaces slurm_run.sh). It:\n" +
			"  1. reads its task from SLURM_* and its role from --role, which `noderun job` passes;\n" +
			"  2. picks the task's GPUs through NVML and sets NVIDIA/CUDA_VISIBLE_DEVICES by UUID;\n" +
			"     sets DISAGG_SERVING_TYPE to the role in a disaggregated job and unsets it otherwise;\n" +
			"  3. runs the spec's setup once per node (the others wait, bounded);\n" +
			"  4. waits for the step's other tasks when the step has a start fence;\n" +
			"  5. runs the command as argv in its own process group, with pytest's junit at\n" +
			"     WS/results/<role>/rank<k>.xml, forwarding TERM/INT/HUP/USR1/USR2, and samples\n" +
			"     the task's GPUs into WS/telemetry/<role>/rank<k>.jsonl (submit's --gpu-sample);\n" +
			"  6. writes WS/.noderun/tasks/<role>/<rank>.json and exits with the child's status\n" +
			"     (128+signal when it died by a signal).\n\n" +
			"Runner faults have their own exit statuses: 2 usage, 70 internal, 71 Slurm environment,\n" +
			"72 node setup, 73 start fence, 74 GPU precheck, 76 test root missing on the node,\n" +
			"77 GPU fault with --gpu-faults fail (the child exited 0), 124 step timeout,\n" +
			"126/127 command not runnable.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "spec", Usage: "job spec `FILE` (WS/job.json), required", EnvVars: []string{"NODERUN_SPEC"}, Destination: &o.spec},
			&cli.StringFlag{Name: "role", Usage: "the task's `ROLE`: a step of the job spec (GEN_0, BENCHMARK, WORKER, ...)", EnvVars: []string{"NODERUN_RUN_ROLE"}, Destination: &o.role},
			&cli.IntFlag{Name: "fake-gpus", Usage: "simulate `N` GPUs when NVML is unavailable (set by submit --local)", EnvVars: []string{noderun.EnvFakeGPUs}, Destination: &o.fakeGPUs},
		},
		Before: func(c *cli.Context) error {
			if err := appenv.Require(c, "spec"); err != nil {
				return err
			}
			if o.role == "" {
				return exitcode.With(exitcode.Usage, noderun.ErrNoRole)
			}
			return nil
		},
		Action: func(c *cli.Context) error {
			noderun.LimitProcs()
			spec, err := jobspec.Load(o.spec)
			if err != nil {
				return exitcode.With(exitcode.Usage, err)
			}
			// Subscribe before NVML's Init, which can take seconds: a SIGTERM
			// then must reach the runner's handling, not kill it unrecorded.
			sigs := make(chan os.Signal, 8)
			signal.Notify(sigs, procgroup.Interrupted...)
			defer signal.Stop(sigs)
			inv, unavailable, closeInv, err := gpu.OpenOrFallback(env.NVML, o.fakeGPUs)
			if err != nil {
				return exitcode.With(exitcode.GPUPrecheck, err)
			}
			defer closeInv()
			// Only NVML's inventory reads telemetry; simulated GPUs have none.
			telemetry, _ := inv.(gpu.TelemetrySource)
			code, err := noderun.Run(c.Context, noderun.RunOptions{
				Spec: spec, Role: o.role, Environ: os.Environ(), GPUs: inv, Log: env.Logger(), Signals: sigs,
				NVMLUnavailable: unavailable, FakeGPUs: o.fakeGPUs, Subreaper: true, Telemetry: telemetry,
			})
			if err != nil {
				return exitcode.With(code, err)
			}
			return exitcode.Silent(code)
		},
	}
}
