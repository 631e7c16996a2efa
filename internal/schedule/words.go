package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Describe says a schedule expression in plain words for people, as the
// console shows it next to the expression: "every day at 03:00", "every 2
// hours", "on weekdays at 09:30", "every 15 minutes".
//
// It covers the shapes people write; for anything else (lists of hours,
// "L-3", "2#1", ranges of years) it returns "" and the caller shows the
// expression alone, because a wrong sentence is worse than none. An
// expression Parse refuses also gives "".
func Describe(expr string) string {
	s, err := Parse(expr)
	if err != nil {
		return ""
	}
	if s.IsRate() {
		return describeRate(s.rate)
	}
	f := strings.Split(expr[len("cron("):len(expr)-1], " ")
	when := describeTime(f[0], f[1])
	days := describeDays(f[2], f[4])
	if when == "" || days == "" {
		return ""
	}
	out := days + " " + when
	switch {
	case strings.HasPrefix(when, "every") && days == "every day":
		out = when
	case strings.HasPrefix(when, "every"):
		out = days + ", " + when
	}
	if f[3] != "*" {
		m := describeMonths(f[3])
		if m == "" {
			return ""
		}
		out += " in " + m
	}
	if f[5] != "*" {
		if !allDigits(f[5]) {
			return ""
		}
		out += " in " + strings.TrimLeft(f[5], "0")
	}
	return out
}

func describeRate(d time.Duration) string {
	m := int64(d.Minutes())
	unit, n := "minute", m
	switch {
	case m%(24*60) == 0:
		unit, n = "day", m/(24*60)
	case m%60 == 0:
		unit, n = "hour", m/60
	}
	if n == 1 {
		return "every " + unit
	}
	return fmt.Sprintf("every %d %ss", n, unit)
}

// number is a plain field value: digits only, within 0..max.
func number(s string, max int) (int, bool) {
	if !allDigits(s) || len(s) > 4 {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, n <= max
}

// step reads "*/n" and "0/n" (from the field's start, every n).
func step(s string) (int, bool) {
	start, n, ok := strings.Cut(s, "/")
	if !ok || (start != "*" && start != "0") {
		return 0, false
	}
	v, ok := number(n, 1000)
	return v, ok && v > 0
}

// describeTime says the minute and hour fields: "at 03:00", "every hour at
// minute 15", "every 15 minutes", "every minute".
func describeTime(minute, hour string) string {
	m, mok := number(minute, 59)
	h, hok := number(hour, 23)
	switch {
	case mok && hok:
		return fmt.Sprintf("at %02d:%02d", h, m)
	case mok && hour == "*":
		return fmt.Sprintf("every hour at minute %d", m)
	case mok:
		if n, ok := step(hour); ok {
			return fmt.Sprintf("every %d hours at minute %d", n, m)
		}
	case minute == "*" && hour == "*":
		return "every minute"
	case hour == "*":
		if n, ok := step(minute); ok {
			return fmt.Sprintf("every %d minutes", n)
		}
	}
	return ""
}

var weekdayWords = []string{"", "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

// weekday reads one day-of-week value, 1-7 or SUN-SAT.
func weekday(s string) (int, bool) {
	if n, ok := weekdayNames[strings.ToUpper(s)]; ok {
		return n, true
	}
	n, ok := number(s, 7)
	return n, ok && n >= 1
}

// describeDays says the day-of-month and day-of-week fields (one of them
// is "?"): "every day", "on weekdays", "every Monday", "on Monday and
// Friday", "on day 1 of the month", "on the last day of the month".
func describeDays(dom, dow string) string {
	if dow == "?" {
		switch dom {
		case "*":
			return "every day"
		case "L":
			return "on the last day of the month"
		}
		if n, ok := number(dom, 31); ok && n >= 1 {
			return fmt.Sprintf("on day %d of the month", n)
		}
		return ""
	}
	if dom != "?" {
		return ""
	}
	if dow == "*" {
		return "every day"
	}
	if a, b, ok := strings.Cut(dow, "-"); ok {
		from, ok1 := weekday(a)
		to, ok2 := weekday(b)
		switch {
		case !ok1 || !ok2:
			return ""
		case from == 2 && to == 6:
			return "on weekdays"
		default:
			return fmt.Sprintf("%s to %s", weekdayWords[from], weekdayWords[to])
		}
	}
	var names []string
	for _, d := range strings.Split(dow, ",") {
		n, ok := weekday(d)
		if !ok {
			return ""
		}
		names = append(names, weekdayWords[n])
	}
	if len(names) == 1 {
		return "every " + names[0]
	}
	return "on " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

var monthWords = []string{"", "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

// describeMonths says a month field that is one month or a list of them.
func describeMonths(s string) string {
	var names []string
	for _, m := range strings.Split(s, ",") {
		n, ok := monthNames[strings.ToUpper(m)]
		if !ok {
			if n, ok = number(m, 12); !ok || n < 1 {
				return ""
			}
		}
		names = append(names, monthWords[n])
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
