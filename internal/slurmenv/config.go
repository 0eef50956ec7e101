package slurmenv

import (
	"errors"
	"regexp"
	"strconv"
	"time"
)

var killWaitLine = regexp.MustCompile(`(?m)^KillWait\s*=\s*([0-9]+)`)

// KillWait reads KillWait from `scontrol show config`'s output: how long
// Slurm lets a cancelled job's processes end before it kills them.
func KillWait(showConfig []byte) (time.Duration, error) {
	m := killWaitLine.FindSubmatch(showConfig)
	if m == nil {
		return 0, errors.New("scontrol show config: no KillWait")
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil {
		return 0, errors.New("scontrol show config: KillWait " + strconv.Quote(string(m[1])) + " is no number of seconds")
	}
	return time.Duration(n) * time.Second, nil
}
