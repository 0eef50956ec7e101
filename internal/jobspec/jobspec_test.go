package jobspec

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/redact"
)

func validSpec() *Spec {
	return &Spec{
		Version: Version, Workspace: "/ws", Nodes: 2,
		Timeouts: Timeouts{KillGrace: Duration(10 * time.Second)},
		GPU:      GPUPolicy{PerNode: 4, Precheck: "fail"},
		Steps: []Step{
			{Role: "GEN_0", Kind: KindWorker, Nodes: 2, Tasks: 8, TasksPerNode: 4, GPUMode: GPUModeNode,
				Command: Command{Argv: []string{"pytest", "x"}, Env: []EnvVar{{Name: "A", Value: `a "b" $c`}}}},
			{Role: RoleBenchmark, Kind: KindBenchmark, Nodes: 1, Tasks: 1, TasksPerNode: 1, GPUMode: GPUModeNone,
				Deciding: true, Command: Command{Argv: []string{"pytest"}}},
		},
	}
}

// A spec survives its own encoding unchanged, byte for byte.
func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.json")
	if err := validSpec().Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	validSpec().Encode(&a)
	got.Encode(&b)
	if a.String() != b.String() {
		t.Errorf("round trip changed the spec:\n%s\n%s", a.String(), b.String())
	}
	if got.Steps[0].Command.Env[0].Value != `a "b" $c` || got.Timeouts.KillGrace.D() != 10*time.Second {
		t.Errorf("values changed: %+v", got.Steps[0].Command.Env)
	}
}

func TestDecodeStrict(t *testing.T) {
	var good bytes.Buffer
	validSpec().Encode(&good)
	tests := []struct {
		name string
		json string
		want string
	}{
		// A field this version does not know means another writer: refuse.
		{"unknown field", strings.Replace(good.String(), `"nodes": 2,`, `"nodes": 2, "colour": "red",`, 1), "unknown field"},
		{"wrong version", strings.Replace(good.String(), `"version": 1`, `"version": 9`, 1), "version 9"},
		{"trailing data", good.String() + "{}", "trailing data"},
		{"bad duration", strings.Replace(good.String(), `"kill_grace": "10s"`, `"kill_grace": "soon"`, 1), "duration"},
		{"negative duration", strings.Replace(good.String(), `"kill_grace": "10s"`, `"kill_grace": "-1s"`, 1), "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := Decode(strings.NewReader(strings.Replace(good.String(), `"version": 1`, `"version": 2`, 1))); !errors.Is(err, ErrVersion) {
		t.Errorf("wrong version is not ErrVersion: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Spec)
		want   string
	}{
		{"tasks do not add up", func(s *Spec) { s.Steps[0].Tasks = 7 }, "tasks 7"},
		{"step outside the job's nodes", func(s *Spec) { s.Steps[0].FirstNode = 1 }, "outside the job's 2 nodes"},
		{"two deciding steps", func(s *Spec) { s.Steps[0].Deciding = true }, "deciding"},
		{"duplicate role", func(s *Spec) { s.Steps[1].Role = "GEN_0" }, "twice"},
		{"task mode without GPUs per task", func(s *Spec) { s.Steps[0].GPUMode = GPUModeTask }, "gpus_per_task"},
		{"bad env name", func(s *Spec) { s.Steps[0].Command.Env[0].Name = "A-B" }, "not a valid variable name"},
		{"empty command", func(s *Spec) { s.Steps[1].Command.Argv = nil }, "empty command"},
		{"bad precheck", func(s *Spec) { s.GPU.Precheck = "maybe" }, "precheck"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec()
			tc.mutate(s)
			if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if err := validSpec().Validate(); err != nil {
		t.Errorf("valid spec refused: %v", err)
	}
}

// The task's junit path goes where the step's option stands bare in argv
// (TensorRT-LLM's line keeps --periodic-junit-xmlpath in the middle), else
// at the end; --junit-xml is always appended as one word.
func TestArgvWithJunit(t *testing.T) {
	tests := []struct {
		option string
		argv   []string
		want   []string
	}{
		{"", []string{"pytest", "t"}, []string{"pytest", "t", "--junit-xml=/j.xml"}},
		{JunitXML, []string{"pytest"}, []string{"pytest", "--junit-xml=/j.xml"}},
		{PeriodicJunit, []string{"pytest", "--periodic-junit", PeriodicJunit, "--periodic-batch-size=1"},
			[]string{"pytest", "--periodic-junit", PeriodicJunit, "/j.xml", "--periodic-batch-size=1"}},
		{PeriodicJunit, []string{"pytest"}, []string{"pytest", PeriodicJunit, "/j.xml"}},
	}
	for _, tt := range tests {
		st := Step{JunitOption: tt.option, Command: Command{Argv: tt.argv}}
		if got := st.ArgvWithJunit("/j.xml"); !slices.Equal(got, tt.want) {
			t.Errorf("%s %q: got %q, want %q", tt.option, tt.argv, got, tt.want)
		}
		if len(st.Command.Argv) != len(tt.argv) {
			t.Errorf("the step's own argv changed: %q", st.Command.Argv)
		}
	}
}

// job.json holds secrets: only its owner reads it, and AddSecrets finds
// them in env entries and command lines.
func TestSecrets(t *testing.T) {
	s := validSpec()
	s.Setup = &Command{Argv: []string{"env", "SETUP_TOKEN=setup-secret", "true"}}
	s.Steps[0].Command.Env = append(s.Steps[0].Command.Env, EnvVar{Name: "HF_TOKEN", Value: "env-secret"})
	s.Steps[1].Command.Argv = append(s.Steps[1].Command.Argv, "--api-key", "arg-secret")
	path := filepath.Join(t.TempDir(), "job.json")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("job.json: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	k := &redact.Known{}
	s.AddSecrets(k)
	if got := k.String("setup-secret env-secret arg-secret a \"b\" $c"); got != `<redacted> <redacted> <redacted> a "b" $c` {
		t.Errorf("hidden: %q", got)
	}
}
