package schedule

import (
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"cron(0 3 * * ? *)", "every day at 03:00"},
		{"cron(30 9 ? * MON-FRI *)", "on weekdays at 09:30"},
		{"cron(30 9 ? * 2-6 *)", "on weekdays at 09:30"},
		{"cron(0 0 ? * SAT-SUN *)", "Saturday to Sunday at 00:00"},
		{"cron(0 12 ? * MON *)", "every Monday at 12:00"},
		{"cron(0 12 ? * mon,wed,FRI *)", "on Monday, Wednesday and Friday at 12:00"},
		{"cron(0 0 1 * ? *)", "on day 1 of the month at 00:00"},
		{"cron(15 4 L * ? *)", "on the last day of the month at 04:15"},
		{"cron(15 * * * ? *)", "every hour at minute 15"},
		{"cron(0/15 * * * ? *)", "every 15 minutes"},
		{"cron(*/5 * ? * MON-FRI *)", "on weekdays, every 5 minutes"},
		{"cron(0 */2 * * ? *)", "every 2 hours at minute 0"},
		{"cron(* * * * ? *)", "every minute"},
		{"cron(0 3 1 JAN ? *)", "on day 1 of the month at 03:00 in January"},
		{"cron(0 3 1 1,7 ? 2030)", "on day 1 of the month at 03:00 in January and July in 2030"},
		{"rate(1 minute)", "every minute"},
		{"rate(5 minutes)", "every 5 minutes"},
		{"rate(1 hour)", "every hour"},
		{"rate(2 hours)", "every 2 hours"},
		{"rate(1 day)", "every day"},
		{"rate(7 days)", "every 7 days"},
		{"rate(120 minutes)", "every 2 hours"},
		// Shapes it does not put in words: the caller shows the expression.
		{"cron(0 1,13 * * ? *)", ""},
		{"cron(0 3 L-2 * ? *)", ""},
		{"cron(0 3 ? * 6#3 *)", ""},
		{"cron(0 3 * * ? 2030-2032)", ""},
		{"cron(0 3 15W * ? *)", ""},
		// Invalid expressions have no words.
		{"cron(0 25 * * ? *)", ""},
		{"rate(0 days)", ""},
		{"", ""},
	} {
		if got := Describe(tc.expr); got != tc.want {
			t.Errorf("Describe(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// FuzzDescribe: Describe never panics, and only valid expressions get
// words, which are printable and short.
func FuzzDescribe(f *testing.F) {
	for _, s := range []string{"cron(0 3 * * ? *)", "rate(2 hours)", "cron(*/5 * ? * MON-FRI *)", "cron(0 0 1 1,7 ? 2030)", "cron(0 12 ? * mon,wed,FRI *)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		got := Describe(expr)
		if got == "" {
			return
		}
		if _, err := Parse(expr); err != nil {
			t.Fatalf("Describe(%q) = %q for an invalid expression", expr, got)
		}
		if len(got) > 200 || strings.ContainsAny(got, "\n\x00") {
			t.Fatalf("Describe(%q) = %q", expr, got)
		}
	})
}
