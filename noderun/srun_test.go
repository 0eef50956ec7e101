package noderun

import (
	"strings"
	"testing"

	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/workspace"
)

func TestSrunArgs(t *testing.T) {
	s := &SrunStarter{Binary: "/ws/bin/noderun", SpecPath: "/ws/job.json", Workspace: workspace.New("/ws"),
		ExtraArgs: []string{"--container-image=img:1,2"}}
	tests := []struct {
		name  string
		step  jobspec.Step
		nodes []string
		want  string
	}{
		// A GEN worker: its own nodes and MPI type; the role travels as --role only.
		{"worker", jobspec.Step{Role: "GEN_0", Nodes: 2, Tasks: 8, TasksPerNode: 4, MPI: "pmix"}, []string{"n1", "n2"},
			"--job-name=GEN_0 --kill-on-bad-exit=1 --nodes=2 --nodelist=n1,n2 --ntasks=8 --ntasks-per-node=4 " +
				"--export=ALL --output=/ws/logs/GEN_0/runner-rank%t.log --mpi=pmix " +
				"--container-image=img:1,2 /ws/bin/noderun run --spec /ws/job.json --role GEN_0"},
		// The benchmark shares the first node (--overlap) and has no MPI.
		{"benchmark", jobspec.Step{Role: "BENCHMARK", Nodes: 1, Tasks: 1, TasksPerNode: 1, Overlap: true}, []string{"n1"},
			"--job-name=BENCHMARK --kill-on-bad-exit=1 --nodes=1 --nodelist=n1 --ntasks=1 --ntasks-per-node=1 " +
				"--export=ALL --output=/ws/logs/BENCHMARK/runner-rank%t.log --overlap " +
				"--container-image=img:1,2 /ws/bin/noderun run --spec /ws/job.json --role BENCHMARK"},
		// Aggregated: the same shape without MPI.
		{"aggregated", jobspec.Step{Role: "WORKER", Nodes: 1, Tasks: 2, TasksPerNode: 2}, []string{"n3"},
			"--job-name=WORKER --kill-on-bad-exit=1 --nodes=1 --nodelist=n3 --ntasks=2 --ntasks-per-node=2 " +
				"--export=ALL --output=/ws/logs/WORKER/runner-rank%t.log " +
				"--container-image=img:1,2 /ws/bin/noderun run --spec /ws/job.json --role WORKER"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(s.Args(&tc.step, tc.nodes), " "); got != tc.want {
				t.Errorf("srun args\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
