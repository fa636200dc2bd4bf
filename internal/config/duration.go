package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

const day = 24 * time.Hour

// ParseDuration parses Go's duration syntax (time.ParseDuration: "90s",
// "1h30m") plus a leading whole number of days with the suffix "d" ("90d"),
// which may be followed by a Go duration ("1d12h"). Days come first and are
// whole: "1.5d" and "12h1d" are rejected. The error quotes s.
func ParseDuration(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, badDuration(s)
		}
		return d, nil
	}
	neg := strings.HasPrefix(days, "-")
	digits := strings.TrimLeft(days, "+-")
	if len(days)-len(digits) > 1 || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, badDuration(s)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64/int64(day) {
		return 0, badDuration(s)
	}
	d := time.Duration(n) * day
	if rest != "" {
		if rest[0] < '0' || rest[0] > '9' {
			return 0, badDuration(s)
		}
		r, err := time.ParseDuration(rest)
		if err != nil || r > math.MaxInt64-d {
			return 0, badDuration(s)
		}
		d += r
	}
	if neg {
		d = -d
	}
	return d, nil
}

func badDuration(s string) error {
	return fmt.Errorf("invalid duration %q: want Go syntax (90s, 1h30m) or whole days (90d)", s)
}

// formatDuration writes d in the largest whole unit of d, m, h or s.
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%day == 0:
		return fmt.Sprintf("%dd", d/day)
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	default:
		return d.String()
	}
}
