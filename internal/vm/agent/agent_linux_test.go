package agent

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// pair starts a server on one end of an in-memory connection and returns
// a client on the other, and the channel serve's result arrives on.
func pair(t *testing.T) (*Client, <-chan error) {
	t.Helper()
	guest, host := net.Pipe()
	s := newServer(guest, newReaper(false), frame{Op: opHello, Version: ProtocolVersion, Kernel: "test"})
	served := make(chan error, 1)
	go func() { served <- s.serve() }()
	c, err := NewClient(host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); guest.Close() })
	return c, served
}

func TestClientServer(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	c, served := pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c.Hello().Kernel != "test" {
		t.Errorf("hello = %+v", c.Hello())
	}

	runs := []struct {
		name           string
		argv, env      []string
		dir            string
		code           int
		stdout, stderr string
		wantErr        string
	}{
		{name: "streams and code", argv: []string{"sh", "-c", "echo a; echo b >&2; exit 4"}, code: 4, stdout: "a\n", stderr: "b\n"},
		{name: "env override", argv: []string{"sh", "-c", "echo $X"}, env: []string{"X=y"}, stdout: "y\n"},
		{name: "dir", argv: []string{"pwd"}, dir: "/tmp", stdout: "/tmp\n"},
		{name: "signal", argv: []string{"sh", "-c", "kill -TERM $$"}, code: 143},
		{name: "missing", argv: []string{"kiln-no-such-tool"}, code: -1, wantErr: "not found"},
		{name: "bad dir", argv: []string{"true"}, dir: "/nonexistent", code: -1, wantErr: "start true"},
	}
	for _, tt := range runs {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code, err := c.Run(ctx, tt.argv, tt.env, tt.dir, &out, &errOut)
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) || tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if code != tt.code || out.String() != tt.stdout || errOut.String() != tt.stderr {
				t.Errorf("got %d %q %q, want %d %q %q", code, out.String(), errOut.String(), tt.code, tt.stdout, tt.stderr)
			}
		})
	}

	t.Run("write and read", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "sub", "f")
		data := bytes.Repeat([]byte("0123456789"), 10000)
		if err := c.WriteFile(ctx, p, 0o600, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 || st.Size() != int64(len(data)) {
			t.Fatalf("stat: %v %v", st, err)
		}
		var back bytes.Buffer
		if err := c.ReadFile(ctx, p, &back); err != nil || !bytes.Equal(back.Bytes(), data) {
			t.Errorf("read back %d bytes, %v", back.Len(), err)
		}
		if err := c.WriteFile(ctx, "/proc/kiln-cannot/f", 0o644, strings.NewReader("x")); err == nil {
			t.Error("write under /proc succeeded")
		}
		entries, _ := os.ReadDir(filepath.Join(dir, "sub"))
		if len(entries) != 1 {
			t.Errorf("left %d files beside the written one", len(entries)-1)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		runCtx, stop := context.WithTimeout(ctx, 500*time.Millisecond)
		defer stop()
		start := time.Now()
		_, err := c.Run(runCtx, []string{"sleep", "60"}, nil, "", nil, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		// The killed process is reaped: the next run still works.
		var out bytes.Buffer
		if code, err := c.Run(ctx, []string{"echo", "ok"}, nil, "", &out, nil); err != nil || code != 0 || out.String() != "ok\n" {
			t.Errorf("after cancel: %d %v %q (cancel took %v)", code, err, out.String(), time.Since(start))
		}
	})

	if err := c.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, errPowerOff) {
		t.Errorf("serve returned %v, want errPowerOff", err)
	}
}

func TestNewClientRefusesOtherVersion(t *testing.T) {
	guest, host := net.Pipe()
	defer guest.Close()
	go func() {
		guest.Write([]byte("garbage from an earlier boot\n"))
		newCodec(guest).send(frame{Op: opHello, Version: ProtocolVersion + 1})
	}()
	if _, err := NewClient(host); err == nil || !strings.Contains(err.Error(), "protocol") {
		t.Fatalf("err = %v, want a protocol mismatch", err)
	}
}

func TestClientAfterClose(t *testing.T) {
	c, _ := pair(t)
	c.Close()
	if _, err := c.Run(context.Background(), []string{"true"}, nil, "", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "HOME=/root", "A=1"}, []string{"HOME=/tmp", "B=2", "A=3"})
	want := []string{"PATH=/bin", "HOME=/tmp", "A=3", "B=2"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
