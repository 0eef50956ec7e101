package slurmenv

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// lookupIn turns "NAME=value" entries into a lookup function.
func lookupIn(env []string) func(string) (string, bool) {
	m := map[string]string{}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// srunEnv is what srun gives task 5 of an 8-task step over two nodes of a
// three-node job.
// srunEnvWith is srunEnv with some variables changed and some removed.
func srunEnvWith(change map[string]string, unset []string) map[string]string {
	env := srunEnv()
	for k, v := range change {
		env[k] = v
	}
	for _, k := range unset {
		delete(env, k)
	}
	return env
}

func srunEnv() map[string]string {
	return map[string]string{
		"SLURM_JOB_ID":         "4242",
		"SLURM_STEP_ID":        "3",
		"SLURM_PROCID":         "5",
		"SLURM_LOCALID":        "1",
		"SLURM_NODEID":         "1",
		"SLURMD_NODENAME":      "gpu02",
		"SLURM_JOB_NODELIST":   "gpu[01-03]",
		"SLURM_STEP_NODELIST":  "gpu[01-02]",
		"SLURM_NTASKS":         "8",
		"SLURM_STEP_NUM_TASKS": "8",
		"SLURM_JOB_NUM_NODES":  "3",
		"SLURM_STEP_NUM_NODES": "2",
		// Unrelated variables are ignored.
		"SLURM_CPUS_ON_NODE": "64",
		"PATH":               "/usr/bin",
	}
}

func lookupMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestFromEnv(t *testing.T) {
	got, err := FromEnv(lookupMap(srunEnv()))
	if err != nil {
		t.Fatal(err)
	}
	want := Task{
		JobID: "4242", StepID: "3", ProcID: 5, LocalID: 1, NodeID: 1, NodeName: "gpu02",
		JobNodeList: "gpu[01-03]", StepNodeList: "gpu[01-02]", NTasks: 8, JobNumNodes: 3,
	}
	if got != want {
		t.Errorf("FromEnv = %+v\nwant      %+v", got, want)
	}
}

func TestFromEnvVariants(t *testing.T) {
	cases := []struct {
		name   string
		change map[string]string
		unset  []string
		check  func(Task) bool
		why    string
	}{
		{
			name:   "step count wins",
			change: map[string]string{"SLURM_NTASKS": "16", "SLURM_STEP_NUM_TASKS": "8"},
			check:  func(t Task) bool { return t.NTasks == 8 },
			why:    "inside a step SLURM_NTASKS can be the job's count; the step's own count is the truth",
		},
		{
			name:  "only SLURM_NTASKS",
			unset: []string{"SLURM_STEP_NUM_TASKS"},
			check: func(t Task) bool { return t.NTasks == 8 },
			why:   "older setups and hand-written environments only have SLURM_NTASKS",
		},
		{
			name:  "only SLURM_STEP_NUM_TASKS",
			unset: []string{"SLURM_NTASKS"},
			check: func(t Task) bool { return t.NTasks == 8 },
			why:   "either variable is enough",
		},
		{
			name:   "requeued job",
			change: map[string]string{"SLURM_RESTART_COUNT": "2"},
			check:  func(t Task) bool { return t.RestartCount == 2 },
			why:    "the restart count keys node-local locks of a requeued job",
		},
		{
			name:  "never requeued",
			check: func(t Task) bool { return t.RestartCount == 0 },
			why:   "Slurm sets SLURM_RESTART_COUNT only after a requeue",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task, err := FromEnv(lookupMap(srunEnvWith(tc.change, tc.unset)))
			if err != nil {
				t.Fatalf("FromEnv: %v (%s)", err, tc.why)
			}
			if !tc.check(task) {
				t.Errorf("FromEnv = %+v (%s)", task, tc.why)
			}
		})
	}
}

func TestFromEnvErrors(t *testing.T) {
	cases := []struct {
		name   string
		change map[string]string
		unset  []string
		want   []string // fragments, each must appear
		why    string
	}{
		{
			name:   "malformed rank",
			change: map[string]string{"SLURM_PROCID": "x"},
			want:   []string{`SLURM_PROCID="x": not a non-negative integer`},
			why:    "the message names the variable and its value",
		},
		{
			name:   "negative rank",
			change: map[string]string{"SLURM_LOCALID": "-1"},
			want:   []string{`SLURM_LOCALID="-1": not a non-negative integer`},
			why:    "ranks are never negative",
		},
		{
			name:   "signed number",
			change: map[string]string{"SLURM_NODEID": "+1"},
			want:   []string{`SLURM_NODEID="+1"`},
			why:    "strconv.Atoi would take it; Slurm never writes it",
		},
		{
			name:   "overflowing number",
			change: map[string]string{"SLURM_PROCID": "99999999999999999999"},
			want:   []string{`SLURM_PROCID="99999999999999999999"`},
			why:    "digits alone are not enough",
		},
		{
			name:  "missing variables all reported",
			unset: []string{"SLURM_STEP_ID", "SLURMD_NODENAME", "SLURM_JOB_NUM_NODES"},
			want: []string{
				"SLURM_STEP_ID is not set", "SLURMD_NODENAME is not set", "SLURM_JOB_NUM_NODES is not set",
			},
			why: "one run shows everything that is wrong, not the first thing",
		},
		{
			name:   "job id not a number",
			change: map[string]string{"SLURM_JOB_ID": "42; rm -rf /"},
			want:   []string{`SLURM_JOB_ID="42; rm -rf /": not a decimal id`},
			why:    "job ids end up in file and lock names",
		},
		{
			name:   "empty node name",
			change: map[string]string{"SLURMD_NODENAME": ""},
			want:   []string{`SLURMD_NODENAME="": must not be empty`},
			why:    "set but empty is as bad as unset",
		},
		{
			name:   "malformed node list",
			change: map[string]string{"SLURM_STEP_NODELIST": "gpu[01-"},
			want:   []string{"SLURM_STEP_NODELIST: hostlist", "column 4", "never closed"},
			why:    "a bad node list says where it is bad",
		},
		{
			name:  "no task count",
			unset: []string{"SLURM_NTASKS", "SLURM_STEP_NUM_TASKS"},
			want:  []string{"neither SLURM_STEP_NUM_TASKS nor SLURM_NTASKS is set"},
			why:   "one of the two is needed",
		},
		{
			name:   "zero tasks",
			change: map[string]string{"SLURM_STEP_NUM_TASKS": "0"},
			want:   []string{`SLURM_STEP_NUM_TASKS="0": not a positive integer`},
			why:    "a step has at least one task",
		},
		{
			name:   "malformed restart count",
			change: map[string]string{"SLURM_RESTART_COUNT": "once"},
			want:   []string{`SLURM_RESTART_COUNT="once": not a non-negative integer`},
			why:    "optional, but when set it must be a number",
		},
		{
			name:   "rank beyond the step",
			change: map[string]string{"SLURM_PROCID": "8"},
			want:   []string{"SLURM_PROCID=8 is not below the step's task count 8 (SLURM_STEP_NUM_TASKS)"},
			why:    "a contradicting fake environment would put two ranks on one GPU",
		},
		{
			name:   "node beyond the step",
			change: map[string]string{"SLURM_NODEID": "2"},
			want:   []string{`SLURM_NODEID=2 but SLURM_STEP_NODELIST="gpu[01-02]" names 2 node(s)`},
			why:    "the node index must point into the step's nodes",
		},
		{
			name:   "job node count disagrees",
			change: map[string]string{"SLURM_JOB_NUM_NODES": "4"},
			want:   []string{`SLURM_JOB_NUM_NODES=4 but SLURM_JOB_NODELIST="gpu[01-03]" names 3 node(s)`},
			why:    "the count and the list describe the same job",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task, err := FromEnv(lookupMap(srunEnvWith(tc.change, tc.unset)))
			if err == nil {
				t.Fatalf("FromEnv = %+v, want an error (%s)", task, tc.why)
			}
			if errors.Is(err, ErrNotInSlurm) {
				t.Errorf("error %q wraps ErrNotInSlurm, but this is a Slurm task", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q (%s)", err, w, tc.why)
				}
			}
			if task != (Task{}) {
				t.Errorf("FromEnv returned %+v with its error; want the zero Task", task)
			}
		})
	}
}

func TestFromEnvNotInSlurm(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want bool
		why  string
	}{
		{map[string]string{"PATH": "/usr/bin"}, true, "a plain shell"},
		{map[string]string{"SLURM_CONF": "/etc/slurm/slurm.conf"}, true, "other SLURM_* variables do not make a task"},
		{map[string]string{"SLURM_JOB_ID": "7"}, false, "inside sbatch but outside srun: a Slurm problem, not 'not in Slurm'"},
		{map[string]string{"SLURM_PROCID": "0"}, false, "a rank without a job is a broken environment"},
	}
	for _, tc := range cases {
		_, err := FromEnv(lookupMap(tc.env))
		if err == nil {
			t.Fatalf("%s: no error", tc.why)
		}
		if errors.Is(err, ErrNotInSlurm) != tc.want {
			t.Errorf("%s: errors.Is(%q, ErrNotInSlurm) = %v, want %v", tc.why, err, !tc.want, tc.want)
		}
	}
}

// Environ and FromEnv agree: what the local simulation writes is read back
// unchanged.
func TestEnvironRoundTrip(t *testing.T) {
	cases := []struct {
		task Task
		why  string
	}{
		{Task{JobID: "1", StepID: "0", NodeName: "n1", JobNodeList: "n1", StepNodeList: "n1", NTasks: 1, JobNumNodes: 1},
			"the smallest task"},
		{Task{JobID: "4242", StepID: "3", ProcID: 5, LocalID: 1, NodeID: 1, NodeName: "gpu02",
			JobNodeList: "gpu[01-03]", StepNodeList: "gpu[01-02]", NTasks: 8, JobNumNodes: 3, RestartCount: 2},
			"a multi-node step of a requeued job"},
		{Task{JobID: "9", StepID: "1", ProcID: 3, LocalID: 3, NodeID: 0, NodeName: "local0",
			JobNodeList: Compress([]string{"local0", "local1"}), StepNodeList: "local0", NTasks: 4, JobNumNodes: 2},
			"a simulated job whose node list Compress wrote"},
	}
	for _, tc := range cases {
		env := tc.task.Environ()
		got, err := FromEnv(lookupIn(env))
		if err != nil {
			t.Errorf("%s: FromEnv(Environ()): %v\nenv: %q", tc.why, err, env)
			continue
		}
		if got != tc.task {
			t.Errorf("%s: FromEnv(Environ()) = %+v, want %+v", tc.why, got, tc.task)
		}
	}
}

func TestEnviron(t *testing.T) {
	task := Task{JobID: "4242", StepID: "3", ProcID: 5, LocalID: 1, NodeID: 1, NodeName: "gpu02",
		JobNodeList: "gpu[01-03]", StepNodeList: "gpu[01-02],gpu05", NTasks: 8, JobNumNodes: 3}
	env := task.Environ()
	for _, want := range []string{
		"SLURM_STEP_NUM_TASKS=8", "SLURM_NTASKS=8", "SLURM_JOB_NUM_NODES=3",
		"SLURM_STEP_NUM_NODES=3", // counted from the step's list, not copied from the job
		"SLURMD_NODENAME=gpu02", "SLURM_STEP_NODELIST=gpu[01-02],gpu05",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("Environ() lacks %q: %q", want, env)
		}
	}
	for _, e := range env {
		if strings.HasPrefix(e, "SLURM_RESTART_COUNT=") {
			t.Errorf("Environ() sets %q for a job that was never requeued; Slurm does not", e)
		}
	}
	task.RestartCount = 1
	if !slices.Contains(task.Environ(), "SLURM_RESTART_COUNT=1") {
		t.Errorf("Environ() of a requeued task lacks SLURM_RESTART_COUNT=1: %q", task.Environ())
	}
}
