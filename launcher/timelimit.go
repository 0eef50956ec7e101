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

// warningSeconds is how long before the time limit the batch step asks for
// SIGUSR2: the requested lead, but at most half the limit, so that a short
// job is not told at its start that its time is up.
func warningSeconds(requested int, timeLimit string) int {
	if limit, ok := timeLimitSeconds(timeLimit); ok && limit > 0 && requested > limit/2 {
		return limit / 2
	}
	return requested
}
