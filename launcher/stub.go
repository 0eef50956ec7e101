package launcher

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Stub is the content of WS/job.sbatch: Slurm options and the one command
// the batch step runs. Everything else about the job is in job.json.
type Stub struct {
	JobName      string
	Nodes        int
	TasksPerNode int
	// GPUsPerNode adds --gpus-per-node when > 0.
	GPUsPerNode int
	// Time, Partition, Account: omitted when empty.
	Time      string
	Partition string
	Account   string
	// Output is the batch step's output file pattern (WS/slurm-%j.out).
	Output string
	// SignalBefore adds --signal=B:USR2@N when > 0.
	SignalBefore int
	// SbatchArgs are extra options, written last so that they can override.
	SbatchArgs []string
	// Binary and Spec make the exec line: Binary job --spec Spec.
	Binary string
	Spec   string
}

// WriteStub writes the batch script. Every value is quoted with a shell
// quoting library, never pasted: the exec line is read by bash, and the
// #SBATCH lines by sbatch, whose option parser understands the same '…' and
// "…" quoting for the printable, backslash-free values Prepare lets through.
// The same Stub always gives the same bytes.
func WriteStub(w io.Writer, s Stub) error {
	var lines []string
	var quoteErr error
	quote := func(what, value string) string {
		q, err := syntax.Quote(value, syntax.LangBash)
		if err != nil && quoteErr == nil {
			quoteErr = fmt.Errorf("quote %s: %w", what, err)
		}
		return q
	}
	opt := func(name, value string) {
		lines = append(lines, "#SBATCH --"+name+"="+quote("sbatch option --"+name, value))
	}
	opt("job-name", s.JobName)
	opt("nodes", strconv.Itoa(s.Nodes))
	opt("ntasks-per-node", strconv.Itoa(s.TasksPerNode))
	if s.GPUsPerNode > 0 {
		opt("gpus-per-node", strconv.Itoa(s.GPUsPerNode))
	}
	for _, o := range [][2]string{{"time", s.Time}, {"partition", s.Partition}, {"account", s.Account}} {
		if o[1] != "" {
			opt(o[0], o[1])
		}
	}
	opt("output", s.Output)
	if s.SignalBefore > 0 {
		opt("signal", "B:USR2@"+strconv.Itoa(s.SignalBefore))
	}
	for _, a := range s.SbatchArgs {
		// --name=value keeps the name readable and quotes the value;
		// anything else is quoted whole.
		if name, value, ok := strings.Cut(a, "="); ok && strings.HasPrefix(name, "--") && !strings.ContainsAny(name, " \t'\"") {
			opt(strings.TrimPrefix(name, "--"), value)
			continue
		}
		lines = append(lines, "#SBATCH "+quote("sbatch option", a))
	}
	exec := "exec " + quote("binary path", s.Binary) + " job --spec " + quote("spec path", s.Spec)
	if quoteErr != nil {
		return quoteErr
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "#!/bin/bash")
	fmt.Fprintln(bw, "# Written by noderun submit. The job is described by job.json; this only starts it.")
	for _, l := range lines {
		fmt.Fprintln(bw, l)
	}
	fmt.Fprintln(bw, exec)
	return bw.Flush()
}
