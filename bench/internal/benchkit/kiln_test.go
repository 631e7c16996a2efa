package benchkit

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for a server that announces its
// address the way kiln does, so StartServer is tested with a real child.
func TestMain(m *testing.M) {
	if os.Getenv("BENCHKIT_TEST_SERVER") == "1" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("test server listening on http://%s (pid %d)\n", ln.Addr(), os.Getpid())
		http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
		return
	}
	if os.Getenv("BENCHKIT_TEST_SERVER") == "exit" {
		fmt.Fprintln(os.Stderr, "cannot start: no data directory")
		os.Exit(3)
	}
	os.Exit(m.Run())
}

func TestStartServer(t *testing.T) {
	t.Setenv("BENCHKIT_TEST_SERVER", "1")
	logPath := filepath.Join(t.TempDir(), "server.log")
	s, err := StartServer(context.Background(), "test", logPath, os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.URL() + "/anything")
	if err != nil {
		s.Kill()
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" {
		t.Errorf("body %q", body)
	}
	if s.PID() <= 0 {
		t.Errorf("PID %d", s.PID())
	}
	if err := s.Stop(10 * time.Second); err != nil {
		t.Error(err)
	}
	if !strings.Contains(s.LogTail(), "listening on http://"+s.Addr) {
		t.Errorf("log lacks the listen line: %q", s.LogTail())
	}
}

func TestStartServerExitsEarly(t *testing.T) {
	t.Setenv("BENCHKIT_TEST_SERVER", "exit")
	_, err := StartServer(context.Background(), "test", filepath.Join(t.TempDir(), "server.log"), os.Args[0])
	if err == nil || !strings.Contains(err.Error(), "test exited before listening") || !strings.Contains(err.Error(), "no data directory") {
		t.Errorf("err = %v; want the early exit with the log's tail", err)
	}
}

var listenLines = []struct {
	line, want string
	ok         bool
}{
	{"kiln listening on http://127.0.0.1:41234 (region us-east-1, auth strict, data /tmp/x)", "127.0.0.1:41234", true},
	{"kiln: listening on http://127.0.0.1:41234 (data ./kiln-data)", "127.0.0.1:41234", true},
	{"floor listening on http://127.0.0.1:5000", "127.0.0.1:5000", true},
	{"kiln listening on http://[::1]:80\t(x)", "[::1]:80", true},
	{"listening on http://127.0.0.1:8080/", "127.0.0.1:8080", true},
	{"listening on https://127.0.0.1:1", "", false},
	{"listening on http://", "", false},
	{"listening on http:// ", "", false},
	{"time=... msg=started", "", false},
	{"", "", false},
}

func TestParseListenLine(t *testing.T) {
	for _, tc := range listenLines {
		got, ok := ParseListenLine(tc.line)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseListenLine(%q) = %q, %v; want %q, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseListenLine(f *testing.F) {
	for _, tc := range listenLines {
		f.Add(tc.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		addr, ok := ParseListenLine(line)
		if ok != (addr != "") {
			t.Fatalf("ParseListenLine(%q) = %q, %v", line, addr, ok)
		}
		if ok && (strings.ContainsAny(addr, " \t(/") || !strings.Contains(line, "http://"+addr)) {
			t.Fatalf("ParseListenLine(%q) = %q", line, addr)
		}
	})
}
