package slurmenv

import (
	"testing"
	"time"
)

// KillWait is read from `scontrol show config` as Slurm 22.05 prints it.
func TestKillWait(t *testing.T) {
	for _, tc := range []struct {
		out     string
		want    time.Duration
		wantErr bool
	}{
		{"JobCompType = jobcomp/none\nKillWait                = 30 sec\nMinJobAge = 300 sec\n", 30 * time.Second, false},
		{"KillWait=2 sec\n", 2 * time.Second, false},
		{"KillOnBadExit = 0\n", 0, true}, // why: a config without the line is unknown, not zero
	} {
		got, err := KillWait([]byte(tc.out))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%q: %s, %v; want %s (error %v)", tc.out, got, err, tc.want, tc.wantErr)
		}
	}
}
