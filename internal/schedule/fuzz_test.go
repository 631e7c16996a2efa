package schedule

import (
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"cron(0 10 * * ? *)", "cron(0 10 ? * 2-6 *)", "cron(30 22 ? * tue#2 *)",
		"cron(0/15 * * * ? *)", "cron(5-50/5 22-2 L * ? 2026-2030)", "cron(0 0 LW * ? *)",
		"cron(0 0 15W,L-3 nov-feb ? *)", "cron(0 0 ? * 6L,sat#2,4 */3)", "cron(0 0 ? * L *)",
		"cron(0 0 29 2 ? *)", "cron(59 23 31 12 ? 2199)", "rate(1 minute)", "rate(7 days)",
		"cron(0 10 * * ? *", "rate(1 days)", "cron(* * * * ? 2199/1)", "cron(0 0 ? * 1#5 2)",
		"", "cron()", "cron(0 0 L-30 * ? *)", "rate(36500 days)",
	} {
		f.Add(seed)
	}
	zones := []*time.Location{time.UTC, mustZone(f, "America/New_York"), mustZone(f, "Australia/Lord_Howe")}
	starts := []time.Time{
		time.Date(2026, 3, 7, 23, 59, 30, 0, time.UTC),
		time.Date(2026, 10, 31, 5, 0, 0, 0, time.UTC),
		time.Date(2199, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse(%q) returned a schedule and an error", expr)
			}
			return
		}
		if s.String() != expr {
			t.Fatalf("String() = %q, want %q", s.String(), expr)
		}
		for _, loc := range zones {
			for _, after := range starts {
				for range 4 {
					next, ok := s.Next(after, loc)
					if !ok {
						break
					}
					if !next.After(after) {
						t.Fatalf("%s: Next(%v) = %v, not after", expr, after, next)
					}
					if next.Year() > maxYear+1 {
						t.Fatalf("%s: Next(%v) = %v, beyond the year range", expr, after, next)
					}
					after = next
				}
			}
		}
	})
}
