package gpu

import (
	"strings"
	"testing"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mode
		err  bool
	}{
		// Every spec value round-trips.
		{in: "node", want: ModeNode},
		{in: "task", want: ModeTask},
		{in: "none", want: ModeNone},
		// No default: a step without a mode is a spec bug.
		{in: "", err: true},
		// Case matters, as in the job spec.
		{in: "Task", err: true},
		{in: "gpu", err: true},
	} {
		got, err := ParseMode(tc.in)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), "use node, task or none") || !strings.Contains(err.Error(), `"`+tc.in+`"`) {
				t.Errorf("ParseMode(%q) error = %v, want one naming the value and node, task, none", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParsePrecheck(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Precheck
		err  bool
	}{
		{in: "fail", want: PrecheckFail},
		{in: "warn", want: PrecheckWarn},
		{in: "off", want: PrecheckOff},
		// Older specs and unset env leave it empty: the safe default.
		{in: "", want: PrecheckFail},
		{in: "maybe", err: true},
		{in: "FAIL", err: true},
	} {
		got, err := ParsePrecheck(tc.in)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), "use fail, warn or off") || !strings.Contains(err.Error(), `"`+tc.in+`"`) {
				t.Errorf("ParsePrecheck(%q) error = %v, want one naming the value and fail, warn, off", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePrecheck(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
