package schedule

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// This file checks Next against a deliberately naive evaluator: it steps
// through instants one minute at a time, reads the wall clock in the zone and
// tests every field with predicates written straight from the grammar's
// definitions, sharing no code with the parser or with Next. Expressions are
// generated together with their predicates, so a parser bug cannot hide
// behind the reference.

// refExpr is a generated expression and the predicates that define it.
type refExpr struct {
	text   string
	minute func(int) bool
	hour   func(int) bool
	day    func(time.Time) bool // day-of-month and day-of-week together, on a wall-clock date
	month  func(int) bool
	year   func(int) bool
}

func (e *refExpr) matches(w time.Time) bool {
	return e.minute(w.Minute()) && e.hour(w.Hour()) && e.month(int(w.Month())) &&
		e.year(w.Year()) && e.day(w)
}

// cyclic reports whether v is in the possibly wrapped, stepped sequence
// lo, lo+step, ..., hi over the cycle [min, max].
func cyclic(v, lo, hi, step, min, max int) bool {
	n := max - min + 1
	pos := ((v-lo)%n + n) % n
	span := ((hi-lo)%n + n) % n
	return pos <= span && pos%step == 0
}

type gen struct{ r *rand.Rand }

func (g gen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

// plain generates a list for a plain numeric field and its predicate.
func (g gen) plain(min, max int, names []string, wrap bool) (string, func(int) bool) {
	if g.r.IntN(3) == 0 {
		return "*", func(int) bool { return true }
	}
	var texts []string
	var preds []func(int) bool
	val := func() (string, int) {
		v := min + g.r.IntN(max-min+1)
		if names != nil && g.r.IntN(2) == 0 {
			name := names[v-min]
			if g.r.IntN(2) == 0 {
				name = strings.ToLower(name)
			}
			return name, v
		}
		return fmt.Sprint(v), v
	}
	for range 1 + g.r.IntN(3) {
		switch g.r.IntN(5) {
		case 0:
			s, v := val()
			texts = append(texts, s)
			preds = append(preds, func(x int) bool { return x == v })
		case 1:
			s1, lo := val()
			s2, hi := val()
			if lo > hi && !wrap {
				lo, hi, s1, s2 = hi, lo, s2, s1
			}
			texts = append(texts, s1+"-"+s2)
			preds = append(preds, func(x int) bool { return cyclic(x, lo, hi, 1, min, max) })
		case 2:
			step := 1 + g.r.IntN((max-min+1)/2+1)
			texts = append(texts, fmt.Sprintf("*/%d", step))
			preds = append(preds, func(x int) bool { return (x-min)%step == 0 })
		case 3:
			s, lo := val()
			step := 1 + g.r.IntN((max-min+1)/2+1)
			texts = append(texts, fmt.Sprintf("%s/%d", s, step))
			preds = append(preds, func(x int) bool { return x >= lo && (x-lo)%step == 0 })
		case 4:
			s1, lo := val()
			s2, hi := val()
			if lo > hi && !wrap {
				lo, hi, s1, s2 = hi, lo, s2, s1
			}
			step := 1 + g.r.IntN(5)
			texts = append(texts, fmt.Sprintf("%s-%s/%d", s1, s2, step))
			preds = append(preds, func(x int) bool { return cyclic(x, lo, hi, step, min, max) })
		}
	}
	return strings.Join(texts, ","), func(x int) bool {
		for _, p := range preds {
			if p(x) {
				return true
			}
		}
		return false
	}
}

func lastDayOfMonth(w time.Time) int {
	return time.Date(w.Year(), w.Month()+1, 0, 12, 0, 0, 0, time.UTC).Day()
}

func isWorkday(y int, m time.Month, d int) bool {
	wd := time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// dayOfMonth generates a day-of-month field (never "?").
func (g gen) dayOfMonth() (string, func(time.Time) bool) {
	var texts []string
	var preds []func(time.Time) bool
	for range 1 + g.r.IntN(2) {
		switch g.r.IntN(5) {
		case 0:
			s, p := g.plain(1, 31, nil, true)
			texts = append(texts, s)
			preds = append(preds, func(w time.Time) bool { return p(w.Day()) })
		case 1:
			k := 0
			if g.r.IntN(2) == 0 {
				texts = append(texts, g.pick("L", "l"))
			} else {
				k = 1 + g.r.IntN(30)
				texts = append(texts, fmt.Sprintf("L-%d", k))
			}
			preds = append(preds, func(w time.Time) bool { return w.Day() == lastDayOfMonth(w)-k })
		case 2:
			texts = append(texts, "LW")
			preds = append(preds, func(w time.Time) bool {
				last := lastDayOfMonth(w)
				if !isWorkday(w.Year(), w.Month(), w.Day()) {
					return false
				}
				for d := w.Day() + 1; d <= last; d++ {
					if isWorkday(w.Year(), w.Month(), d) {
						return false
					}
				}
				return true
			})
		default:
			n := 1 + g.r.IntN(31)
			if g.r.IntN(2) == 0 {
				n = g.r.IntN(3)*14 + 1 + g.r.IntN(3) // bias to the month's edges
				if n > 31 {
					n = 31
				}
				if g.r.IntN(2) == 0 {
					n = 29 + g.r.IntN(3)
				}
			}
			texts = append(texts, fmt.Sprintf("%dW", n))
			// The workday closest to day n within the month (ties cannot
			// happen: the closest workday is at most 2 days away).
			preds = append(preds, func(w time.Time) bool {
				last := lastDayOfMonth(w)
				if n > last {
					return false
				}
				best := 0
				for d := 1; d <= last; d++ {
					if isWorkday(w.Year(), w.Month(), d) && (best == 0 || abs(d-n) < abs(best-n)) {
						best = d
					}
				}
				return w.Day() == best
			})
		}
	}
	return strings.Join(texts, ","), func(w time.Time) bool {
		for _, p := range preds {
			if p(w) {
				return true
			}
		}
		return false
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

var weekdayAbbr = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}

// dayOfWeek generates a day-of-week field (never "?"); AWS numbers 1-7 = SUN-SAT.
func (g gen) dayOfWeek() (string, func(time.Time) bool) {
	aws := func(w time.Time) int { return int(w.Weekday()) + 1 }
	// "#" items go last: a bare number right after one would be read as a
	// further week ("sat#2,4").
	var texts, nthTexts []string
	var preds []func(time.Time) bool
	wdText := func(v int) string {
		if g.r.IntN(2) == 0 {
			return weekdayAbbr[v-1]
		}
		return fmt.Sprint(v)
	}
	for range 1 + g.r.IntN(2) {
		switch g.r.IntN(4) {
		case 0:
			s, p := g.plain(1, 7, weekdayAbbr, true)
			texts = append(texts, s)
			preds = append(preds, func(w time.Time) bool { return p(aws(w)) })
		case 1:
			v := 1 + g.r.IntN(7)
			ks := []int{1 + g.r.IntN(5)}
			s := wdText(v) + "#" + fmt.Sprint(ks[0])
			if g.r.IntN(3) == 0 {
				ks = append(ks, 1+g.r.IntN(5))
				s += "," + fmt.Sprint(ks[1])
			}
			nthTexts = append(nthTexts, s)
			preds = append(preds, func(w time.Time) bool {
				for _, k := range ks {
					if aws(w) == v && (w.Day()-1)/7+1 == k {
						return true
					}
				}
				return false
			})
		case 2:
			v := 1 + g.r.IntN(7)
			texts = append(texts, wdText(v)+"L")
			preds = append(preds, func(w time.Time) bool {
				return aws(w) == v && w.Day()+7 > lastDayOfMonth(w)
			})
		case 3:
			texts = append(texts, "L")
			preds = append(preds, func(w time.Time) bool { return w.Weekday() == time.Saturday })
		}
	}
	return strings.Join(append(texts, nthTexts...), ","), func(w time.Time) bool {
		for _, p := range preds {
			if p(w) {
				return true
			}
		}
		return false
	}
}

var monthAbbr = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

func (g gen) expr(startYear int) *refExpr {
	e := &refExpr{}
	var f [6]string
	// Keep minutes and hours fairly dense so that the brute force finds
	// firings inside its window.
	if g.r.IntN(2) == 0 {
		f[0], e.minute = g.plain(0, 59, nil, true)
	} else {
		v := g.r.IntN(60)
		f[0], e.minute = fmt.Sprint(v), func(x int) bool { return x == v }
	}
	f[1], e.hour = g.plain(0, 23, nil, true)
	if g.r.IntN(2) == 0 {
		f[2], e.day = g.dayOfMonth()
		f[4] = "?"
	} else {
		f[2] = "?"
		f[4], e.day = g.dayOfWeek()
	}
	if g.r.IntN(2) == 0 {
		f[3], e.month = "*", func(int) bool { return true }
	} else {
		f[3], e.month = g.plain(1, 12, monthAbbr, true)
	}
	switch g.r.IntN(4) {
	case 0:
		lo, hi := startYear, min(startYear+1+g.r.IntN(2), maxYear)
		f[5] = fmt.Sprintf("%d-%d", lo, hi)
		e.year = func(y int) bool { return y >= lo && y <= hi }
	case 1:
		y := startYear + g.r.IntN(2)
		if y > maxYear {
			y = maxYear
		}
		f[5] = fmt.Sprint(y)
		e.year = func(x int) bool { return x == y }
	default:
		f[5], e.year = "*", func(int) bool { return true }
	}
	e.text = "cron(" + strings.Join(f[:], " ") + ")"
	return e
}

// firstOccurrence reports whether no earlier instant (within the largest DST
// shift plus margin) shows the same wall clock as i does.
func firstOccurrence(i time.Time, loc *time.Location) bool {
	w := i.In(loc)
	y, m, d := w.Date()
	h, mi := w.Hour(), w.Minute()
	for j := i.Add(-time.Minute); j.After(i.Add(-3 * time.Hour)); j = j.Add(-time.Minute) {
		v := j.In(loc)
		if v.Minute() == mi && v.Hour() == h {
			if vy, vm, vd := v.Date(); vy == y && vm == m && vd == d {
				return false
			}
		}
	}
	return true
}

// bruteNext returns up to n firings after `after` and before `limit`.
func bruteNext(e *refExpr, after, limit time.Time, loc *time.Location, n int) []time.Time {
	var out []time.Time
	for i := after.Truncate(time.Minute).Add(time.Minute); i.Before(limit) && len(out) < n; i = i.Add(time.Minute) {
		w := i.In(loc)
		if w.Second() != 0 || !e.matches(w) || !firstOccurrence(i, loc) {
			continue
		}
		out = append(out, i)
	}
	return out
}

// Zones whose offsets since 1970 are whole minutes (so UTC minutes are wall
// minutes), chosen for awkward rules: half-hour DST, 45-minute offsets, DST
// changes at midnight, negative DST, a skipped day, frequent rule changes.
var propertyZones = []string{
	"UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu",
	"America/Santiago", "Pacific/Chatham", "America/St_Johns", "Europe/Dublin",
	"Africa/Casablanca", "Pacific/Apia", "Asia/Tehran", "America/Havana", "Asia/Gaza",
}

func TestNextMatchesBruteForce(t *testing.T) {
	cases := 200
	if testing.Short() {
		cases = 60
	}
	r := rand.New(rand.NewPCG(1, 2))
	g := gen{r}
	const window = 400 * 24 * time.Hour
	for c := range cases {
		loc := mustZone(t, propertyZones[r.IntN(len(propertyZones))])
		// Start anywhere in range, or just before a zone transition.
		var after time.Time
		switch r.IntN(3) {
		case 0:
			after = time.Unix(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).Unix()+r.Int64N(230*365*86400), 0)
		default:
			after = time.Unix(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()+r.Int64N(40*365*86400), 0)
			if _, end := after.In(loc).ZoneBounds(); !end.IsZero() {
				after = end.Add(-time.Duration(r.IntN(3*24*60)) * time.Minute)
			}
		}
		after = after.Add(time.Duration(r.IntN(60)) * time.Second)
		e := g.expr(after.In(loc).Year())
		s, err := Parse(e.text)
		if err != nil {
			t.Fatalf("case %d: Parse(%q): %v", c, e.text, err)
		}
		limit := after.Add(window)
		want := bruteNext(e, after, limit, loc, 3)
		var got []time.Time
		at := after
		for range len(want) + 1 {
			next, ok := s.Next(at, loc)
			if !ok {
				break
			}
			got = append(got, next)
			at = next
		}
		// Every firing the brute force found must match; beyond its window
		// (fewer than 3 found) Next's following firing must lie past it.
		bad := len(got) < len(want)
		for i := 0; !bad && i < len(want); i++ {
			bad = !got[i].Equal(want[i])
		}
		if !bad && len(want) < 3 && len(got) > len(want) && got[len(want)].Before(limit) {
			bad = true
		}
		if bad {
			t.Errorf("case %d: %s in %s after %s\n got %v\nwant %v (window ends %s)",
				c, e.text, loc, after.In(loc).Format(time.RFC3339), fmtTimes(got, loc), fmtTimes(want, loc), limit.In(loc).Format(time.RFC3339))
		}
	}
}

func fmtTimes(ts []time.Time, loc *time.Location) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.In(loc).Format(time.RFC3339))
	}
	return out
}

// TestDaysOfMatchesCalendar checks the per-month day sets of the day
// specials against the reference predicates over every month of the range.
func TestDaysOfMatchesCalendar(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	g := gen{r}
	for c := range 100 {
		e := g.expr(2000)
		s, err := Parse(e.text)
		if err != nil {
			t.Fatalf("Parse(%q): %v", e.text, err)
		}
		for y := minYear; y <= maxYear; y += 1 + r.IntN(15) {
			for m := 1; m <= 12; m++ {
				got := s.cron.daysOf(y, m)
				var want uint32
				for d := 1; d <= 31; d++ {
					w := time.Date(y, time.Month(m), d, 12, 0, 0, 0, time.UTC)
					if w.Month() == time.Month(m) && e.day(w) {
						want |= 1 << d
					}
				}
				if got != want {
					t.Fatalf("case %d: %s: days of %d-%02d = %031b, want %031b", c, e.text, y, m, got>>1, want>>1)
				}
			}
		}
	}
}
