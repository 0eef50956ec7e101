package launcher

import (
	"strings"
	"testing"
)

func TestTestIDString(t *testing.T) {
	tests := []struct {
		name string
		id   TestID
		want string
	}{
		// The reference's hard-coded id, from the defaults.
		{"defaults", TestID{DefaultTestModule, DefaultTestFunction, DefaultTestPrefix, "cfg", ""},
			"perf/test_perf_sanity.py::test_e2e[disagg_upload-cfg]"},
		// The seed's request: module and prefix configurable.
		{"custom", TestID{"perf/test_perf_enhanced.py", "test_e2e", "custom_test", "cfg", ""},
			"perf/test_perf_enhanced.py::test_e2e[custom_test-cfg]"},
		// Aggregated configs name the server last.
		{"server", TestID{DefaultTestModule, DefaultTestFunction, "aggr_upload", "cfg", "srv"},
			"perf/test_perf_sanity.py::test_e2e[aggr_upload-cfg-srv]"},
	}
	for _, tt := range tests {
		if got := tt.id.String(); got != tt.want {
			t.Errorf("%s: String() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestValidatePart(t *testing.T) {
	tests := []struct {
		name    string
		part    string
		value   string
		wantErr string // substring; "" means valid
	}{
		{"default module", PartModule, DefaultTestModule, ""},
		{"nested module", PartModule, "perf/sub-dir/test_x.py", ""},
		{"function", PartFunction, "test_e2e", ""},
		// Real config names carry - and . and +.
		{"real config name", PartConfigName, "gb200_deepseek-r1-fp4_1k1k_con2048_ctx2_dep4_gen1_dep16_eplb0_mtp3_ccb-NIXL", ""},
		{"prefix with mode", PartPrefix, "aggr_upload-gen_only_no_context", ""},
		{"plus and dot", PartServerName, "a+b.c", ""},

		// The seed's injection example.
		{"semicolon", PartConfigName, "x;touch /tmp/pwned", `";" is not allowed in a config name: x;touch /tmp/pwned`},
		{"bracket closes the param", PartPrefix, "a]b", `"]" is not allowed in a test prefix`},
		{"bracket", PartConfigName, "a[b", `"[" is not allowed`},
		{"space", PartServerName, "a b", `" " is not allowed`},
		{"tab", PartConfigName, "a\tb", `"\t" is not allowed`},
		{"dollar", PartPrefix, "$HOME", `"$" is not allowed`},
		{"backtick", PartConfigName, "a`id`", "\"`\" is not allowed"},
		{"single quote", PartConfigName, "a'b", `"'" is not allowed`},
		{"double quote", PartFunction, `a"b`, `"\"" is not allowed`},
		{"dotdot in name", PartConfigName, "../etc/passwd", `".." is not allowed`},
		{"dotdot in module", PartModule, "perf/../x.py", `".." is not allowed`},
		{"absolute module", PartModule, "/etc/x.py", "an absolute path is not allowed in a test module"},
		{"module without .py", PartModule, "perf/test", "must be a Python file ending in .py"},
		{"module empty segment", PartModule, "perf//x.py", "empty"},
		{"module with colon", PartModule, "perf/x.py::y", `":" is not allowed`},
		{"function starts with digit", PartFunction, "1test", "cannot start with a digit"},
		{"function with dash", PartFunction, "test-e2e", `"-" is not allowed`},
		{"empty", PartConfigName, "", "is empty"},
		// Non-ASCII letters are not in the grammar, and the message shows
		// an invisible character escaped.
		{"non-printable", PartConfigName, "a\x00b", `"\x00" is not allowed in a config name: "a\x00b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePart(tt.part, tt.value)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidatePart(%s, %q) = %v, want nil", tt.part, tt.value, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidatePart(%s, %q) = %v, want error containing %q", tt.part, tt.value, err, tt.wantErr)
			}
		})
	}
}
