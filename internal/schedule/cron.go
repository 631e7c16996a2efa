package schedule

import (
	"fmt"
	"strconv"
	"strings"
)

// cronSpec is a parsed six-field cron expression: one bit set per field plus
// the day-of-month and day-of-week specials, which depend on the month and are
// resolved per month by daysOf.
//
// Grammar, per field (names are case-insensitive; numbers may carry leading
// zeros):
//
//	minute        0-59            , - * /
//	hour          0-23            , - * /
//	day-of-month  1-31            , - * ? / L L-n LW nW
//	month         1-12, JAN-DEC   , - * /
//	day-of-week   1-7, SUN-SAT    , - * ? / L nL d#k
//	year          1970-2199       , - * /
//
// Decisions where the AWS documents are silent or disagree:
//   - Exactly one of day-of-month and day-of-week is "?" ("?" in both, or in
//     neither, is an error), and "?" stands alone in its field.
//   - Ranges may wrap around the end of the cycle ("22-2" hours, "FRI-MON",
//     "NOV-FEB", "25-5" days), as in EventBridge; a step then walks the
//     wrapped sequence ("22-2/2" = 22,0,2). Year ranges cannot wrap.
//     Wrapped day-of-month ranges cycle through 1-31, so days a short month
//     lacks are simply absent.
//   - "a/s" starts at a and runs to the field's maximum; "*/s" starts at the
//     field's minimum (1 for days, SUN for day-of-week, 1970 for years).
//   - "/" is also accepted in day-of-week (some AWS tables list it, some do
//     not; accepting it breaks nothing).
//   - "L" alone in day-of-week is Saturday, the last day of the week, as in
//     EventBridge (an older Image Builder page says Sunday; EventBridge is
//     what the service runs on). "nL" is the last weekday n of the month
//     ("6L" = last Friday).
//   - "d#k" is the k-th (1-5) weekday d of the month; a month without a k-th
//     such day has no firing. Several "#" items may be listed, and a bare
//     number listed after a "#" item is a further week of the same weekday:
//     "sat#2,4" is the second and fourth Saturday, the reading Image Builder's
//     own user guide gives.
//   - "nW" is the weekday (Mon-Fri) nearest day n without leaving the month
//     ("1W" on a Saturday is Monday the 3rd; "31W" on a Sunday is Friday the
//     29th); it cannot be combined with a range or step, and a month shorter
//     than n days has no such firing (like a plain "31").
//   - "LW" is the last weekday of the month, "L-n" the n-th day (1-30) before
//     the last one.
type cronSpec struct {
	minutes uint64 // bit m for minute m
	hours   uint32 // bit h for hour h
	months  uint16 // bit m for month m (1-12)
	years   [4]uint64

	domAny bool // day-of-month is "?": days come from day-of-week only

	// day-of-month
	days     uint32 // bit d for plain day d
	nearest  uint32 // bit d for "dW"
	lastDay  uint32 // bit n for "L-n" (bit 0: "L")
	lastWeek bool   // "LW"

	// day-of-week, with weekdays numbered as time.Weekday (0 = Sunday)
	weekdays uint8    // bit w for every weekday w
	nth      [7]uint8 // bit k for "w#k"
	lastOf   uint8    // bit w for "wL"
}

var fieldNames = [6]string{"minute", "hour", "day-of-month", "month", "day-of-week", "year"}

var monthNames = map[string]int{
	"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
	"JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12,
}

var weekdayNames = map[string]int{
	"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7,
}

// fieldProblem is a parse failure inside one field; parseCron wraps it into a
// ParseError naming the field.
type fieldProblem string

func problemf(format string, args ...any) fieldProblem {
	return fieldProblem(fmt.Sprintf(format, args...))
}

func parseCron(expr, body string) (*cronSpec, error) {
	fields := strings.Split(body, " ")
	if len(fields) != 6 {
		return nil, &ParseError{Expr: expr, Problem: fmt.Sprintf("want 6 fields separated by single spaces (minute hour day-of-month month day-of-week year), got %d", len(fields))}
	}
	for i, f := range fields {
		if f == "" {
			return nil, &ParseError{Expr: expr, Field: fieldNames[i], Value: f, Problem: "empty field (fields are separated by exactly one space)"}
		}
	}
	var c cronSpec
	parsers := [6]func(string) fieldProblem{
		c.parseMinute, c.parseHour, c.parseDayOfMonth, c.parseMonth, c.parseDayOfWeek, c.parseYear,
	}
	for i, parse := range parsers {
		if p := parse(fields[i]); p != "" {
			return nil, &ParseError{Expr: expr, Field: fieldNames[i], Value: fields[i], Problem: string(p)}
		}
	}
	domQ, dowQ := fields[2] == "?", fields[4] == "?"
	switch {
	case domQ && dowQ:
		return nil, &ParseError{Expr: expr, Field: "day-of-week", Value: fields[4], Problem: `day-of-month and day-of-week cannot both be "?"`}
	case !domQ && !dowQ:
		return nil, &ParseError{Expr: expr, Field: "day-of-week", Value: fields[4], Problem: `one of day-of-month and day-of-week must be "?"`}
	}
	c.domAny = domQ
	return &c, nil
}

// numRange describes a plain numeric field.
type numRange struct {
	min, max int
	names    map[string]int // optional symbolic values
	wrap     bool           // ranges may wrap around max → min
}

var (
	minuteRange  = numRange{min: 0, max: 59, wrap: true}
	hourRange    = numRange{min: 0, max: 23, wrap: true}
	dayRange     = numRange{min: 1, max: 31, wrap: true}
	monthRange   = numRange{min: 1, max: 12, names: monthNames, wrap: true}
	weekdayRange = numRange{min: 1, max: 7, names: weekdayNames, wrap: true}
	yearRange    = numRange{min: minYear, max: maxYear}
)

// value parses one number or name.
func (r numRange) value(s string) (int, fieldProblem) {
	if r.names != nil {
		if v, ok := r.names[strings.ToUpper(s)]; ok {
			return v, ""
		}
	}
	if !allDigits(s) {
		return 0, problemf("%q is not a number%s", s, r.nameHint())
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < r.min || v > r.max {
		return 0, problemf("value out of range %d-%d", r.min, r.max)
	}
	return v, ""
}

func (r numRange) nameHint() string {
	switch {
	case r.names == nil:
		return ""
	case len(r.names) == 12:
		return " or month name (JAN-DEC)"
	default:
		return " or weekday name (SUN-SAT)"
	}
}

// item expands one list item of the forms "*", "a", "a-b", with an optional
// "/step", calling set for every value it covers.
func (r numRange) item(s string, set func(int)) fieldProblem {
	base, stepText, hasStep := strings.Cut(s, "/")
	step := 1
	if hasStep {
		if !allDigits(stepText) {
			return problemf("increment %q is not a number", stepText)
		}
		n, err := strconv.Atoi(stepText)
		if err != nil || n < 1 || n > r.max-r.min+1 {
			return problemf("increment out of range 1-%d", r.max-r.min+1)
		}
		step = n
	}
	var lo, hi int
	switch {
	case base == "*":
		lo, hi = r.min, r.max
	case strings.Contains(base, "-"):
		a, b, _ := strings.Cut(base, "-")
		var p fieldProblem
		if lo, p = r.value(a); p != "" {
			return p
		}
		if hi, p = r.value(b); p != "" {
			return p
		}
		if lo > hi && !r.wrap {
			return problemf("range start %d is after its end %d", lo, hi)
		}
	default:
		var p fieldProblem
		if lo, p = r.value(base); p != "" {
			return p
		}
		hi = lo
		if hasStep {
			hi = r.max
		}
	}
	// Walk the (possibly wrapped) sequence lo, lo+step, ... up to hi.
	span := hi - lo
	if span < 0 {
		span += r.max - r.min + 1
	}
	for off := 0; off <= span; off += step {
		v := lo + off
		if v > r.max {
			v -= r.max - r.min + 1
		}
		set(v)
	}
	return ""
}

// list parses a comma-separated list of plain items.
func (r numRange) list(s string, set func(int)) fieldProblem {
	for _, it := range strings.Split(s, ",") {
		if it == "" {
			return "empty list item"
		}
		if p := r.item(it, set); p != "" {
			return p
		}
	}
	return ""
}

func (c *cronSpec) parseMinute(s string) fieldProblem {
	return minuteRange.list(s, func(v int) { c.minutes |= 1 << v })
}

func (c *cronSpec) parseHour(s string) fieldProblem {
	return hourRange.list(s, func(v int) { c.hours |= 1 << v })
}

func (c *cronSpec) parseMonth(s string) fieldProblem {
	return monthRange.list(s, func(v int) { c.months |= 1 << v })
}

func (c *cronSpec) parseYear(s string) fieldProblem {
	return yearRange.list(s, func(v int) {
		i := v - minYear
		c.years[i/64] |= 1 << (i % 64)
	})
}

func (c *cronSpec) parseDayOfMonth(s string) fieldProblem {
	if s == "?" {
		return ""
	}
	for _, it := range strings.Split(s, ",") {
		up := strings.ToUpper(it)
		switch {
		case it == "":
			return "empty list item"
		case it == "?":
			return `"?" must stand alone`
		case up == "L":
			c.lastDay |= 1
		case up == "LW":
			c.lastWeek = true
		case strings.HasPrefix(up, "L-"):
			n := up[2:]
			if !allDigits(n) {
				return problemf("%q: want L-n with n a number 1-30", it)
			}
			v, err := strconv.Atoi(n)
			if err != nil || v < 1 || v > 30 {
				return problemf("%q: offset out of range 1-30", it)
			}
			c.lastDay |= 1 << v
		case strings.HasSuffix(up, "W"):
			n := up[:len(up)-1]
			if !allDigits(n) {
				return problemf("%q: W follows a single day number (e.g. 15W)", it)
			}
			v, p := dayRange.value(n)
			if p != "" {
				return p
			}
			c.nearest |= 1 << v
		case strings.ContainsAny(up, "LW#?"):
			return problemf("%q: malformed item", it)
		default:
			if p := dayRange.item(it, func(v int) { c.days |= 1 << v }); p != "" {
				return p
			}
		}
	}
	return ""
}

func (c *cronSpec) parseDayOfWeek(s string) fieldProblem {
	if s == "?" {
		return ""
	}
	lastNth := -1 // weekday of the previous "#" item, for "sat#2,4"
	for _, it := range strings.Split(s, ",") {
		up := strings.ToUpper(it)
		switch {
		case it == "":
			return "empty list item"
		case it == "?":
			return `"?" must stand alone`
		case lastNth >= 0 && allDigits(it):
			k, err := strconv.Atoi(it)
			if err != nil || k < 1 || k > 5 {
				return problemf("%q: week number after a # item out of range 1-5", it)
			}
			c.nth[lastNth] |= 1 << k
			continue
		case up == "L":
			c.weekdays |= 1 << 6 // Saturday
		case strings.Contains(up, "#"):
			d, k, _ := strings.Cut(up, "#")
			w, p := weekdayRange.value(d)
			if p != "" {
				return p
			}
			if !allDigits(k) {
				return problemf("%q: # is followed by a week number 1-5", it)
			}
			n, err := strconv.Atoi(k)
			if err != nil || n < 1 || n > 5 {
				return problemf("%q: week number out of range 1-5", it)
			}
			c.nth[w-1] |= 1 << n
			lastNth = w - 1
			continue
		case strings.HasSuffix(up, "L"):
			w, p := weekdayRange.value(up[:len(up)-1])
			if p != "" {
				return p
			}
			c.lastOf |= 1 << (w - 1)
		case strings.ContainsAny(up, "?#") || up == "W":
			return problemf("%q: malformed item", it)
		default:
			if p := weekdayRange.item(it, func(v int) { c.weekdays |= 1 << (v - 1) }); p != "" {
				return p
			}
		}
		lastNth = -1
	}
	return ""
}
