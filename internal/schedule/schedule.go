// Package schedule parses the schedule expressions of Image Builder pipelines
// (EventBridge-style "cron(...)" and "rate(...)") and computes when they fire
// in an IANA time zone.
//
// Evaluation happens on the zone's wall clock, minute by minute in meaning but
// field by field in execution: Next walks years, months, days, hours and
// minutes through precomputed bit sets, so it costs a few hundred nanoseconds
// whatever the expression, not a scan over minutes.
//
// Daylight-saving rules (the pipeline issue's wording, which we follow):
//   - a wall-clock time that does not exist (spring-forward gap) is skipped,
//     not shifted to the next valid instant;
//   - a wall-clock time that occurs twice (fall-back) fires once, at its first
//     occurrence.
package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	// Embedded zone data, so LoadZone works on hosts without
	// /usr/share/zoneinfo (distroless containers, minimal VMs).
	_ "time/tzdata"
)

// Year bounds of the cron grammar; no firing exists outside them.
const (
	minYear = 1970
	maxYear = 2199
)

// Schedule is a parsed schedule expression. It is immutable and safe for
// concurrent use.
type Schedule struct {
	expr string
	cron *cronSpec     // nil for rate schedules
	rate time.Duration // > 0 for rate schedules
}

// ParseError describes a malformed expression. Its message names the field
// and the problem, e.g.
//
//	cron(0 10 ? * 8 *): day-of-week "8": value out of range 1-7
type ParseError struct {
	Expr    string // the whole expression as given
	Field   string // "minute", "hour", "day-of-month", "month", "day-of-week", "year", "rate"; "" for the overall shape
	Value   string // the offending field text, when Field is set
	Problem string
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Expr, e.Problem)
	}
	return fmt.Sprintf("%s: %s %q: %s", e.Expr, e.Field, e.Value, e.Problem)
}

// Parse parses "cron(minute hour day-of-month month day-of-week year)" or
// "rate(n unit)".
//
// The shape is strict, as the service documents it: the lowercase keyword,
// no blanks inside the parentheses other than one space between fields.
// Field syntax is described on the unexported cronSpec; see its parser for
// the decisions taken where the AWS documents are silent or disagree.
func Parse(expr string) (*Schedule, error) {
	switch {
	case strings.HasPrefix(expr, "cron(") && strings.HasSuffix(expr, ")"):
		spec, err := parseCron(expr, expr[len("cron("):len(expr)-1])
		if err != nil {
			return nil, err
		}
		return &Schedule{expr: expr, cron: spec}, nil
	case strings.HasPrefix(expr, "rate(") && strings.HasSuffix(expr, ")"):
		d, err := parseRate(expr, expr[len("rate("):len(expr)-1])
		if err != nil {
			return nil, err
		}
		return &Schedule{expr: expr, rate: d}, nil
	}
	return nil, &ParseError{Expr: expr, Problem: `want "cron(...)" or "rate(...)"`}
}

// maxRate bounds rate intervals so that they fit a time.Duration with room to
// spare; nobody schedules an image build less often than once a century.
const maxRate = 36500 * 24 * time.Hour

// parseRate parses the inside of "rate(...)": a positive integer, one space
// and a unit. As in EventBridge, the unit is singular exactly when the value
// is 1 ("rate(1 day)", "rate(2 days)"); we reject "rate(1 days)" and
// "rate(5 minute)" rather than guess, because AWS rejects them too and a
// schedule accepted here must not fail when the same template is applied to
// AWS.
func parseRate(expr, body string) (time.Duration, error) {
	fail := func(problem string) error {
		return &ParseError{Expr: expr, Field: "rate", Value: body, Problem: problem}
	}
	num, unit, ok := strings.Cut(body, " ")
	if !ok || num == "" || unit == "" {
		return 0, fail(`want "<value> <unit>", e.g. "rate(1 day)"`)
	}
	if !allDigits(num) {
		return 0, fail("value must be a positive integer")
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 {
		if err == nil || errors.Is(err, strconv.ErrRange) {
			return 0, fail("value must be a positive integer no larger than 36500 days")
		}
		return 0, fail("value must be a positive integer")
	}
	var per time.Duration
	switch unit {
	case "minute", "minutes":
		per = time.Minute
	case "hour", "hours":
		per = time.Hour
	case "day", "days":
		per = 24 * time.Hour
	default:
		return 0, fail("unit must be minute(s), hour(s) or day(s)")
	}
	if singular := !strings.HasSuffix(unit, "s"); singular != (n == 1) {
		if n == 1 {
			return 0, fail(fmt.Sprintf("a value of 1 takes the singular unit %q", strings.TrimSuffix(unit, "s")))
		}
		return 0, fail(fmt.Sprintf("a value above 1 takes the plural unit %q", unit+"s"))
	}
	if n > int64(maxRate/per) {
		return 0, fail("value must be a positive integer no larger than 36500 days")
	}
	return time.Duration(n) * per, nil
}

// String returns the expression exactly as given to Parse.
func (s *Schedule) String() string { return s.expr }

// IsRate reports whether s is a "rate(...)" schedule, whose firings depend on
// an anchor (see NextFrom).
func (s *Schedule) IsRate() bool { return s.cron == nil }

// Interval returns the period of a rate schedule, 0 for a cron schedule.
func (s *Schedule) Interval() time.Duration { return s.rate }

// Next returns the first firing strictly after `after`, evaluated on loc's
// wall clock (nil means UTC). The result is in loc. It returns false when no
// firing exists: the year range (to 2199) is exhausted.
//
// For a rate schedule `after` is taken as the anchor (the previous firing, or
// the pipeline's creation), so Next returns after+interval, truncated to the
// minute. Use NextFrom to keep a fixed anchor across restarts.
func (s *Schedule) Next(after time.Time, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	if s.cron == nil {
		return s.NextFrom(after, after, loc)
	}
	return s.cron.next(after, loc)
}

// NextFrom is Next with an explicit anchor for rate schedules: they fire at
// anchor+k·interval for k ≥ 1, with the anchor truncated to the minute.
// EventBridge starts a rate schedule when it is created, so the pipeline
// service passes the pipeline's creation time (or the time the schedule last
// changed) as anchor. The first firing is one interval after the anchor, not
// at it: creating a pipeline does not start a build. Rate intervals are
// absolute durations, so loc only sets the result's location and a "1 day"
// rate drifts by an hour across DST, as it does on AWS.
//
// For cron schedules the anchor is ignored and NextFrom equals Next.
func (s *Schedule) NextFrom(anchor, after time.Time, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	if s.cron != nil {
		return s.cron.next(after, loc)
	}
	if after.UTC().Year() > maxYear {
		return time.Time{}, false
	}
	start := anchor.Truncate(time.Minute).Unix()
	step := int64(s.rate / time.Second)
	k := int64(1)
	if diff := after.Unix() - start; diff >= 0 {
		k = diff/step + 1 // seconds, so no Duration overflow for distant anchors
	}
	t := time.Unix(start+k*step, 0)
	if !t.After(after) { // after's fraction of a second
		t = t.Add(s.rate)
	}
	if t.UTC().Year() > maxYear {
		return time.Time{}, false
	}
	return t.In(loc), true
}

// LoadZone resolves a pipeline's timezone: "" is UTC, anything else must be
// an IANA name known to the embedded zone database ("America/New_York",
// "Etc/UTC"). "Local" is refused: a schedule must not depend on the host.
func LoadZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if name == "Local" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return nil, fmt.Errorf("timezone %q: not an IANA time zone name", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("timezone %q: unknown IANA time zone", name)
	}
	return loc, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
