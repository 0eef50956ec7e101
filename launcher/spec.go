package launcher

import (
	"slices"

	"github.com/noderun/noderun/internal/jobspec"
)

// specInput is what buildSpec needs besides the plan.
type specInput struct {
	Job          jobspec.Job
	Workspace    string
	NodeLocalDir string
	TestRoot     string
	Setup        *jobspec.Command
	Pytest       string
	PytestArgs   []string
	SrunArgs     []string
	Timeouts     jobspec.Timeouts
	Precheck     string
	Plan         *Plan
}

// buildSpec turns a plan into the job spec. Every step runs the same pytest
// command, [pytest, pytest args…, test id], in the test root; what differs
// is the role's environment: the config's *_env_var entries for the role,
// then DISAGG_SERVING_TYPE=<role> for disaggregated roles (last, so a config
// cannot override it). Aggregated workers get DISAGG_SERVING_TYPE removed,
// because the test would otherwise take a value inherited from CI for a role.
func buildSpec(in specInput) *jobspec.Spec {
	argv := append(append([]string{in.Pytest}, in.PytestArgs...), in.Job.TestID)
	s := &jobspec.Spec{
		Version:      jobspec.Version,
		Job:          in.Job,
		Workspace:    in.Workspace,
		NodeLocalDir: in.NodeLocalDir,
		Setup:        in.Setup,
		Timeouts:     in.Timeouts,
		GPU:          jobspec.GPUPolicy{PerNode: in.Plan.GPUsPerNode, Precheck: in.Precheck},
		Srun:         jobspec.Srun{Args: in.SrunArgs},
		Nodes:        in.Plan.Nodes,
	}
	for _, ps := range in.Plan.Steps {
		cmd := jobspec.Command{Argv: slices.Clone(argv), Env: slices.Clone(ps.Env), Dir: in.TestRoot}
		if ps.ServingType != "" {
			cmd.Env = append(cmd.Env, jobspec.EnvVar{Name: jobspec.EnvServingType, Value: ps.ServingType})
		} else {
			cmd.Unset = []string{jobspec.EnvServingType}
		}
		s.Steps = append(s.Steps, jobspec.Step{
			Role:         ps.Role,
			Kind:         ps.Kind,
			FirstNode:    ps.FirstNode,
			Nodes:        ps.Nodes,
			Tasks:        ps.Tasks,
			TasksPerNode: ps.TasksPerNode,
			MPI:          ps.MPI,
			Overlap:      ps.Overlap,
			Deciding:     ps.Deciding,
			ServingType:  ps.ServingType,
			Fence:        ps.Fence,
			GPUMode:      ps.GPUMode,
			Command:      cmd,
			// Every role runs pytest, so every task gets its own junit file.
			Pytest: true,
		})
	}
	return s
}
