package gpu

import "fmt"

// precheck compares d.Seen with the expectation; deviceErr reports an NVML
// failure on some GPU, which fails the check by itself.
func (d *Decision) precheck(req Request, deviceErr bool, where string) error {
	if req.ExpectPerNode == 0 || Mode(req.Mode) == ModeNone || Precheck(req.Precheck) == PrecheckOff {
		return nil
	}
	if d.Seen < 0 {
		d.Warnings = append(d.Warnings, fmt.Sprintf("GPU precheck skipped on node %s: cannot count the GPUs (%s)", req.Node, where))
		return nil
	}
	if d.Seen >= req.ExpectPerNode && !deviceErr {
		return nil
	}
	msg := fmt.Sprintf("on node %s: expected %d GPUs, saw %d (%s)", req.Node, req.ExpectPerNode, d.Seen, where)
	if Precheck(req.Precheck) == PrecheckWarn {
		d.Warnings = append(d.Warnings, "GPU precheck "+msg+"; going on because precheck is warn")
		return nil
	}
	return fmt.Errorf("%w %s; stopping this task now instead of letting NCCL wait up to an hour for GPUs that are not there; "+
		"fix the node or the allocation, or set the precheck to warn", ErrPrecheck, msg)
}
