package gpu

import "fmt"

// Mode says which GPUs a task gets; the values are the job spec's gpu_mode.
type Mode string

// GPU modes: every GPU the task may see (MPI workers pick theirs by local
// rank), local rank L's slice [L*g, (L+1)*g), or none.
const (
	ModeNode Mode = "node"
	ModeTask Mode = "task"
	ModeNone Mode = "none"
)

// ParseMode reads a GPU mode. The error names the value and the allowed
// ones; callers prefix where the value came from.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeNode, ModeTask, ModeNone:
		return m, nil
	}
	return "", fmt.Errorf("%q: use %s, %s or %s", s, ModeNode, ModeTask, ModeNone)
}

// Precheck says what a node with fewer GPUs than expected does; the values
// are the job spec's gpu.precheck.
type Precheck string

// Precheck settings.
const (
	PrecheckFail Precheck = "fail"
	PrecheckWarn Precheck = "warn"
	PrecheckOff  Precheck = "off"
)

// ParsePrecheck reads a precheck setting, "" being PrecheckFail. The error
// is worded like ParseMode's.
func ParsePrecheck(s string) (Precheck, error) {
	switch p := Precheck(s); p {
	case "":
		return PrecheckFail, nil
	case PrecheckFail, PrecheckWarn, PrecheckOff:
		return p, nil
	}
	return "", fmt.Errorf("%q: use %s, %s or %s", s, PrecheckFail, PrecheckWarn, PrecheckOff)
}

// Faults says what a GPU fault during a task (an XID, an uncorrected ECC
// error) does to the task.
type Faults string

// Fault settings.
const (
	FaultsWarn Faults = "warn" // a warning line in the summary
	FaultsFail Faults = "fail" // the task fails
)

// ParseFaults reads a fault setting, "" being FaultsWarn.
func ParseFaults(s string) (Faults, error) {
	switch f := Faults(s); f {
	case "":
		return FaultsWarn, nil
	case FaultsWarn, FaultsFail:
		return f, nil
	}
	return "", fmt.Errorf("%q: use %s or %s", s, FaultsWarn, FaultsFail)
}
