package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/jobspec"
)

// standInRecord is what the TensorRT-LLM stand-in's test writes for each
// pytest process (examples/trtllm): the contract clauses it found broken,
// whether it ran under the launcher, and whether it saw SLURM_JOB_ID.
type standInRecord struct {
	Violations      []string          `json:"violations"`
	CrossViolations []string          `json:"cross_violations"`
	UnderLauncher   bool              `json:"under_launcher"`
	Env             map[string]string `json:"env"`
}

// TensorRT-LLM's real test, as its stand-in, on the real Slurm lab: with
// only TRTLLM_DIR, stageName, LLM_MODELS_ROOT, NVIDIA_IMEX_CHANNELS and the
// test id settings exported, it passes in the three layouts. Every clause
// of the contract a process can observe is checked by the stand-in from
// each role's point of view; here the records are read back so that a
// clause broken on one role fails this test with its name.
func TestLabTensorRTLLM(t *testing.T) {
	lt := requireLab(t)
	tests := []struct {
		name, config, prefix string
		args                 []string
		launched             []string // roles whose pytest runs under the launcher
		tod                  string
		files                []string // files the runner and supervisor leave under TOD
	}{
		{"disaggregated e2e", "disagg-tiny", "disagg_upload-e2e", nil, []string{"GEN_0"},
			"disagg_upload-e2e-disagg-tiny", []string{"gen_server_0.log", "gen_server_0.done", "ctx_server_0.log", "disagg_server.log"}},
		{"disaggregated gen_only", "disagg-tiny", "disagg_upload-gen_only", nil, []string{"GEN_0"},
			"disagg_upload-gen_only-disagg-tiny", []string{"gen_server_0.log", "gen_server_0.done"}},
		{"aggregated across 2 nodes", "agg_2nodes", "aggr_upload", []string{"--server-name", "tiny_tp4"}, []string{jobspec.RoleWorker},
			"aggr_upload-agg_2nodes-tiny_tp4", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			j := newTRTLLMJob(t, lt, tc.config, tc.prefix, tc.args...)
			if code := j.run(ctx); code != 0 {
				t.Errorf("noderun submit --wait exited %d, want 0", code)
			}
			spec := j.spec()
			if res := j.jobResult(); res.Verdict != "passed" {
				t.Errorf("verdict %s (%s), want passed", res.Verdict, res.Reason)
			}
			recs, _ := filepath.Glob(filepath.Join(j.ws.Dir, "test_output", "*.json"))
			if want := len(spec.Steps); len(recs) != want {
				t.Errorf("%d pytest records, want one per step (%d): pytest runs on rank 0 of launched steps only", len(recs), want)
			}
			for _, f := range recs {
				var r standInRecord
				b, err := os.ReadFile(f)
				if err == nil {
					err = json.Unmarshal(b, &r)
				}
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				name := filepath.Base(f)
				if len(r.Violations)+len(r.CrossViolations) > 0 {
					t.Errorf("%s: contract broken: %v %v", name, r.Violations, r.CrossViolations)
				}
				if id, ok := r.Env["SLURM_JOB_ID"]; ok && id != "" {
					t.Errorf("%s: pytest saw SLURM_JOB_ID=%s; no role may", name, id)
				}
				role, _, _ := strings.Cut(name, ".")
				for _, l := range tc.launched {
					if role == l && !r.UnderLauncher {
						t.Errorf("%s: pytest did not run under the launcher", name)
					}
				}
			}
			for _, role := range tc.launched {
				st, _ := spec.Step(role)
				l, _ := filepath.Glob(filepath.Join(j.ws.Dir, "test_output", "launcher", role+".*.json"))
				if st == nil || len(l) != st.Tasks {
					t.Errorf("%s: %d launcher records, want one per task of the step", role, len(l))
				}
			}
			for _, f := range tc.files {
				if _, err := os.Stat(filepath.Join(j.ws.Dir, tc.tod, f)); err != nil {
					t.Errorf("TOD file: %v", err)
				}
			}
			j.checkNoOrphans(ctx)
		})
	}
}

// newTRTLLMJob is newJob in TensorRT-LLM mode: the config found by name in
// the stand-in checkout, pytest in its DEFS, and CI's environment.
func newTRTLLMJob(t *testing.T, lt labTest, config, prefix string, args ...string) *labJob {
	t.Helper()
	j := newJobWith(t, lt, func(ws string) []string {
		return append([]string{"--workspace", ws, "--kill-grace", "1s", "--after-deciding", "5s"}, args...)
	})
	models := t.TempDir()
	j.env = append(j.env, "TRTLLM_DIR="+filepath.Join(lt.root, "examples", "trtllm"), "CONFIG_NAME="+config,
		"PERF_TEST_PREFIX="+prefix, "stageName=GB200-4_GPUs-PyTorch-PerfSanity-1", "LLM_MODELS_ROOT="+models,
		"NVIDIA_IMEX_CHANNELS=0")
	return j
}
