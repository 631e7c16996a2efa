package schedule

import (
	"testing"
	"time"
)

func TestTry(t *testing.T) {
	ny, _ := LoadZone("America/New_York")
	for _, e := range []string{"cron(30 2 * * ? *)", "cron(30 1 * * ? *)", "cron(0 10 ? * 6L *)", "cron(0 0 1W * ? *)", "cron(0 0 LW * ? *)", "cron(*/20 * * * ? *)"} {
		s, err := Parse(e)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 3, 6, 0, 0, 0, 0, ny)
		for i := 0; i < 4; i++ {
			n, ok := s.Next(at, ny)
			t.Log(e, n, ok)
			at = n
		}
		at = time.Date(2026, 10, 30, 0, 0, 0, 0, ny)
		for i := 0; i < 4; i++ {
			n, ok := s.Next(at, ny)
			t.Log(e, n, ok)
			at = n
		}
	}
}
