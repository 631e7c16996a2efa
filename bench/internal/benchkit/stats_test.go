package benchkit

import (
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{3}, 3},
		{[]time.Duration{5, 1, 3}, 3},
		{[]time.Duration{4, 1, 3, 2}, 2},
		{[]time.Duration{10, 10, 1, 1, 7}, 7},
	} {
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	upTo := func(n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = time.Duration(i+1) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2), 50, 1 * time.Millisecond},
		{ms(1, 2, 3), 50, 2 * time.Millisecond},
		{upTo(100), 50, 50 * time.Millisecond},
		{upTo(100), 99, 99 * time.Millisecond},
		{upTo(100), 100, 100 * time.Millisecond},
		{upTo(100), 0, 1 * time.Millisecond},
		{upTo(200), 50, 100 * time.Millisecond},
		{upTo(200), 99, 198 * time.Millisecond},
		{upTo(200), 100, 200 * time.Millisecond},
	} {
		if got := Percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("Percentile(%d values, %v) = %v, want %v", len(tc.in), tc.p, got, tc.want)
		}
	}
}

// For whole p the rank is ceil(p·n/100) exactly, whatever n.
func TestPercentileRankIsExact(t *testing.T) {
	for n := 1; n <= 5000; n++ {
		s := make([]time.Duration, n)
		for i := range s {
			s[i] = time.Duration(i + 1)
		}
		for _, p := range []int{1, 50, 90, 95, 99, 100} {
			want := time.Duration(max((p*n+99)/100, 1))
			if got := Percentile(s, float64(p)); got != want {
				t.Fatalf("n=%d p%d: rank %d, want %d", n, p, got, want)
			}
		}
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Seconds(1250 * time.Millisecond), "1.25 s"},
		{Seconds(0), "0.00 s"},
		{Millis(420 * time.Microsecond), "0.42 ms"},
		{Millis(12 * time.Millisecond), "12.00 ms"},
		{Thousands(0), "0"},
		{Thousands(999), "999"},
		{Thousands(1000), "1,000"},
		{Thousands(21010457), "21,010,457"},
		{Thousands(-1234), "-1,234"},
		{Thousands(-123456), "-123,456"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
