package agent

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestDecodeFrame(t *testing.T) {
	tests := []struct {
		line    string
		want    frame
		wantBad bool
	}{
		{line: `{"op":"hello","version":1,"kernel":"6.1.0","pid1":true}`, want: frame{Op: opHello, Version: 1, Kernel: "6.1.0", PID1: true}},
		{line: `{"id":7,"op":"stdout","data":"aGk="}` + "\r", want: frame{ID: 7, Op: opStdout, Data: []byte("hi")}},
		{line: `{"id":3}`, wantBad: true},
		{line: `[  0.1234] kernel noise`, wantBad: true},
		{line: `{"id":"x","op":"run"}`, wantBad: true},
	}
	for _, tt := range tests {
		got, err := decodeFrame([]byte(tt.line))
		if tt.wantBad {
			if !isBadFrame(err) {
				t.Errorf("%s: err = %v, want a bad frame", tt.line, err)
			}
			continue
		}
		if err != nil || got.ID != tt.want.ID || got.Op != tt.want.Op || !bytes.Equal(got.Data, tt.want.Data) ||
			got.Version != tt.want.Version || got.Kernel != tt.want.Kernel || got.PID1 != tt.want.PID1 {
			t.Errorf("%s: got %+v, %v; want %+v", tt.line, got, err, tt.want)
		}
	}
}

func TestCodecLines(t *testing.T) {
	long := strings.Repeat("x", maxFrameSize+10)
	in := "junk\n" + long + "\n" + `{"op":"hello","version":1}` + "\n" + `{"id":2,"op":"done"}`
	c := newCodec(struct {
		io.Reader
		io.Writer
	}{strings.NewReader(in), io.Discard})
	var ops []string
	var bad int
	for {
		f, err := c.recv()
		if isBadFrame(err) {
			bad++
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, f.Op)
	}
	if bad != 2 || !slices.Equal(ops, []string{opHello, opDone}) {
		t.Errorf("bad %d, ops %v; want 2 bad lines then hello, done", bad, ops)
	}
}

func TestParseModulesDep(t *testing.T) {
	dep := `kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/char/virtio_console.ko.zst: kernel/drivers/virtio/virtio.ko
kernel/fs/fat/vfat-x.ko.xz:
# comment

not a module line
kernel/weird name.ko: x.ko
`
	mods, err := parseModulesDep(strings.NewReader(dep))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		deps       int
	}{
		{"virtio_pci", "kernel/drivers/virtio/virtio_pci.ko", 2},
		{"virtio", "kernel/drivers/virtio/virtio.ko", 0},
		{"virtio_console", "kernel/drivers/char/virtio_console.ko.zst", 1},
		{"vfat_x", "kernel/fs/fat/vfat-x.ko.xz", 0},
	}
	for _, tt := range tests {
		m, ok := mods[tt.name]
		if !ok || m.path != tt.path || len(m.deps) != tt.deps {
			t.Errorf("%s: got %+v, %v", tt.name, m, ok)
		}
	}
	if len(mods) != len(tests) {
		t.Errorf("parsed %d modules, want %d: %v", len(mods), len(tests), mods)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte(`{"id":1,"op":"run","argv":["sh","-c","true"],"env":["A=b"],"dir":"/"}`))
	f.Add([]byte(`{"op":"hello","version":1}`))
	f.Add([]byte(`{"id":2,"op":"data","data":"AAEC"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		fr, err := decodeFrame(line)
		if err != nil {
			if !isBadFrame(err) {
				t.Errorf("decode error %v is not a bad frame", err)
			}
			return
		}
		if fr.Op == "" {
			t.Error("frame without op accepted")
		}
	})
}

func FuzzParseModulesDep(f *testing.F) {
	f.Add("kernel/a.ko: kernel/b.ko kernel/c.ko.xz\nkernel/b.ko:\n")
	f.Add(":\n.ko:\n")
	f.Fuzz(func(t *testing.T, s string) {
		mods, err := parseModulesDep(strings.NewReader(s))
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "token too long") {
			t.Fatal(err)
		}
		for name, m := range mods {
			if name == "" || moduleName(m.path) != name {
				t.Errorf("module %q from %q", name, m.path)
			}
		}
	})
}
