package launcher

import (
	"strconv"
	"strings"
)

// timeLimitSeconds parses a Slurm time limit ("minutes", "minutes:seconds",
// "hours:minutes:seconds", "days-hours", "days-hours:minutes",
// "days-hours:minutes:seconds"); ok is false for anything else, including
// "infinite" and "unlimited".
func timeLimitSeconds(s string) (secs int, ok bool) {
	days := 0
	rest := s
	d, r, hasDays := strings.Cut(s, "-")
	if hasDays {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, false
		}
		days, rest = n, r
	}
	parts := strings.Split(rest, ":")
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0, false
		}
		nums[i] = n
	}
	var h, m, sec int
	switch {
	case hasDays && len(nums) == 1:
		h = nums[0]
	case hasDays && len(nums) == 2:
		h, m = nums[0], nums[1]
	case len(nums) == 1:
		m = nums[0]
	case len(nums) == 2:
		m, sec = nums[0], nums[1]
	case len(nums) == 3:
		h, m, sec = nums[0], nums[1], nums[2]
	default:
		return 0, false
	}
	return ((days*24+h)*60+m)*60 + sec, true
}

// slurmSignalSlack is how early Slurm may send a --signal: it checks on a
// timer (every 30 s in the lab; "up to 60 seconds earlier" in its docs).
const slurmSignalSlack = 60

// warningSeconds is how long before the time limit the batch step asks for
// SIGUSR2: the requested lead, but so that even an early delivery comes in
// the second half of the job; a job too short for that gets no warning and
// is stopped by Slurm's SIGTERM at its limit.
func warningSeconds(requested int, timeLimit string) int {
	limit, ok := timeLimitSeconds(timeLimit)
	if !ok || limit == 0 {
		return requested
	}
	return max(0, min(requested, limit/2-slurmSignalSlack))
}
