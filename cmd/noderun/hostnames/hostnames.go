// Package hostnames is the `noderun hostnames` subcommand: Slurm hostlist
// expansion without scontrol, which is often missing inside containers.
package hostnames

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/noderun/noderun/internal/appenv"
	"github.com/noderun/noderun/internal/exitcode"
	"github.com/noderun/noderun/internal/slurmenv"
)

// NewCommand builds `noderun hostnames`.
func NewCommand(env *appenv.Env) *cli.Command {
	return &cli.Command{
		Name:      "hostnames",
		Usage:     "expand a Slurm hostlist expression, one name per line (like scontrol show hostnames)",
		ArgsUsage: "EXPR",
		Description: "Prints the names of a Slurm hostlist expression in the order and form\n" +
			"`scontrol show hostnames EXPR` prints them, without needing Slurm or a slurm.conf.\n" +
			"Names are separated by commas (or whitespace); a bracket group holds numbers and\n" +
			"ranges, zero-padded to the width of each range's lower bound.\n\n" +
			"Examples:\n" +
			"   noderun hostnames 'gpu[01-03,7]'          gpu01 gpu02 gpu03 gpu7\n" +
			"   noderun hostnames 'r[1-2]n[1-2],login'    r1n1 r1n2 r2n1 r2n2 login\n" +
			"   noderun hostnames \"$SLURM_JOB_NODELIST\"\n\n" +
			"A malformed expression exits with status 2 and points at the column at fault.\n" +
			"Put -- before an expression that starts with '-'.",
		// Unknown flags (often an expression starting with '-') are usage
		// errors like any other.
		OnUsageError: exitcode.OnUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return exitcode.Usagef("hostnames: expected exactly one hostlist expression, got %d arguments; "+
					"quote it, e.g. noderun hostnames 'n[1-4]' or noderun hostnames \"$SLURM_JOB_NODELIST\"", c.NArg())
			}
			return run(env, c.Args().First())
		},
	}
}

func run(env *appenv.Env, expr string) error {
	names, err := slurmenv.Expand(expr)
	if err != nil {
		var se *slurmenv.SyntaxError
		if errors.As(err, &se) {
			err = fmt.Errorf("%w\n%s", err, caret(se))
		}
		// The SyntaxError already says "hostlist …, column N"; no prefix.
		return exitcode.With(exitcode.Usage, err)
	}
	w := bufio.NewWriter(env.Stdout)
	for _, n := range names {
		w.WriteString(n)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write host names: %w", err)
	}
	return nil
}

// caret shows the expression with a '^' under the column at fault. Long
// expressions are cut to a window around it so the caret stays on screen.
func caret(se *slurmenv.SyntaxError) string {
	const window = 60
	line, col := se.Expr, se.Pos-1
	if len(line) > 2*window {
		lo, hi := max(col-window, 0), min(col+window, len(line))
		prefix := ""
		if lo > 0 {
			prefix = "..."
		}
		suffix := ""
		if hi < len(line) {
			suffix = "..."
		}
		line = prefix + line[lo:hi] + suffix
		col = col - lo + len(prefix)
	}
	// Tabs and newlines would break the alignment; show them as spaces.
	line = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' {
			return ' '
		}
		return r
	}, line)
	return "  " + line + "\n  " + strings.Repeat(" ", utf8.RuneCountInString(line[:col])) + "^"
}
