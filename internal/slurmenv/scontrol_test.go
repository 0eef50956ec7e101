package slurmenv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// scontrolResult is what `scontrol show hostnames EXPR` did.
type scontrolResult struct {
	names    []string
	rejected bool // non-zero exit, or "Invalid hostlist" (22.05 exits 0 then)
	stderr   string
}

// newScontrol returns a runner of the real `scontrol show hostnames`, or
// skips the test where scontrol is not installed. scontrol expands
// hostlists without a controller, but it insists on reading a slurm.conf,
// so the test writes a minimal one.
func newScontrol(t *testing.T) func(expr string) scontrolResult {
	t.Helper()
	bin, err := exec.LookPath("scontrol")
	if err != nil {
		t.Skip("scontrol not installed (Debian package slurm-client); the differential test needs it")
	}
	conf := filepath.Join(t.TempDir(), "slurm.conf")
	const slurmConf = `ClusterName=noderun-test
SlurmctldHost=localhost
NodeName=n[1-4] CPUs=1 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES State=UP
`
	if err := os.WriteFile(conf, []byte(slurmConf), 0o644); err != nil {
		t.Fatal(err)
	}
	// Outside variables must not leak in: inside a Slurm job an empty
	// argument would make scontrol expand SLURM_JOB_NODELIST instead.
	env := []string{"SLURM_CONF=" + conf, "PATH=" + os.Getenv("PATH")}
	run := func(expr string) scontrolResult {
		// "--" first: an expression such as -[1-2] is not an option.
		cmd := exec.Command(bin, "--", "show", "hostnames", expr)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatalf("run scontrol: %v", err)
		}
		return scontrolResult{
			names:    strings.Fields(stdout.String()),
			rejected: err != nil || strings.Contains(stderr.String(), "Invalid hostlist"),
			stderr:   stderr.String(),
		}
	}
	// A broken setup (bad slurm.conf, missing libraries) must fail loudly,
	// not pass every comparison of "both print nothing".
	if got := run("n[1-2]"); !slices.Equal(got.names, []string{"n1", "n2"}) {
		t.Fatalf("scontrol does not work here: names %q, stderr %q", got.names, got.stderr)
	}
	return run
}

// Every valid table case is what scontrol prints, and what Expand prints.
func TestExpandMatchesScontrol(t *testing.T) {
	scontrol := newScontrol(t)
	for _, tc := range expandCases {
		got := scontrol(tc.expr)
		if got.rejected || !slices.Equal(got.names, tc.want) {
			t.Errorf("scontrol show hostnames %q = %q (rejected %v, stderr %q); the table says %q (%s)",
				tc.expr, got.names, got.rejected, got.stderr, tc.want, tc.why)
		}
	}
}

// The record of what scontrol does with malformed expressions is true; where
// it "accepts" one, the names it prints show why Expand refuses instead.
func TestMalformedMatchesScontrolRecord(t *testing.T) {
	scontrol := newScontrol(t)
	for _, tc := range syntaxCases {
		if tc.scontrol == "skip" {
			continue
		}
		got := scontrol(tc.expr)
		switch tc.scontrol {
		case "rejects":
			if !got.rejected {
				t.Errorf("scontrol show hostnames %q accepted it and printed %q; the table says it rejects it (%s)", tc.expr, got.names, tc.why)
			}
		default:
			if got.rejected || strings.Join(got.names, " ") != tc.scontrol {
				t.Errorf("scontrol show hostnames %q = %q (rejected %v); the table says %q (%s)", tc.expr, got.names, got.rejected, tc.scontrol, tc.why)
			}
		}
	}
}

// Whatever Expand accepts, scontrol expands to the same names: random
// well-formed expressions (many accepted) and random strings over the
// hostlist alphabet (mostly malformed, the accepted ones are odd corners).
func TestExpandRandomAgainstScontrol(t *testing.T) {
	scontrol := newScontrol(t)
	const seed = 20240611
	rng := rand.New(rand.NewPCG(seed, seed))
	var exprs []string
	for range 250 {
		exprs = append(exprs, randomExpr(rng))
	}
	for range 400 {
		exprs = append(exprs, randomString(rng))
	}
	accepted := 0
	for _, expr := range exprs {
		names, err := Expand(expr)
		if err != nil {
			continue
		}
		accepted++
		got := scontrol(expr)
		if got.rejected || !slices.Equal(got.names, names) {
			t.Errorf("Expand(%q) = %s, but scontrol prints %s (rejected %v, stderr %q)", expr, short(names), short(got.names), got.rejected, got.stderr)
		}
	}
	// The comparison means little if almost nothing got through.
	if accepted < 300 {
		t.Errorf("only %d of %d random expressions were accepted; the generator is off", accepted, len(exprs))
	}
	t.Logf("seed %d: %d of %d random expressions accepted and matched scontrol", seed, accepted, len(exprs))
}

// randomExpr builds a well-formed hostlist: up to three names, each with up
// to three bracket groups of ranges with random zero padding.
func randomExpr(rng *rand.Rand) string {
	prefixes := []string{"n", "gpu", "r", "-", "a.b", "x1y", ""}
	var names []string
	for range 1 + rng.IntN(3) {
		var b strings.Builder
		b.WriteString(prefixes[rng.IntN(len(prefixes))])
		for g := range rng.IntN(4) {
			if g > 0 {
				b.WriteString([]string{"", "n", "-", "x"}[rng.IntN(4)])
			}
			b.WriteByte('[')
			for r := range 1 + rng.IntN(3) {
				if r > 0 {
					b.WriteByte(',')
				}
				lo := rng.IntN(120)
				zeros := strings.Repeat("0", rng.IntN(3))
				fmt.Fprintf(&b, "%s%d", zeros, lo)
				if rng.IntN(2) == 0 {
					fmt.Fprintf(&b, "-%s%d", strings.Repeat("0", rng.IntN(2)), lo+rng.IntN(12))
				}
			}
			b.WriteByte(']')
		}
		if b.Len() == 0 {
			b.WriteString("h")
		}
		names = append(names, b.String())
	}
	return strings.Join(names, []string{",", ",", " "}[rng.IntN(3)])
}

// randomString draws from the characters that matter to the grammar.
func randomString(rng *rand.Rand) string {
	const alphabet = "n0019-,[]x "
	b := make([]byte, 1+rng.IntN(12))
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// short keeps failure messages readable when a list is long.
func short(names []string) string {
	if len(names) <= 12 {
		return fmt.Sprintf("%q", names)
	}
	return fmt.Sprintf("%q … (%d names)", names[:12], len(names))
}
