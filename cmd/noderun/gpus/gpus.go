// Package gpus is the `noderun gpus` subcommand: the GPU inventory of this
// node and the visible-device decision `noderun run` would make for a task
// with the given mode and local rank in the current environment.
package gpus

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/gpu"
	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/noderun"
)

type options struct {
	json         bool
	modeFlag     string
	mode         gpu.Mode // parsed from modeFlag by validate
	gpusPerTask  int
	localRank    int
	tasksOnNode  int
	expect       int
	precheckFlag string
	precheck     gpu.Precheck // parsed from precheckFlag by validate
	node         string
	fakeGPUs     int
}

// NewCommand builds `noderun gpus`.
func NewCommand(env *appenv.Env) *cli.Command {
	var o options
	return &cli.Command{
		Name:  "gpus",
		Usage: "show this node's GPUs (NVML) and the GPUs a task would get here",
		Description: "Lists the GPUs NVML reports (index, UUID, PCI bus id, minor number, NUMA node,\n" +
			"CPU affinity, memory, MIG devices), then works out the visible-device decision\n" +
			"`noderun run` makes for one task: the GPUs the environment already granted\n" +
			"(SLURM_STEP_GPUS, SLURM_JOB_GPUS, NVIDIA_VISIBLE_DEVICES, CUDA_VISIBLE_DEVICES,\n" +
			"GPU_DEVICE_ORDINAL; never widened), the task's share by --mode, and the variables\n" +
			"to set (by UUID, with CUDA_DEVICE_ORDER=PCI_BUS_ID).\n\n" +
			"Without NVML (no driver, no libnvidia-ml.so.1) it says so and why, and shows the\n" +
			"fallback: the GPUs Slurm assigned, or the environment passed through unchanged.\n" +
			"That is not an error: the exit status is 0.\n\n" +
			"Exit statuses: 0 decided (also without NVML), 2 bad flag or malformed\n" +
			"visible-devices variable, 74 precheck failed (fewer GPUs than --expect, or an NVML\n" +
			"error on a GPU) or too few GPUs for the local rank's share.\n\n" +
			"Example, as local rank 1 of a step with one GPU per task:\n" +
			"   SLURM_LOCALID=1 noderun gpus --mode task --gpus-per-task 1 --expect 8",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object (stable field names) instead of text", EnvVars: []string{"NODERUN_GPUS_JSON"}, Destination: &o.json},
			&cli.StringFlag{Name: "mode", Usage: "GPU `MODE` of the task: node (every GPU it may see), task (its own slice by local rank) or none (no GPU)", Value: string(gpu.ModeNode), EnvVars: []string{"NODERUN_GPU_MODE"}, Destination: &o.modeFlag},
			&cli.IntFlag{Name: "gpus-per-task", Usage: "`N` GPUs per task in mode task", Value: 1, EnvVars: []string{"NODERUN_GPUS_PER_TASK"}, Destination: &o.gpusPerTask},
			&cli.IntFlag{Name: "local-rank", Usage: "the task's local `RANK` on this node", EnvVars: []string{"NODERUN_LOCAL_RANK", "SLURM_LOCALID"}, Destination: &o.localRank},
			&cli.IntFlag{Name: "tasks-on-node", Usage: "`N` tasks of the step on this node (0: unknown); every rank then checks that all N fit", EnvVars: []string{"NODERUN_TASKS_ON_NODE"}, Destination: &o.tasksOnNode},
			&cli.IntFlag{Name: "expect", Usage: "`N` GPUs this node must show (0: no precheck)", EnvVars: []string{"NODERUN_EXPECT_GPUS"}, Destination: &o.expect},
			&cli.StringFlag{Name: "gpu-precheck", Usage: "`WHAT` to do when the node shows fewer GPUs than --expect: fail, warn or off", Value: string(gpu.PrecheckFail), EnvVars: []string{"NODERUN_GPU_PRECHECK"}, Destination: &o.precheckFlag},
			&cli.StringFlag{Name: "node", Usage: "node `NAME` for messages (default: the host name)", EnvVars: []string{"NODERUN_NODE", "SLURMD_NODENAME"}, Destination: &o.node},
			&cli.IntFlag{Name: "fake-gpus", Usage: "simulate `N` GPUs when NVML is unavailable (what submit --local does)", EnvVars: []string{noderun.EnvFakeGPUs}, Destination: &o.fakeGPUs},
		},
		Before: func(*cli.Context) error { return o.validate() },
		Action: func(c *cli.Context) error { return o.run(env) },
	}
}

func (o *options) validate() error {
	var err error
	if o.mode, err = gpu.ParseMode(o.modeFlag); err != nil {
		return exitcode.Usagef("--mode (NODERUN_GPU_MODE): %v", err)
	}
	if o.precheck, err = gpu.ParsePrecheck(o.precheckFlag); err != nil {
		return exitcode.Usagef("--gpu-precheck (NODERUN_GPU_PRECHECK): %v", err)
	}
	for _, f := range []struct {
		name, env string
		v, min    int
	}{
		{"--gpus-per-task", "NODERUN_GPUS_PER_TASK", o.gpusPerTask, 1},
		{"--local-rank", "NODERUN_LOCAL_RANK or SLURM_LOCALID", o.localRank, 0},
		{"--tasks-on-node", "NODERUN_TASKS_ON_NODE", o.tasksOnNode, 0},
		{"--expect", "NODERUN_EXPECT_GPUS", o.expect, 0},
		{"--fake-gpus", "NODERUN_FAKE_GPUS", o.fakeGPUs, 0},
	} {
		if f.v < f.min {
			return exitcode.Usagef("%s %d (%s): must be at least %d", f.name, f.v, f.env, f.min)
		}
	}
	if o.tasksOnNode > 0 && o.localRank >= o.tasksOnNode {
		return exitcode.Usagef("--local-rank %d is not below --tasks-on-node %d", o.localRank, o.tasksOnNode)
	}
	if o.node == "" {
		o.node, _ = os.Hostname()
	}
	return nil
}

// report is the --json output. Field names are a stable interface: scripts
// (scripts/gpu-check.sh, CI) read them.
type report struct {
	Node      string        `json:"node"`
	Inventory inventory     `json:"inventory"`
	Request   request       `json:"request"`
	Decision  *gpu.Decision `json:"decision,omitempty"`
	// Error is why there is no decision (the exit status says which kind).
	Error string `json:"error,omitempty"`
}

type inventory struct {
	// Available is false when NVML could not be used (and no --fake-gpus).
	Available bool `json:"available"`
	// Source is "nvml" or "fake"; empty when unavailable.
	Source string `json:"source,omitempty"`
	// Unavailable says why NVML is unavailable and what happens instead.
	Unavailable string       `json:"unavailable,omitempty"`
	Devices     []gpu.Device `json:"devices"`
	// DeviceError reports GPUs NVML failed on (they are not in Devices).
	DeviceError string `json:"device_error,omitempty"`
}

type request struct {
	Mode          gpu.Mode     `json:"mode"`
	GPUsPerTask   int          `json:"gpus_per_task"`
	LocalRank     int          `json:"local_rank"`
	TasksOnNode   int          `json:"tasks_on_node"`
	ExpectPerNode int          `json:"expect_per_node"`
	Precheck      gpu.Precheck `json:"precheck"`
}

func (o *options) run(env *appenv.Env) error {
	log := env.Logger()
	r := report{
		Node:      o.node,
		Inventory: inventory{Devices: []gpu.Device{}},
		Request: request{Mode: o.mode, GPUsPerTask: o.gpusPerTask, LocalRank: o.localRank,
			TasksOnNode: o.tasksOnNode, ExpectPerNode: o.expect, Precheck: o.precheck},
	}
	inv, unavailable, closeInv, err := gpu.OpenOrFallback(env.NVML, o.fakeGPUs)
	defer closeInv()
	if err != nil {
		return exitcode.With(exitcode.GPUPrecheck, err)
	}
	r.Inventory.Unavailable = unavailable
	switch {
	case unavailable != "" && inv != nil:
		log.Info().Int("gpus", o.fakeGPUs).Msg("NVML unavailable: using simulated GPUs")
	case unavailable != "":
		log.Warn().Str("error", unavailable).Str("node", o.node).Msg("NVML unavailable")
	}
	if inv != nil {
		r.Inventory.Available = true
		r.Inventory.Source = inv.Source()
		devs, err := inv.Devices()
		if devs != nil {
			r.Inventory.Devices = devs
		}
		if err != nil {
			r.Inventory.DeviceError = err.Error()
		}
	}
	d, decErr := gpu.Decide(inv, gpu.Request{
		Mode: string(o.mode), GPUsPerTask: o.gpusPerTask, LocalRank: o.localRank, TasksOnNode: o.tasksOnNode,
		ExpectPerNode: o.expect, Precheck: string(o.precheck), Node: o.node, Lookup: os.LookupEnv,
	})
	if decErr == nil {
		r.Decision = &d
	} else {
		r.Error = decErr.Error()
	}
	if o.json {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return exitcode.With(exitcode.Internal, fmt.Errorf("write report: %w", err))
		}
	} else if err := writeText(env.Stdout, r); err != nil {
		return exitcode.With(exitcode.Internal, fmt.Errorf("write report: %w", err))
	}
	switch {
	case decErr == nil:
		return nil
	case errors.Is(decErr, gpu.ErrPrecheck), errors.Is(decErr, gpu.ErrNotEnoughGPUs):
		return exitcode.With(exitcode.GPUPrecheck, decErr)
	default:
		return exitcode.With(exitcode.Usage, decErr)
	}
}

// writeText prints the report for people. The error, if any, is left to
// main, which prints it once on stderr.
func writeText(w io.Writer, r report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "node: %s\n", r.Node)
	inv := r.Inventory
	switch {
	case !inv.Available:
		fmt.Fprintf(&b, "inventory: %s\n", inv.Unavailable)
	default:
		if inv.Unavailable != "" {
			fmt.Fprintf(&b, "inventory: simulated (--fake-gpus); real NVML: %s\n", inv.Unavailable)
		}
		fmt.Fprintf(&b, "inventory: %s, %d GPUs\n", inv.Source, len(inv.Devices))
		if len(inv.Devices) > 0 {
			tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  INDEX\tUUID\tPCI BUS ID\tMINOR\tNUMA\tCPUS\tMEMORY\tNAME")
			for _, d := range inv.Devices {
				fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Index, d.UUID, dash(d.PCIBusID),
					unknownIfNeg(d.Minor), unknownIfNeg(d.NUMANode), dash(d.CPUAffinity), gib(d.MemoryBytes), dash(d.Name))
				if d.MIGEnabled {
					fmt.Fprintf(tw, "  \t  MIG mode on, %d MIG devices\t\t\t\t\t\t\n", len(d.MIG))
				}
				for _, m := range d.MIG {
					fmt.Fprintf(tw, "  \t  %s (GPU instance %d, compute instance %d)\t\t\t\t\t\t\n", m.UUID, m.GI, m.CI)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if inv.DeviceError != "" {
			fmt.Fprintf(&b, "  NVML errors: %s\n", inv.DeviceError)
		}
	}
	q := r.Request
	fmt.Fprintf(&b, "request: mode %s", q.Mode)
	if q.Mode == gpu.ModeTask {
		fmt.Fprintf(&b, ", %d GPU(s) per task, local rank %d", q.GPUsPerTask, q.LocalRank)
		if q.TasksOnNode > 0 {
			fmt.Fprintf(&b, " of %d", q.TasksOnNode)
		}
	}
	if q.ExpectPerNode > 0 {
		fmt.Fprintf(&b, ", expect %d GPUs (precheck %s)", q.ExpectPerNode, q.Precheck)
	}
	b.WriteString("\n")
	if d := r.Decision; d != nil {
		fmt.Fprintf(&b, "decision: source %s\n", d.Source)
		if d.Devices == nil {
			b.WriteString("  devices:  (unchanged: nothing to decide from)\n")
		} else {
			fmt.Fprintf(&b, "  devices:  %s\n", listOrNone(d.Devices))
		}
		if len(d.RestrictedBy) > 0 {
			fmt.Fprintf(&b, "  restricted by: %s\n", strings.Join(d.RestrictedBy, ", "))
		}
		if d.Visible != nil && q.Mode != gpu.ModeNone {
			fmt.Fprintf(&b, "  visible to the step on this node: %s\n", listOrNone(d.Visible))
		}
		if q.ExpectPerNode > 0 && q.Mode != gpu.ModeNone {
			fmt.Fprintf(&b, "  precheck: saw %s, expected %d\n", unknownIfNeg(d.Seen), q.ExpectPerNode)
		}
		names := make([]string, 0, len(d.Set))
		for n := range d.Set {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(&b, "  set   %s=%s\n", n, d.Set[n])
		}
		for _, n := range d.Unset {
			fmt.Fprintf(&b, "  unset %s\n", n)
		}
		for _, wmsg := range d.Warnings {
			fmt.Fprintf(&b, "  warning: %s\n", wmsg)
		}
	} else {
		b.WriteString("decision: none (see the error)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func unknownIfNeg(n int) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func gib(b uint64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f GiB", float64(b)/(1<<30))
}

func listOrNone(ids []string) string {
	if len(ids) == 0 {
		return "(none)"
	}
	return strings.Join(ids, ",")
}
