package schedule

import (
	"math"
	"math/bits"
	"time"
)

// nextBit returns the lowest set bit of mask at or above from, or -1.
func nextBit(mask uint64, from int) int {
	if from >= 64 {
		return -1
	}
	m := mask >> uint(from) << uint(from)
	if m == 0 {
		return -1
	}
	return bits.TrailingZeros64(m)
}

// nextYear returns the first year >= y in the year set, or -1.
func (c *cronSpec) nextYear(y int) int {
	if y < minYear {
		y = minYear
	}
	for i := y - minYear; i <= maxYear-minYear; {
		w := i / 64
		if b := nextBit(c.years[w], i%64); b >= 0 {
			return minYear + w*64 + b
		}
		i = (w + 1) * 64
	}
	return -1
}

// daysIn returns the number of days of month m (1-12) in year y.
func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// weekdayOf returns the weekday (0 = Sunday) of y-m-d in the proleptic
// Gregorian calendar (Sakamoto's method).
func weekdayOf(y, m, d int) int {
	t := [12]int{0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4}
	if m < 3 {
		y--
	}
	return (y + y/4 - y/100 + y/400 + t[m-1] + d) % 7
}

// weekdayDays[f][w] has bit d set for every day d (1-31) that falls on weekday
// w in a month whose first day is weekday f.
var weekdayDays [7][7]uint32

func init() {
	for f := 0; f < 7; f++ {
		for d := 1; d <= 31; d++ {
			w := (f + d - 1) % 7
			weekdayDays[f][w] |= 1 << d
		}
	}
}

// daysOf returns the set of matching days (bit d for day d) of month m in
// year y.
func (c *cronSpec) daysOf(y, m int) uint32 {
	n := daysIn(y, m)
	valid := uint32(1)<<(n+1) - 2 // bits 1..n
	first := weekdayOf(y, m, 1)
	weekday := func(d int) int { return (first + d - 1) % 7 }

	if c.domAny {
		var days uint32
		for w := 0; w < 7; w++ {
			if c.weekdays&(1<<w) != 0 {
				days |= weekdayDays[first][w]
			}
			if nth := c.nth[w]; nth != 0 {
				d0 := 1 + (w-first+7)%7 // first such weekday of the month
				for k := 1; k <= 5; k++ {
					if nth&(1<<k) != 0 {
						if d := d0 + 7*(k-1); d <= n {
							days |= 1 << d
						}
					}
				}
			}
			if c.lastOf&(1<<w) != 0 {
				days |= 1 << (n - (weekday(n)-w+7)%7)
			}
		}
		return days & valid
	}

	days := c.days
	if c.lastDay != 0 {
		for k := 0; k <= 30; k++ {
			if c.lastDay&(1<<k) != 0 && n-k >= 1 {
				days |= 1 << (n - k)
			}
		}
	}
	if c.lastWeek {
		d := n
		switch weekday(n) {
		case 6:
			d = n - 1
		case 0:
			d = n - 2
		}
		days |= 1 << d
	}
	for near := c.nearest & valid; near != 0; near &= near - 1 {
		d := bits.TrailingZeros32(near)
		switch weekday(d) {
		case 6: // Saturday: Friday before, or Monday the 3rd for the 1st
			if d == 1 {
				d = 3
			} else {
				d--
			}
		case 0: // Sunday: Monday after, or Friday before on the last day
			if d == n {
				d -= 2
			} else {
				d++
			}
		}
		days |= 1 << d
	}
	return days & valid
}

// next finds the first firing strictly after `after` on loc's wall clock.
//
// It walks candidate wall-clock times in increasing order, starting at the
// minute containing `after`, and returns the first that exists in loc and
// whose (first) instant is after `after`. Wall-clock order and instant order
// agree once gaps are dropped and repeated times are pinned to their first
// occurrence, so the first hit is the answer.
func (c *cronSpec) next(after time.Time, loc *time.Location) (time.Time, bool) {
	w := after.In(loc)
	y, mo, d := w.Date()
	h, mi := w.Hour(), w.Minute()
	m := int(mo)
	zone := periodOf(w)
	if y < minYear {
		y, m, d, h, mi = minYear, 1, 1, 0, 0
	}
	for {
		ny := c.nextYear(y)
		if ny < 0 {
			return time.Time{}, false
		}
		if ny != y {
			y, m, d, h, mi = ny, 1, 1, 0, 0
		}
		for ; m <= 12; m, d, h, mi = m+1, 1, 0, 0 {
			nm := nextBit(uint64(c.months), m)
			if nm < 0 {
				break
			}
			if nm != m {
				m, d, h, mi = nm, 1, 0, 0
			}
			days := uint64(c.daysOf(y, m))
			for ; ; d, h, mi = d+1, 0, 0 {
				nd := nextBit(days, d)
				if nd < 0 {
					break
				}
				if nd != d {
					d, h, mi = nd, 0, 0
				}
				for ; ; h, mi = h+1, 0 {
					nh := nextBit(uint64(c.hours), h)
					if nh < 0 {
						break
					}
					if nh != h {
						h, mi = nh, 0
					}
					for ; ; mi++ {
						nmi := nextBit(c.minutes, mi)
						if nmi < 0 {
							break
						}
						mi = nmi
						t, ok := zone.instant(civilSeconds(y, m, d, h, mi), loc)
						if !ok {
							t, ok = firstInstant(y, m, d, h, mi, loc)
							if ok {
								zone = periodOf(t)
							}
						}
						if ok && t.After(after) {
							return t, true
						}
					}
				}
			}
		}
		y, m, d, h, mi = y+1, 1, 1, 0, 0
	}
}

// zonePeriod is a stretch of time with one UTC offset in some zone, in Unix
// seconds; start and end are MinInt64/MaxInt64 when unbounded.
type zonePeriod struct {
	start, end int64
	offset     int64
}

// periodOf returns the zone period around t as Time.ZoneBounds reports it.
// Beyond a zone's transition table those bounds may be narrower than the
// truth, which only costs speed, or may miss t altogether (Go computes a leap
// year's end as Jan 1 + 365 days); then we return an empty period so that
// every lookup takes the slow, exact path until the next firing refreshes it.
func periodOf(t time.Time) zonePeriod {
	_, off := t.Zone()
	start, end := t.ZoneBounds()
	p := zonePeriod{start: math.MinInt64, end: math.MaxInt64, offset: int64(off)}
	if !start.IsZero() {
		p.start = start.Unix()
	}
	if !end.IsZero() {
		p.end = end.Unix()
	}
	if u := t.Unix(); u < p.start || u >= p.end {
		return zonePeriod{}
	}
	return p
}

// maxOffsetChange bounds how far apart two instants showing the same wall
// clock can be: the largest offset change any zone has made (Pacific/Apia
// skipped a whole day in 2011) with room to spare.
const maxOffsetChange = 26 * 60 * 60

// instant is the fast path of Next: when wall-clock seconds w, read with this
// period's offset, land well inside the period, that instant is the only one
// showing w (any other would need an offset change within maxOffsetChange).
// Next evaluates most candidates this way without consulting the zone data.
func (p zonePeriod) instant(w int64, loc *time.Location) (time.Time, bool) {
	c := w - p.offset
	if c-maxOffsetChange < p.start || c+maxOffsetChange >= p.end {
		return time.Time{}, false
	}
	return time.Unix(c, 0).In(loc), true
}

// civilSeconds returns the Unix time of y-m-d h:mi:00 UTC (days from the
// civil calendar, after Howard Hinnant's algorithm).
func civilSeconds(y, m, d, h, mi int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := int64(era)*146097 + int64(doe) - 719468
	return days*86400 + int64(h)*3600 + int64(mi)*60
}

// firstInstant returns the earliest instant whose wall clock in loc reads
// y-m-d h:mi:00, or false when that wall time falls in a gap.
//
// time.Date alone does not do: for a repeated wall time it may pick either
// occurrence, and for a missing one it silently normalizes. Nor can we lean
// on Time.ZoneBounds: past the end of a zone's transition table Go derives
// periods from the POSIX rule clipped to (occasionally miscomputed) year
// boundaries. So we probe: every instant showing wall time w is w minus the
// offset in force at that instant, offsets never exceed ±16h, and zones do not
// change offset twice within probeSpacing; the offsets seen at w and
// probeSpacing either side are therefore all the candidates there are.
func firstInstant(y, m, d, h, mi int, loc *time.Location) (time.Time, bool) {
	w := civilSeconds(y, m, d, h, mi)
	var seen [5]int64
	n := 0
	var best int64
	found := false
	for _, probe := range [...]int64{w, w - probeSpacing, w + probeSpacing, w - 2*probeSpacing, w + 2*probeSpacing} {
		o := offsetAt(probe, loc)
		dup := false
		for _, s := range seen[:n] {
			dup = dup || s == o
		}
		if dup {
			continue
		}
		seen[n] = o
		n++
		if c := w - o; offsetAt(c, loc) == o && (!found || c < best) {
			best, found = c, true
		}
	}
	if !found {
		return time.Time{}, false
	}
	return time.Unix(best, 0).In(loc), true
}

// probeSpacing is the distance between the offset probes of firstInstant.
const probeSpacing = 9 * 60 * 60

func offsetAt(unix int64, loc *time.Location) int64 {
	_, off := time.Unix(unix, 0).In(loc).Zone()
	return int64(off)
}
