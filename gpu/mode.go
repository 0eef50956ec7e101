package gpu

import "fmt"

// Mode says which of the GPUs a task may see it gets. The values are the
// job spec's gpu_mode strings.
type Mode string

// GPU modes of a step.
const (
	// ModeNode gives the task every GPU it may see: MPI-launched workers pick
	// their own device by local rank.
	ModeNode Mode = "node"
	// ModeTask gives local rank L the GPUs [L*g, (L+1)*g) of what it may see.
	ModeTask Mode = "task"
	// ModeNone hides every GPU (server and benchmark roles).
	ModeNone Mode = "none"
)

// ParseMode reads a GPU mode; the error names the value and the allowed ones,
// for the caller to prefix with where it came from.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeNode, ModeTask, ModeNone:
		return m, nil
	}
	return "", fmt.Errorf("%q: use %s, %s or %s", s, ModeNode, ModeTask, ModeNone)
}

// Precheck says what a node with fewer GPUs than expected does. The values
// are the job spec's gpu.precheck strings.
type Precheck string

// Precheck settings.
const (
	PrecheckFail Precheck = "fail"
	PrecheckWarn Precheck = "warn"
	PrecheckOff  Precheck = "off"
)

// ParsePrecheck reads a precheck setting; "" is PrecheckFail, the default.
// The error names the value and the allowed ones, for the caller to prefix
// with where it came from.
func ParsePrecheck(s string) (Precheck, error) {
	switch p := Precheck(s); p {
	case "":
		return PrecheckFail, nil
	case PrecheckFail, PrecheckWarn, PrecheckOff:
		return p, nil
	}
	return "", fmt.Errorf("%q: use %s, %s or %s", s, PrecheckFail, PrecheckWarn, PrecheckOff)
}
