package gpu

import (
	"fmt"
	"strings"
)

// unit is what a task can be given: a GPU, or a MIG device of one.
type unit struct {
	uuid string
	dev  *Device
	mig  *MIGDevice
}

// space says which index an entry of a variable means.
type space int

const (
	byIndex space = iota // NVML/CUDA index
	byMinor              // Slurm gres index = /dev/nvidiaN
)

func (u unit) matches(t Token, sp space) bool {
	switch {
	case t.Index >= 0:
		if sp == byMinor && u.dev.Minor >= 0 {
			return u.dev.Minor == t.Index
		}
		return u.dev.Index == t.Index
	case t.MIG != "":
		return u.mig != nil && strings.EqualFold(u.mig.UUID, t.MIG)
	case t.GI >= 0:
		return u.mig != nil && strings.EqualFold(u.dev.UUID, t.GPU) && u.mig.GI == t.GI && u.mig.CI == t.CI
	default:
		return strings.EqualFold(u.dev.UUID, t.GPU)
	}
}

func unitsOf(devs []Device) (units []unit, warnings []string) {
	for i := range devs {
		d := &devs[i]
		if !d.MIGEnabled {
			units = append(units, unit{uuid: d.UUID, dev: d})
			continue
		}
		if len(d.MIG) == 0 {
			warnings = append(warnings, fmt.Sprintf("GPU %d (%s) is in MIG mode but has no MIG devices; CUDA cannot use it", d.Index, d.UUID))
		}
		for j := range d.MIG {
			units = append(units, unit{uuid: d.MIG[j].UUID, dev: d, mig: &d.MIG[j]})
		}
	}
	return units, warnings
}

// restrict keeps the units of set that v names, in set's order; entries
// naming nothing in all are reported.
func restrict(set, all []unit, v *Visible, sp space, node string) (kept []unit, warnings []string) {
	if v.All {
		return set, nil
	}
	for _, u := range set {
		for _, t := range v.Tokens {
			if u.matches(t, sp) {
				kept = append(kept, u)
				break
			}
		}
	}
	for _, t := range v.Tokens {
		found := false
		for _, u := range all {
			if u.matches(t, sp) {
				found = true
				break
			}
		}
		if !found {
			warnings = append(warnings, fmt.Sprintf("%s names %q, which is not a GPU on node %s; ignored", v.Name, t.Text, node))
		}
	}
	return kept, warnings
}

func uuids(us []unit) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.uuid
	}
	return out
}
