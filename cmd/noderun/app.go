package main

import (
	"errors"
	"io"
	"os"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/cmd/noderun/cancel"
	"github.com/noderun/noderun/cmd/noderun/gpus"
	"github.com/noderun/noderun/cmd/noderun/hostnames"
	"github.com/noderun/noderun/cmd/noderun/job"
	"github.com/noderun/noderun/cmd/noderun/logs"
	"github.com/noderun/noderun/cmd/noderun/merge"
	"github.com/noderun/noderun/cmd/noderun/report"
	"github.com/noderun/noderun/cmd/noderun/run"
	"github.com/noderun/noderun/cmd/noderun/status"
	"github.com/noderun/noderun/cmd/noderun/submit"
	"github.com/noderun/noderun/cmd/noderun/wait"
	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/logging"
	"github.com/noderun/noderun/internal/redact"
)

// The help's examples run as printed from the repository root: the plain
// suite under examples/tests, then the stand-in TensorRT-LLM checkout.
// help_test.go runs each one.
const exampleHeading = "Start with (from the repository root, no Slurm needed):"

var examples = []string{
	"noderun submit --local --wait --test-root examples/tests --config examples/trtllm/tests/scripts/perf-sanity/disaggregated/disagg-tiny.yaml --workspace /tmp/ws",
	"TRTLLM_DIR=examples/trtllm stageName=demo-PerfSanity LLM_MODELS_ROOT=/tmp CONFIG_NAME=disagg-tiny noderun submit --local --wait --workspace /tmp/ws",
}

// Options are the outside world the app talks to; tests pass their own.
type Options struct {
	Stdout io.Writer
	Stderr io.Writer
	// NVML builds the NVML handle; nil: behave as on a machine without a driver.
	NVML func() nvml.Interface
	// Version is what --version prints (see buildVersion).
	Version string
}

// NewApp builds the noderun command line. It never exits the process: errors
// come back from Run and main maps them to exit statuses.
func NewApp(o Options) *cli.App {
	log := zerolog.Nop()
	env := &appenv.Env{Log: &log, Stdout: o.Stdout, Stderr: o.Stderr, NVML: o.NVML}
	var logFormat, logLevel, unknown string
	app := &cli.App{
		Name:    "noderun",
		Version: o.Version,
		Usage:   "run GPU pytest jobs under Slurm, without shell glue",
		Description: "noderun replaces the shell chain of TensorRT-LLM's perf CI (heredocs, submit.py, " +
			"slurm_launch_draft.sh, slurm_run.sh) with one binary:\n\n" +
			"   submit  (CI side)   validate flags + perf config, write WS/job.json, submit the job\n" +
			"   status, logs, cancel, wait   look at, stop or follow again the job of a workspace\n" +
			"   job     (batch)     start one srun per role, supervise them, merge the results\n" +
			"   run     (each task) set up the node, pick GPUs, run pytest as argv, record the outcome\n" +
			"   merge               every task's junit + record -> one WS/results.xml, summary.md, report.html\n" +
			"   report              WS/report.html again: outcome, root cause, timeline, GPU charts\n\n" +
			exampleHeading + "\n   " + strings.Join(examples, "\n   "),
		Writer:               o.Stdout,
		ErrWriter:            o.Stderr,
		EnableBashCompletion: true,
		// Errors are printed and mapped to exit codes by main, in one place.
		ExitErrHandler: func(*cli.Context, error) {},
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:        "log-format",
				Usage:       "log format: console (for people and CI logs; coloured only on a terminal) or json (for programs)",
				Value:       logging.FormatConsole,
				EnvVars:     []string{"NODERUN_LOG_FORMAT"},
				Destination: &logFormat,
			},
			&cli.StringFlag{
				Name:        "log-level",
				Usage:       "log level: trace, debug, info, warn or error",
				Value:       "info",
				EnvVars:     []string{"NODERUN_LOG_LEVEL"},
				Destination: &logLevel,
			},
		},
		Before: func(*cli.Context) error {
			// Secret values of the environment never reach a log line.
			l, err := logging.New(o.Stderr, logFormat, logLevel, redact.FromEnviron(os.Environ()))
			if err != nil {
				return exitcode.With(exitcode.Usage, err)
			}
			*env.Log = l
			return nil
		},
		OnUsageError: exitcode.OnUsageError,
		// urfave/cli reports an unknown command (`noderun bogus`, `noderun
		// help bogus`) with exit status 3; remember it and make it a usage error.
		CommandNotFound: func(_ *cli.Context, name string) { unknown = name },
		After: func(*cli.Context) error {
			if unknown != "" {
				return exitcode.Usagef("unknown command %q: see noderun --help for the commands", unknown)
			}
			return nil
		},
		Commands: []*cli.Command{
			submit.NewCommand(env),
			status.NewCommand(env),
			logs.NewCommand(env),
			cancel.NewCommand(env),
			wait.NewCommand(env),
			job.NewCommand(env),
			run.NewCommand(env),
			merge.NewCommand(env),
			report.NewCommand(env),
			gpus.NewCommand(env),
			hostnames.NewCommand(env),
		},
	}
	// A bad flag of any subcommand is a usage error (exit 2), not a failure.
	for _, c := range app.Commands {
		if c.OnUsageError == nil {
			c.OnUsageError = exitcode.OnUsageError
		}
	}
	return app
}

// isSilent reports an error that only carries an exit status.
func isSilent(err error) bool {
	var e *exitcode.Error
	return errors.As(err, &e) && e.Err == nil
}
