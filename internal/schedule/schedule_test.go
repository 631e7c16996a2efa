package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := LoadZone(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestNext(t *testing.T) {
	tests := []struct {
		expr  string
		zone  string
		after string   // RFC 3339
		want  []string // RFC 3339, in the zone; fewer than asked means exhaustion
		n     int      // firings to ask for; len(want) when 0
	}{
		// The service's documented examples.
		{expr: "cron(0 10 * * ? *)", after: "2026-01-01T10:00:00Z",
			want: []string{"2026-01-02T10:00:00Z", "2026-01-03T10:00:00Z"}},
		{expr: "cron(15 12 * * ? *)", after: "2026-01-01T00:00:00Z",
			want: []string{"2026-01-01T12:15:00Z", "2026-01-02T12:15:00Z"}},
		{expr: "cron(0 10 ? * 2-6 *)", after: "2026-01-01T12:00:00Z", // Thu
			want: []string{"2026-01-02T10:00:00Z", "2026-01-05T10:00:00Z", "2026-01-06T10:00:00Z"}},
		{expr: "cron(0 18 ? * mon-fri *)", after: "2026-01-02T18:00:00Z",
			want: []string{"2026-01-05T18:00:00Z"}},
		{expr: "cron(0 8 1 * ? *)", after: "2026-01-01T08:00:00Z",
			want: []string{"2026-02-01T08:00:00Z", "2026-03-01T08:00:00Z"}},
		{expr: "cron(30 22 ? * tue#2 *)", after: "2026-01-01T00:00:00Z",
			want: []string{"2026-01-13T22:30:00Z", "2026-02-10T22:30:00Z", "2026-03-10T22:30:00Z"}},

		// Strictly after; seconds of `after` do not matter.
		{expr: "cron(* * * * ? *)", after: "2026-01-01T00:00:00Z",
			want: []string{"2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"}},
		{expr: "cron(* * * * ? *)", after: "2026-01-01T00:00:59.999Z",
			want: []string{"2026-01-01T00:01:00Z"}},
		{expr: "cron(0 0 1 1 ? *)", after: "2025-12-31T23:59:59Z",
			want: []string{"2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"}},

		// Steps, ranges, lists, names, wrap-around.
		{expr: "cron(0/15 9 * * ? *)", after: "2026-01-01T09:00:00Z",
			want: []string{"2026-01-01T09:15:00Z", "2026-01-01T09:30:00Z", "2026-01-01T09:45:00Z", "2026-01-02T09:00:00Z"}},
		{expr: "cron(*/20 * * * ? *)", after: "2026-01-01T23:30:00Z",
			want: []string{"2026-01-01T23:40:00Z", "2026-01-02T00:00:00Z"}},
		{expr: "cron(5-50/20 3 * * ? *)", after: "2026-01-01T00:00:00Z",
			want: []string{"2026-01-01T03:05:00Z", "2026-01-01T03:25:00Z", "2026-01-01T03:45:00Z", "2026-01-02T03:05:00Z"}},
		{expr: "cron(0 22-2 * * ? *)", after: "2026-01-01T12:00:00Z",
			want: []string{"2026-01-01T22:00:00Z", "2026-01-01T23:00:00Z", "2026-01-02T00:00:00Z", "2026-01-02T01:00:00Z", "2026-01-02T02:00:00Z", "2026-01-02T22:00:00Z"}},
		{expr: "cron(0 22-3/2 * * ? *)", after: "2026-01-01T12:00:00Z",
			want: []string{"2026-01-01T22:00:00Z", "2026-01-02T00:00:00Z", "2026-01-02T02:00:00Z", "2026-01-02T22:00:00Z"}},
		{expr: "cron(0 12 ? * FRI-MON *)", after: "2026-01-01T12:00:00Z", // Thu
			want: []string{"2026-01-02T12:00:00Z", "2026-01-03T12:00:00Z", "2026-01-04T12:00:00Z", "2026-01-05T12:00:00Z", "2026-01-09T12:00:00Z"}},
		{expr: "cron(0 0 1 nov-feb ? *)", after: "2026-01-15T00:00:00Z",
			want: []string{"2026-02-01T00:00:00Z", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{expr: "cron(0 0 1 jan,Jul ? *)", after: "2026-01-01T00:00:00Z",
			want: []string{"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{expr: "cron(0 0 ? * sun,7 *)", after: "2026-01-01T00:00:00Z",
			want: []string{"2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-10T00:00:00Z"}},
		{expr: "cron(0 0 */10 * ? *)", after: "2026-01-01T00:00:00Z",
			want: []string{"2026-01-11T00:00:00Z", "2026-01-21T00:00:00Z", "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z"}},
		{expr: "cron(0 0 28-2 * ? *)", after: "2026-02-27T00:00:00Z",
			want: []string{"2026-02-28T00:00:00Z", "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", "2026-03-28T00:00:00Z"}},

		// Month ends and leap years.
		{expr: "cron(0 0 31 * ? *)", after: "2026-01-31T12:00:00Z",
			want: []string{"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z"}},
		{expr: "cron(0 0 29 2 ? *)", after: "2026-01-01T00:00:00Z",
			want: []string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{expr: "cron(0 0 29 2 ? *)", after: "2097-01-01T00:00:00Z", // 2100 is no leap year
			want: []string{"2104-02-29T00:00:00Z"}},
		{expr: "cron(0 0 L * ? *)", after: "2028-01-31T00:00:00Z",
			want: []string{"2028-02-29T00:00:00Z", "2028-03-31T00:00:00Z", "2028-04-30T00:00:00Z"}},
		{expr: "cron(0 0 L 2 ? *)", after: "2099-03-01T00:00:00Z",
			want: []string{"2100-02-28T00:00:00Z"}},
		{expr: "cron(0 0 L-2 * ? *)", after: "2026-01-01T00:00:00Z",
			want: []string{"2026-01-29T00:00:00Z", "2026-02-26T00:00:00Z"}},
		{expr: "cron(0 0 LW * ? *)", after: "2026-01-01T00:00:00Z",
			want: []string{"2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-31T00:00:00Z"}},
		{expr: "cron(0 0 LW 5 ? *)", after: "2026-01-01T00:00:00Z", // May 31 2026 is a Sunday
			want: []string{"2026-05-29T00:00:00Z"}},
		{expr: "cron(0 0 15W * ? *)", after: "2026-01-01T00:00:00Z",
			want: []string{"2026-01-15T00:00:00Z", "2026-02-16T00:00:00Z", "2026-03-16T00:00:00Z", "2026-04-15T00:00:00Z"}},
		{expr: "cron(0 0 15W 8 ? *)", after: "2026-01-01T00:00:00Z", // Aug 15 2026 is a Saturday
			want: []string{"2026-08-14T00:00:00Z"}},
		{expr: "cron(0 0 1W * ? *)", after: "2026-07-15T00:00:00Z", // Aug 1 is a Saturday, Nov 1 a Sunday
			want: []string{"2026-08-03T00:00:00Z", "2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z", "2026-11-02T00:00:00Z"}},
		{expr: "cron(0 0 31W * ? *)", after: "2026-04-01T00:00:00Z", // May 31 Sunday, Jul 31 Friday, Aug 31 Monday
			want: []string{"2026-05-29T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z", "2026-10-30T00:00:00Z"}},
		{expr: "cron(0 0 1W,15 * ? *)", after: "2026-07-15T00:00:00Z",
			want: []string{"2026-08-03T00:00:00Z", "2026-08-15T00:00:00Z"}},

		// Day-of-week specials.
		{expr: "cron(0 10 ? * 6L *)", after: "2026-01-01T00:00:00Z", // last Friday
			want: []string{"2026-01-30T10:00:00Z", "2026-02-27T10:00:00Z", "2026-03-27T10:00:00Z"}},
		{expr: "cron(0 10 ? * friL *)", after: "2026-01-01T00:00:00Z",
			want: []string{"2026-01-30T10:00:00Z"}},
		{expr: "cron(0 10 ? * L *)", after: "2026-01-01T00:00:00Z", // L alone: Saturday
			want: []string{"2026-01-03T10:00:00Z", "2026-01-10T10:00:00Z"}},
		{expr: "cron(0 0 ? * 3#2 *)", after: "2026-01-01T00:00:00Z",
			want: []string{"2026-01-13T00:00:00Z", "2026-02-10T00:00:00Z"}},
		{expr: "cron(0 0 ? * 2#5 *)", after: "2026-01-01T00:00:00Z", // months without a fifth Monday are skipped
			want: []string{"2026-03-30T00:00:00Z", "2026-06-29T00:00:00Z", "2026-08-31T00:00:00Z"}},
		{expr: "cron(0 0 ? * sat#2,4 *)", after: "2026-01-01T00:00:00Z", // Image Builder's documented reading
			want: []string{"2026-01-10T00:00:00Z", "2026-01-24T00:00:00Z", "2026-02-14T00:00:00Z", "2026-02-28T00:00:00Z"}},
		{expr: "cron(0 0 ? * MON#1,fri#3 *)", after: "2026-01-01T00:00:00Z",
			want: []string{"2026-01-05T00:00:00Z", "2026-01-16T00:00:00Z", "2026-02-02T00:00:00Z", "2026-02-20T00:00:00Z"}},

		// Years and exhaustion.
		{expr: "cron(0 12 1 1 ? 2030-2032,2040/50)", after: "2026-01-01T00:00:00Z",
			want: []string{"2030-01-01T12:00:00Z", "2031-01-01T12:00:00Z", "2032-01-01T12:00:00Z", "2040-01-01T12:00:00Z", "2090-01-01T12:00:00Z", "2140-01-01T12:00:00Z", "2190-01-01T12:00:00Z"}, n: 9},
		{expr: "cron(59 23 31 12 ? 2199)", after: "1900-01-01T00:00:00Z",
			want: []string{"2199-12-31T23:59:00Z"}, n: 2},
		{expr: "cron(* * * * ? *)", after: "2199-12-31T23:58:00Z",
			want: []string{"2199-12-31T23:59:00Z"}, n: 2},
		{expr: "cron(0 0 1 1 ? *)", after: "1969-06-01T00:00:00Z",
			want: []string{"1970-01-01T00:00:00Z"}},
		{expr: "cron(0 0 1 1 ? 2025)", after: "2026-01-01T00:00:00Z", n: 1},
		{expr: "cron(0 0 30 2 ? *)", after: "2026-01-01T00:00:00Z", n: 1},     // never
		{expr: "cron(0 0 ? 2 2#5 2026)", after: "2026-01-01T00:00:00Z", n: 1}, // Feb 2026 has four Mondays

		// America/New_York: spring forward 2026-03-08 02:00 → 03:00, fall back 2026-11-01 02:00 → 01:00.
		{expr: "cron(30 2 * * ? *)", zone: "America/New_York", after: "2026-03-07T00:00:00-05:00",
			want: []string{"2026-03-07T02:30:00-05:00", "2026-03-09T02:30:00-04:00"}}, // the gap day is skipped
		{expr: "cron(0 * * * ? *)", zone: "America/New_York", after: "2026-03-08T00:30:00-05:00",
			want: []string{"2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"}},
		{expr: "cron(30 1 * * ? *)", zone: "America/New_York", after: "2026-10-31T12:00:00-04:00",
			want: []string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}}, // once, first occurrence
		{expr: "cron(30 1 * * ? *)", zone: "America/New_York", after: "2026-11-01T01:10:00-05:00", // inside the repeat
			want: []string{"2026-11-02T01:30:00-05:00"}},
		{expr: "cron(0 * * * ? *)", zone: "America/New_York", after: "2026-11-01T00:30:00-04:00",
			want: []string{"2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"}},
		{expr: "cron(0/15 * * * ? *)", zone: "America/New_York", after: "2026-11-01T01:40:00-04:00",
			want: []string{"2026-11-01T01:45:00-04:00", "2026-11-01T02:00:00-05:00"}},
		{expr: "cron(0/15 * * * ? *)", zone: "America/New_York", after: "2026-11-01T01:05:00-05:00",
			want: []string{"2026-11-01T02:00:00-05:00"}},
		{expr: "cron(0 9 ? * MON-FRI *)", zone: "America/New_York", after: "2026-03-06T09:00:00-05:00",
			want: []string{"2026-03-09T09:00:00-04:00"}},

		// Europe/London: 2026-03-29 01:00 → 02:00, 2026-10-25 02:00 → 01:00.
		{expr: "cron(30 1 * * ? *)", zone: "Europe/London", after: "2026-03-28T12:00:00Z",
			want: []string{"2026-03-30T01:30:00+01:00"}},
		{expr: "cron(30 1 * * ? *)", zone: "Europe/London", after: "2026-10-24T12:00:00+01:00",
			want: []string{"2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00Z"}},

		// Australia/Lord_Howe: half-hour DST. 2026-04-05 02:00 → 01:30, 2026-10-04 02:00 → 02:30.
		{expr: "cron(45 1 * * ? *)", zone: "Australia/Lord_Howe", after: "2026-04-04T12:00:00+11:00",
			want: []string{"2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"}},
		{expr: "cron(15 2 * * ? *)", zone: "Australia/Lord_Howe", after: "2026-10-03T12:00:00+10:30",
			want: []string{"2026-10-05T02:15:00+11:00"}},
		{expr: "cron(0/20 2 * * ? *)", zone: "Australia/Lord_Howe", after: "2026-10-04T00:00:00+10:30",
			want: []string{"2026-10-04T02:40:00+11:00", "2026-10-05T02:00:00+11:00"}},

		// Past the transition table, in a leap year, where Go's ZoneBounds
		// misreports the period (see periodOf).
		{expr: "cron(11 0 1 1 ? *)", zone: "Australia/Lord_Howe", after: "2160-09-10T22:51:12+10:30",
			want: []string{"2161-01-01T00:11:00+11:00", "2162-01-01T00:11:00+11:00"}},
		{expr: "cron(0 12 31 12 ? *)", zone: "Australia/Sydney", after: "2160-01-01T00:00:00Z",
			want: []string{"2160-12-31T12:00:00+11:00"}},

		// Pacific/Apia skipped 2011-12-30 entirely.
		{expr: "cron(0 12 * * ? *)", zone: "Pacific/Apia", after: "2011-12-29T12:00:00-10:00",
			want: []string{"2011-12-31T12:00:00+14:00"}},

		// Asia/Kathmandu, +05:45 all year.
		{expr: "cron(0 0 * * ? *)", zone: "Asia/Kathmandu", after: "2026-01-01T00:00:00Z",
			want: []string{"2026-01-02T00:00:00+05:45", "2026-01-03T00:00:00+05:45"}},
		{expr: "cron(0 0 L * ? *)", zone: "Asia/Kathmandu", after: "2026-01-31T00:00:00+05:45",
			want: []string{"2026-02-28T00:00:00+05:45"}},
	}
	for _, tt := range tests {
		name := tt.expr + "@" + tt.zone + "/" + tt.after
		t.Run(name, func(t *testing.T) {
			s, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			loc := time.UTC
			if tt.zone != "" {
				loc = mustZone(t, tt.zone)
			}
			after, err := time.Parse(time.RFC3339Nano, tt.after)
			if err != nil {
				t.Fatal(err)
			}
			n := tt.n
			if n == 0 {
				n = len(tt.want)
			}
			var got []string
			for range n {
				next, ok := s.Next(after, loc)
				if !ok {
					break
				}
				if next.Location() != loc {
					t.Errorf("Next returned location %v, want %v", next.Location(), loc)
				}
				got = append(got, next.Format(time.RFC3339))
				after = next
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("firings\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestNextNilLocationIsUTC(t *testing.T) {
	s, _ := Parse("cron(0 10 * * ? *)")
	got, ok := s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), nil)
	if !ok || !got.Equal(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("Next(nil loc) = %v, %v", got, ok)
	}
}

func TestRate(t *testing.T) {
	anchor := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC) // truncated to 12:00
	tests := []struct {
		expr     string
		interval time.Duration
		after    time.Time
		want     time.Time
	}{
		{"rate(1 minute)", time.Minute, anchor, time.Date(2026, 3, 1, 12, 1, 0, 0, time.UTC)},
		{"rate(5 minutes)", 5 * time.Minute, anchor.Add(-time.Hour), time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC)},
		{"rate(5 minutes)", 5 * time.Minute, time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC), time.Date(2026, 3, 1, 12, 10, 0, 0, time.UTC)},
		{"rate(5 minutes)", 5 * time.Minute, time.Date(2026, 3, 1, 12, 7, 13, 0, time.UTC), time.Date(2026, 3, 1, 12, 10, 0, 0, time.UTC)},
		{"rate(1 hour)", time.Hour, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)},
		{"rate(12 hours)", 12 * time.Hour, anchor, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
		// Absolute days: in New York the firing moves from 07:00 to 08:00 local across the March 8 change.
		{"rate(1 day)", 24 * time.Hour, time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)},
		{"rate(7 days)", 7 * 24 * time.Hour, time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)},
		// An anchor centuries back does not overflow.
		{"rate(1 minute)", time.Minute, time.Date(2190, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2190, 3, 9, 0, 1, 0, 0, time.UTC)},
	}
	ny := mustZone(t, "America/New_York")
	for _, tt := range tests {
		s, err := Parse(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		if !s.IsRate() || s.Interval() != tt.interval {
			t.Errorf("%s: IsRate %v Interval %v", tt.expr, s.IsRate(), s.Interval())
		}
		a := anchor
		if tt.after.Year() == 2190 {
			a = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		got, ok := s.NextFrom(a, tt.after, ny)
		if !ok || !got.Equal(tt.want) || got.Location() != ny {
			t.Errorf("%s.NextFrom(%v, %v) = %v, %v; want %v", tt.expr, a, tt.after, got, ok, tt.want)
		}
	}

	s, _ := Parse("rate(2 hours)")
	after := time.Date(2026, 5, 5, 10, 17, 0, 0, time.UTC)
	if got, _ := s.Next(after, nil); !got.Equal(after.Add(2 * time.Hour)) {
		t.Errorf("rate Next = %v, want after+2h", got)
	}
	if _, ok := s.NextFrom(anchor, time.Date(2199, 12, 31, 23, 0, 0, 0, time.UTC), nil); ok {
		t.Error("rate NextFrom past 2199 should report no firing")
	}
	c, _ := Parse("cron(0 10 * * ? *)")
	if c.IsRate() || c.Interval() != 0 {
		t.Error("cron schedule reports rate")
	}
	if a, b := c.NextFrom(anchor, anchor, nil); !a.Equal(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) || !b {
		t.Errorf("cron NextFrom = %v", a)
	}
}

func TestString(t *testing.T) {
	for _, e := range []string{"cron(0 10 ? * mon-fri *)", "rate(3 days)"} {
		s, err := Parse(e)
		if err != nil {
			t.Fatal(err)
		}
		if s.String() != e {
			t.Errorf("String() = %q, want %q", s.String(), e)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		expr string
		want string // the whole message
	}{
		{"", `: want "cron(...)" or "rate(...)"`},
		{"0 10 * * ? *", `0 10 * * ? *: want "cron(...)" or "rate(...)"`},
		{"CRON(0 10 * * ? *)", `CRON(0 10 * * ? *): want "cron(...)" or "rate(...)"`},
		{"cron(0 10 * * ?)", `cron(0 10 * * ?): want 6 fields separated by single spaces (minute hour day-of-month month day-of-week year), got 5`},
		{"cron(0 10 * * ? * *)", `cron(0 10 * * ? * *): want 6 fields separated by single spaces (minute hour day-of-month month day-of-week year), got 7`},
		{"cron( 0 10 * * ? *)", `cron( 0 10 * * ? *): want 6 fields separated by single spaces (minute hour day-of-month month day-of-week year), got 7`},
		{"cron(0  10 * * ?)", `cron(0  10 * * ?): hour "": empty field (fields are separated by exactly one space)`},
		{"cron(60 10 * * ? *)", `cron(60 10 * * ? *): minute "60": value out of range 0-59`},
		{"cron(0 24 * * ? *)", `cron(0 24 * * ? *): hour "24": value out of range 0-23`},
		{"cron(0 10 0 * ? *)", `cron(0 10 0 * ? *): day-of-month "0": value out of range 1-31`},
		{"cron(0 10 32 * ? *)", `cron(0 10 32 * ? *): day-of-month "32": value out of range 1-31`},
		{"cron(0 10 * 13 ? *)", `cron(0 10 * 13 ? *): month "13": value out of range 1-12`},
		{"cron(0 10 * FOO ? *)", `cron(0 10 * FOO ? *): month "FOO": "FOO" is not a number or month name (JAN-DEC)`},
		{"cron(0 10 ? * 8 *)", `cron(0 10 ? * 8 *): day-of-week "8": value out of range 1-7`},
		{"cron(0 10 ? * 0 *)", `cron(0 10 ? * 0 *): day-of-week "0": value out of range 1-7`},
		{"cron(0 10 ? * MONDAY *)", `cron(0 10 ? * MONDAY *): day-of-week "MONDAY": "MONDAY" is not a number or weekday name (SUN-SAT)`},
		{"cron(0 10 * * ? 1969)", `cron(0 10 * * ? 1969): year "1969": value out of range 1970-2199`},
		{"cron(0 10 * * ? 2200)", `cron(0 10 * * ? 2200): year "2200": value out of range 1970-2199`},
		{"cron(0 10 * * ? 2030-2025)", `cron(0 10 * * ? 2030-2025): year "2030-2025": range start 2030 is after its end 2025`},
		{"cron(0 10 * * * *)", `cron(0 10 * * * *): day-of-week "*": one of day-of-month and day-of-week must be "?"`},
		{"cron(0 10 1 * MON *)", `cron(0 10 1 * MON *): day-of-week "MON": one of day-of-month and day-of-week must be "?"`},
		{"cron(0 10 ? * ? *)", `cron(0 10 ? * ? *): day-of-week "?": day-of-month and day-of-week cannot both be "?"`},
		{"cron(? 10 * * ? *)", `cron(? 10 * * ? *): minute "?": "?" is not a number`},
		{"cron(0 10 1,? * ? *)", `cron(0 10 1,? * ? *): day-of-month "1,?": "?" must stand alone`},
		{"cron(*/0 10 * * ? *)", `cron(*/0 10 * * ? *): minute "*/0": increment out of range 1-60`},
		{"cron(*/x 10 * * ? *)", `cron(*/x 10 * * ? *): minute "*/x": increment "x" is not a number`},
		{"cron(1,,2 10 * * ? *)", `cron(1,,2 10 * * ? *): minute "1,,2": empty list item`},
		{"cron(-1 10 * * ? *)", `cron(-1 10 * * ? *): minute "-1": "" is not a number`},
		{"cron(0 10 L-31 * ? *)", `cron(0 10 L-31 * ? *): day-of-month "L-31": "L-31": offset out of range 1-30`},
		{"cron(0 10 1-5W * ? *)", `cron(0 10 1-5W * ? *): day-of-month "1-5W": "1-5W": W follows a single day number (e.g. 15W)`},
		{"cron(0 10 32W * ? *)", `cron(0 10 32W * ? *): day-of-month "32W": value out of range 1-31`},
		{"cron(0 10 W * ? *)", `cron(0 10 W * ? *): day-of-month "W": "W": W follows a single day number (e.g. 15W)`},
		{"cron(0 10 1# * ? *)", `cron(0 10 1# * ? *): day-of-month "1#": "1#": malformed item`},
		{"cron(0 10 ? * 2#6 *)", `cron(0 10 ? * 2#6 *): day-of-week "2#6": "2#6": week number out of range 1-5`},
		{"cron(0 10 ? * 2#0 *)", `cron(0 10 ? * 2#0 *): day-of-week "2#0": "2#0": week number out of range 1-5`},
		{"cron(0 10 ? * 8#1 *)", `cron(0 10 ? * 8#1 *): day-of-week "8#1": value out of range 1-7`},
		{"cron(0 10 ? * sat#2,6 *)", `cron(0 10 ? * sat#2,6 *): day-of-week "sat#2,6": "6": week number after a # item out of range 1-5`},
		{"cron(0 10 ? * 8L *)", `cron(0 10 ? * 8L *): day-of-week "8L": value out of range 1-7`},
		{"cron(0 10 ? * LW *)", `cron(0 10 ? * LW *): day-of-week "LW": "LW" is not a number or weekday name (SUN-SAT)`},
		{"cron(0 10 ? * 1W *)", `cron(0 10 ? * 1W *): day-of-week "1W": "1W" is not a number or weekday name (SUN-SAT)`},
		{"rate(5 minute)", `rate(5 minute): rate "5 minute": a value above 1 takes the plural unit "minutes"`},
		{"rate(1 days)", `rate(1 days): rate "1 days": a value of 1 takes the singular unit "day"`},
		{"rate(0 minutes)", `rate(0 minutes): rate "0 minutes": value must be a positive integer no larger than 36500 days`},
		{"rate(-5 minutes)", `rate(-5 minutes): rate "-5 minutes": value must be a positive integer`},
		{"rate(5 weeks)", `rate(5 weeks): rate "5 weeks": unit must be minute(s), hour(s) or day(s)`},
		{"rate(5)", `rate(5): rate "5": want "<value> <unit>", e.g. "rate(1 day)"`},
		{"rate(36501 days)", `rate(36501 days): rate "36501 days": value must be a positive integer no larger than 36500 days`},
		{"rate(99999999999999999999 minutes)", `rate(99999999999999999999 minutes): rate "99999999999999999999 minutes": value must be a positive integer no larger than 36500 days`},
		{"rate(5  minutes)", `rate(5  minutes): rate "5  minutes": unit must be minute(s), hour(s) or day(s)`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.expr)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want %s", tt.expr, tt.want)
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) error %T, want *ParseError", tt.expr, err)
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q)\n got %s\nwant %s", tt.expr, err, tt.want)
		}
	}
}

func TestParseAccepts(t *testing.T) {
	for _, e := range []string{
		"cron(0 0 1 1 ? 1970)", "cron(59 23 31 12 ? 2199)", "cron(00 05 * * ? *)",
		"cron(0 0 ? * */2 *)", "cron(0 0 ? * 2-6/2 *)", "cron(0 0 L,15 * ? *)",
		"cron(0 0 ? * L,1 *)", "cron(0 0 ? * 1L,7L *)", "cron(0 0 l * ? *)", "cron(0 0 lw * ? *)",
		"cron(0 0 15w * ? *)", "cron(0 0 ? * Fri#1 *)", "cron(0-59/59 0-23/23 1-31/30 1-12/11 ? 1970-2199/229)",
		"rate(1 minute)", "rate(1 hour)", "rate(1 day)", "rate(36500 days)", "rate(010 minutes)",
	} {
		if _, err := Parse(e); err != nil {
			t.Errorf("Parse(%q): %v", e, err)
		}
	}
}

func TestLoadZone(t *testing.T) {
	if loc, err := LoadZone(""); err != nil || loc != time.UTC {
		t.Errorf(`LoadZone("") = %v, %v`, loc, err)
	}
	for _, name := range []string{"UTC", "Etc/UTC", "America/Los_Angeles", "Asia/Kathmandu", "Australia/Lord_Howe"} {
		if _, err := LoadZone(name); err != nil {
			t.Errorf("LoadZone(%q): %v", name, err)
		}
	}
	for _, name := range []string{"Local", "Mars/Olympus_Mons", "America/../etc/passwd", "/etc/localtime", "EST5EDTX"} {
		if _, err := LoadZone(name); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("LoadZone(%q) err = %v, want an error naming the zone", name, err)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	ny := mustZone(b, "America/New_York")
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, bc := range []struct {
		name, expr string
		loc        *time.Location
	}{
		{"daily/UTC", "cron(0 10 * * ? *)", time.UTC},
		{"daily/NewYork", "cron(0 10 * * ? *)", ny},
		{"everyMinute/NewYork", "cron(* * * * ? *)", ny},
		{"weekdays/NewYork", "cron(0 18 ? * MON-FRI *)", ny},
		{"secondTuesday/NewYork", "cron(30 22 ? * tue#2 *)", ny},
		{"leapDay/UTC", "cron(0 0 29 2 ? *)", time.UTC},
		{"lastWeekday/NewYork", "cron(0 0 LW * ? *)", ny},
		{"sparseYear/UTC", "cron(0 0 1 1 ? 2199)", time.UTC},
		{"daily/NewYork/2150", "cron(0 10 * * ? *)", ny}, // beyond the zone's transition table
	} {
		s, err := Parse(bc.expr)
		if err != nil {
			b.Fatal(err)
		}
		from := start
		if strings.HasSuffix(bc.name, "/2150") {
			from = time.Date(2150, 3, 1, 0, 0, 0, 0, time.UTC)
		}
		b.Run(bc.name, func(b *testing.B) {
			// Walk successive firings, restarting after a year so that
			// every expression is measured on dates near `from`.
			after := from
			for b.Loop() {
				next, ok := s.Next(after, bc.loc)
				if !ok || next.Sub(from) > 366*24*time.Hour {
					after = from
					continue
				}
				after = next
			}
		})
	}
}
