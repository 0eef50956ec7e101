package gpu

import (
	"errors"
	"strings"
	"testing"
)

func TestParseVisible(t *testing.T) {
	const (
		g0  = "GPU-00000000-1111-2222-3333-000000000000"
		m0  = "MIG-00000000-0000-2222-3333-444444444444"
		leg = "MIG-GPU-00000000-1111-2222-3333-000000000000/1/0"
	)
	for _, tc := range []struct {
		name, value string
		all         bool
		tokens      []Token // compared by form; nil: no GPU
	}{
		// The container default: no restriction at all.
		{"all", "all", true, nil},
		// The three spellings of "no GPU" that NVIDIA's tooling accepts.
		{"none", "none", false, nil},
		{"void", "void", false, nil},
		{"empty", "", false, nil},
		// Slurm's and CUDA's usual form.
		{"indices", "0,1,3", false, []Token{idx(0), idx(1), idx(3)}},
		// Hand-edited values with spaces must not fail a job.
		{"spaces", " 2 , 5 ", false, []Token{idx(2), idx(5)}},
		// What noderun itself writes.
		{"gpu uuid", g0, false, []Token{gpuTok(g0)}},
		// MIG UUIDs (drivers >= R470) and the older triple form.
		{"mig uuid", m0, false, []Token{{Index: -1, MIG: m0, GI: -1, CI: -1}}},
		{"mig legacy", leg, false, []Token{{Index: -1, GPU: g0, GI: 1, CI: 0}}},
		// Forms may mix.
		{"mixed", "1," + g0, false, []Token{idx(1), gpuTok(g0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseVisible("CUDA_VISIBLE_DEVICES", tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if v.All != tc.all || len(v.Tokens) != len(tc.tokens) {
				t.Fatalf("got all=%v tokens=%+v, want all=%v tokens=%+v", v.All, v.Tokens, tc.all, tc.tokens)
			}
			for i, want := range tc.tokens {
				got := v.Tokens[i]
				got.Text = ""
				if got != want {
					t.Errorf("token %d = %+v, want %+v", i, got, want)
				}
			}
		})
	}
}

func idx(n int) Token          { return Token{Index: n, GI: -1, CI: -1} }
func gpuTok(uuid string) Token { return Token{Index: -1, GPU: uuid, GI: -1, CI: -1} }

// TestParseVisibleGarbage checks a bad value is refused with a message that
// names the variable and the bad entry, and says what is accepted.
func TestParseVisibleGarbage(t *testing.T) {
	for _, tc := range []struct {
		name, value, bad, why string
	}{
		// A typo'd keyword: "ALL" means nothing to the container runtime either.
		{"upper keyword", "ALL", "ALL", "not a device index or UUID"},
		// Keywords cannot be list members.
		{"keyword in list", "0,all", "all", "keyword"},
		// A trailing comma from a shell join.
		{"trailing comma", "0,1,", "", "empty"},
		// A negative index.
		{"negative", "-1", "-1", "not a device index"},
		// CUDA's UUID-prefix shorthand cannot be checked against NVML.
		{"short uuid", "GPU-8932f937", "GPU-8932f937", "not a complete UUID"},
		// Shell residue from the reference's heredocs.
		{"shell", "$(nvidia-smi)", "$(nvidia-smi)", "not a device index"},
		// A repeated GPU would make two ranks share it.
		{"duplicate", "1,1", "1", "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseVisible("NVIDIA_VISIBLE_DEVICES", tc.value)
			if !errors.Is(err, ErrInvalidDevices) {
				t.Fatalf("err = %v, want ErrInvalidDevices", err)
			}
			for _, want := range []string{"NVIDIA_VISIBLE_DEVICES", `"` + tc.bad + `"`, tc.why} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q lacks %q", err, want)
				}
			}
		})
	}
}
