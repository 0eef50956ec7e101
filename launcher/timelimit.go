package launcher

import (
	"errors"
	"strconv"
	"strings"
)

// errTimeForm says which forms a Slurm time limit takes.
var errTimeForm = errors.New("use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS")

// parseTimeLimit parses a Slurm time limit as sbatch --time takes it:
// "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours",
// "days-hours:minutes", "days-hours:minutes:seconds", or "unlimited" /
// "infinite", which give 0 (no limit). Minutes and seconds after a colon
// have one or two digits.
func parseTimeLimit(s string) (secs int, err error) {
	if strings.EqualFold(s, "unlimited") || strings.EqualFold(s, "infinite") {
		return 0, nil
	}
	days, rest, hasDays := strings.Cut(s, "-")
	if !hasDays {
		days, rest = "0", s
	}
	parts := strings.Split(rest, ":")
	nums := make([]int, 0, len(parts)+1)
	for i, p := range append([]string{days}, parts...) {
		n, err := strconv.Atoi(p)
		valid := err == nil && n >= 0 && p != "" && strings.Trim(p, "0123456789") == ""
		if i > 1 {
			valid = valid && len(p) <= 2
		}
		if !valid {
			return 0, errTimeForm
		}
		nums = append(nums, n)
	}
	d, nums := nums[0], nums[1:]
	var h, m, sec int
	switch {
	case hasDays && len(nums) == 1:
		h = nums[0]
	case hasDays && len(nums) == 2:
		h, m = nums[0], nums[1]
	case hasDays && len(nums) == 3, !hasDays && len(nums) == 3:
		h, m, sec = nums[0], nums[1], nums[2]
	case !hasDays && len(nums) == 1:
		m = nums[0]
	case !hasDays && len(nums) == 2:
		m, sec = nums[0], nums[1]
	default:
		return 0, errTimeForm
	}
	return ((d*24+h)*60+m)*60 + sec, nil
}

// slurmSignalSlack is how early Slurm may send a --signal: it checks on a
// timer (every 30 s in the lab; "up to 60 seconds earlier" in its docs).
const slurmSignalSlack = 60

// warningSeconds is how long before the time limit the batch step asks for
// SIGUSR2: the requested lead, but so that even an early delivery comes in
// the second half of the job; a job too short for that gets no warning and
// is stopped by Slurm's SIGTERM at its limit.
func warningSeconds(requested int, timeLimit string) int {
	limit, err := parseTimeLimit(timeLimit)
	if err != nil || limit == 0 {
		return requested
	}
	return max(0, min(requested, limit/2-slurmSignalSlack))
}
