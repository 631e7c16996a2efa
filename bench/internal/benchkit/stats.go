package benchkit

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Median is the middle value of ds, or the mean of the middle two; 0 for
// none. ds is not modified.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Percentile returns the p-th percentile (nearest rank: the smallest
// value with at least p% of the values at or below it) of sorted, which
// must be in ascending order; 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// p·n/100 rather than p/100·n: for whole p the product is exact, so
	// the rank never lands one too high through rounding.
	rank := int(math.Ceil(p * float64(len(sorted)) / 100))
	return sorted[max(0, min(rank, len(sorted))-1)]
}

// Seconds formats d in seconds with two decimals ("1.25 s"), the unit
// builds are read in.
func Seconds(d time.Duration) string {
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// Millis formats d in milliseconds with two decimals ("0.42 ms"), the
// unit request latencies are read in.
func Millis(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// Thousands formats n with comma thousands separators ("-1,234,567").
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && c != '-' && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
