package launcher

import "testing"

// parseTimeLimit is the one reader of Slurm times: validation and the
// warning lead both use it.
func TestParseTimeLimit(t *testing.T) {
	for in, want := range map[string]int{
		"1": 60, "90": 5400, "10:30": 630, "02:00:00": 7200, "1-0": 86400,
		"1-02": 93600, "1-02:03": 93780, "1-02:03:04": 93784, "0-5": 18000,
		"100:00:00": 360000, "infinite": 0, "UNLIMITED": 0,
	} {
		if got, err := parseTimeLimit(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	// Slurm's own forms only: three-digit minutes after a colon, signs,
	// spaces and empty parts are refused.
	for _, in := range []string{"", "1:2:3:4", "a", "-1", "1:100", "1-2:3:4:5", "+5", " 5", "1:", "1--2", "1-"} {
		if _, err := parseTimeLimit(in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

// The default 60 s warning would arrive at the start of a one-minute job:
// Slurm may send it up to 60 s early.
func TestWarningSeconds(t *testing.T) {
	for _, tc := range []struct {
		req   int
		limit string
		want  int
	}{{60, "1", 0}, {60, "5", 60}, {60, "3", 30}, {60, "02:00:00", 60}, {60, "", 60}, {0, "1", 0}, {60, "infinite", 60}} {
		if got := warningSeconds(tc.req, tc.limit); got != tc.want {
			t.Errorf("warningSeconds(%d, %q) = %d, want %d", tc.req, tc.limit, got, tc.want)
		}
	}
}
