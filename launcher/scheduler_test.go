package launcher

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/noderun/noderun/internal/exitcode"
)

// fakeTools puts shell scripts named like Slurm's tools first in PATH; each
// logs its arguments to NAME.args.
func fakeTools(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		writeFile(t, filepath.Join(dir, name), "#!/bin/sh\nprintf '%s\\n' \"$@\" >> \""+filepath.Join(dir, name)+".args\"\n"+body+"\n", 0o755)
	}
	t.Setenv("PATH", dir)
	return dir
}

func readArgs(t *testing.T, dir, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".args"))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestSlurmSubmit(t *testing.T) {
	tests := []struct {
		name    string
		sbatch  string
		wantID  string
		wantErr string
	}{
		{"parsable id", "echo 1234", "1234", ""},
		// Federated clusters print id;cluster.
		{"id with cluster", "echo '1234;lab'", "1234", ""},
		// A refusal shows what sbatch said.
		{"refused", "echo 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2; exit 1", "",
			"sbatch refused the job (exit status 1): sbatch: error: Batch job submission failed: Invalid partition name specified"},
		{"no id", "echo 'Submitted batch job'", "", "sbatch printed no job id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fakeTools(t, map[string]string{"sbatch": tt.sbatch})
			script := filepath.Join(t.TempDir(), "job.sbatch")
			id, err := NewSlurm().Submit(context.Background(), script)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || id != tt.wantID {
				t.Fatalf("Submit = %q, %v; want %q", id, err, tt.wantID)
			}
			if got := readArgs(t, dir, "sbatch"); !reflect.DeepEqual(got, []string{"--parsable", script}) {
				t.Errorf("sbatch args %q", got)
			}
		})
	}
}

// Without sbatch, submit says so before writing anything and points at --local.
func TestSubmitWithoutSbatch(t *testing.T) {
	f := newFixture(t)
	f.sched = NewSlurm()
	t.Setenv("PATH", t.TempDir())
	err := f.run("--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml"))
	if !errors.Is(err, ErrNoSbatch) || exitcode.Of(err) != exitcode.Submit || !strings.Contains(err.Error(), "--local") {
		t.Fatalf("err = %v (exit %d), want ErrNoSbatch mentioning --local", err, exitcode.Of(err))
	}
	if _, err := os.Stat(f.path("ws")); !os.IsNotExist(err) {
		t.Errorf("workspace written although nothing can be submitted")
	}
	// A dry run needs no sbatch.
	if err := f.run("--workspace", f.path("ws"), "--config", f.path("configs/disagg-tiny.yaml"), "--dry-run"); err != nil {
		t.Errorf("dry run without sbatch: %v", err)
	}
}

func TestSlurmPoll(t *testing.T) {
	tests := []struct {
		name     string
		squeue   string
		scontrol string
		want     JobState
		wantErr  string
	}{
		{"listed", "echo '42|RUNNING|1:02|n[1-2]'", "exit 1",
			JobState{ID: "42", State: "RUNNING", Elapsed: "1:02", Reason: "n[1-2]"}, ""},
		// Ended but still within MinJobAge: squeue lists the final state.
		{"completed", "echo '42|COMPLETED|0:31|n1'", "exit 1",
			JobState{ID: "42", State: "COMPLETED", Elapsed: "0:31", Reason: "n1"}, ""},
		// Purged from squeue: scontrol may still know the final state.
		{"purged, scontrol knows", "echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1",
			"echo 'JobId=42 JobName=x JobState=TIMEOUT Reason=TimeLimit RunTime=00:10:00 TimeLimit=00:10:00'",
			JobState{ID: "42", State: "TIMEOUT", Elapsed: "00:10:00", Reason: "TimeLimit"}, ""},
		// A batch step killed by a signal: the query that finds the job
		// ended tells it, before MinJobAge purges the job.
		{"purged, batch step killed", "true",
			"echo 'JobId=42 JobName=x JobState=FAILED Reason=None RunTime=00:00:02 ExitCode=0:9'",
			JobState{ID: "42", State: "FAILED", Elapsed: "00:00:02", Reason: "None", Signal: 9}, ""},
		// Purged everywhere, and no accounting: the job is gone.
		{"gone", "echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1",
			"echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1",
			JobState{ID: "42", Gone: true}, ""},
		// Newer squeue prints nothing for a purged id and succeeds.
		{"empty listing", "true", "exit 1", JobState{ID: "42", Gone: true}, ""},
		{"controller down", "echo 'slurm_load_jobs error: Unable to contact slurm controller' >&2; exit 1", "exit 1",
			JobState{}, "Unable to contact slurm controller"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fakeTools(t, map[string]string{"squeue": tt.squeue, "scontrol": tt.scontrol})
			states, err := NewSlurm().Poll(context.Background(), []string{"42"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(states) != 1 || states[0] != tt.want {
				t.Errorf("Poll = %+v, want %+v", states, tt.want)
			}
			// One batched query per poll, in the documented format.
			if got := readArgs(t, dir, "squeue"); !reflect.DeepEqual(got, []string{"-h", "-j", "42", "-o", "%i|%T|%M|%R"}) {
				t.Errorf("squeue args %q", got)
			}
		})
	}
}

func TestJobStateEnded(t *testing.T) {
	for state, ended := range map[string]bool{
		"PENDING": false, "RUNNING": false, "COMPLETING": false, "CONFIGURING": false, "SUSPENDED": false,
		"COMPLETED": true, "FAILED": true, "CANCELLED": true, "TIMEOUT": true, "NODE_FAIL": true, "OUT_OF_MEMORY": true,
	} {
		if got := (JobState{State: state}).Ended(); got != ended {
			t.Errorf("%s: Ended() = %v, want %v", state, got, ended)
		}
	}
	if !(JobState{Gone: true}).Ended() {
		t.Error("a gone job has ended")
	}
}
