package console

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// events parses a server-sent event stream into "event:data" strings
// ("message:" for unnamed events), as a browser's EventSource sees them.
func events(t *testing.T, stream string) []string {
	t.Helper()
	var out []string
	name, data, have := "", []string(nil), false
	sc := bufio.NewScanner(strings.NewReader(stream))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if have {
				if name == "" {
					name = "message"
				}
				out = append(out, name+":"+strings.Join(data, "\n"))
			}
			name, data, have = "", nil, false
		case strings.HasPrefix(line, "event: "):
			name, have = strings.TrimPrefix(line, "event: "), true
		case strings.HasPrefix(line, "data: "):
			data, have = append(data, strings.TrimPrefix(line, "data: ")), true
		default:
			t.Fatalf("unexpected line %q in the stream:\n%s", line, stream)
		}
	}
	return out
}

func TestSSELines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		want   []string
	}{
		{"one line", []string{"hello\n"}, []string{"message:hello"}},
		{"lines split across writes", []string{"hel", "lo\nwor", "ld\n"}, []string{"message:hello", "message:world"}},
		{"carriage returns dropped", []string{"progress 10%\rprogress 100%\r\n"}, []string{"message:progress 10%progress 100%"}},
		{"empty lines kept", []string{"a\n\nb\n"}, []string{"message:a", "message:", "message:b"}},
		{"a last line without newline", []string{"tail"}, []string{"message:tail"}},
		{"a line longer than the bound is split", []string{strings.Repeat("x", maxLogLine+10) + "\n"}, []string{"message:" + strings.Repeat("x", maxLogLine), "message:" + strings.Repeat("x", 10)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s := &sseLines{w: rec, rc: http.NewResponseController(rec)}
			for _, w := range tc.writes {
				if n, err := s.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			s.finish()
			got := events(t, rec.Body.String())
			if g, w := strings.Join(got, "|"), strings.Join(tc.want, "|"); g != w {
				t.Errorf("events = %.300q, want %.300q", g, w)
			}
		})
	}
}

// The stream stops taking lines past its byte bound, so a runaway log
// cannot hold a connection for ever.
func TestSSELinesBound(t *testing.T) {
	rec := httptest.NewRecorder()
	s := &sseLines{w: rec, rc: http.NewResponseController(rec)}
	line := []byte(strings.Repeat("y", 1000) + "\n")
	for range maxLogStreamBytes/len(line) + 2 {
		if _, err := s.Write(line); err != nil {
			return
		}
	}
	t.Fatalf("wrote %d bytes without errLogTooLong", rec.Body.Len())
}

// FuzzSSELines: whatever bytes a build logs, the stream stays well
// formed, so the page's EventSource sees only whole events, and no log
// line can forge an "end" event.
func FuzzSSELines(f *testing.F) {
	f.Add("hello\nworld\n", 3)
	f.Add("event: end\ndata: AVAILABLE\n\n", 1)
	f.Add("a\r\rb\r\n\n", 2)
	f.Fuzz(func(t *testing.T, log string, chunk int) {
		if chunk < 1 {
			chunk = 1
		}
		rec := httptest.NewRecorder()
		s := &sseLines{w: rec, rc: http.NewResponseController(rec)}
		for b := []byte(log); len(b) > 0; {
			n := min(chunk, len(b))
			s.Write(b[:n])
			b = b[n:]
		}
		s.finish()
		for _, e := range events(t, rec.Body.String()) {
			if !strings.HasPrefix(e, "message:") {
				t.Fatalf("a log line became the event %q", e)
			}
		}
	})
}
