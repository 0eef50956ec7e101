package gpu

import "fmt"

// pick takes this task's share of set.
func (d *Decision) pick(set []string, bound bool, req Request, where string) ([]string, error) {
	if Mode(req.Mode) != ModeTask {
		return nonNil(set), nil
	}
	g, l := req.GPUsPerTask, req.LocalRank
	if bound {
		if len(set) < g {
			return nil, fmt.Errorf("%w on node %s for local rank %d: it needs %d GPUs, Slurm bound it to %d (%s)",
				ErrNotEnoughGPUs, req.Node, l, g, len(set), where)
		}
		if len(set) > g {
			d.Warnings = append(d.Warnings, fmt.Sprintf("Slurm bound %d GPUs to local rank %d; using the first %d", len(set), l, g))
		}
		return set[:g], nil
	}
	need := (l + 1) * g
	if t := req.TasksOnNode * g; t > need {
		need = t
	}
	if len(set) < need {
		tasks := fmt.Sprintf("local ranks 0-%d", l)
		if req.TasksOnNode > 0 {
			tasks = fmt.Sprintf("%d tasks", req.TasksOnNode)
		}
		return nil, fmt.Errorf("%w on node %s for local rank %d: %d GPUs per task for %s need %d GPUs, %d are visible (%s)",
			ErrNotEnoughGPUs, req.Node, l, g, tasks, need, len(set), where)
	}
	return set[l*g : (l+1)*g], nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
