package main

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

func TestTermSafeWriter(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"plain text\n\tindented\n", "plain text\n\tindented\n"},
		{"\x1b[2J\x1b]0;title\x07", `\x1b[2J\x1b]0;title\x07`},
		{"over\rwrite", `over\x0dwrite`},
		{"del\x7f", `del\x7f`},
		{"c1 \u009b31m", `c1 \u{009b}31m`},
		{"lone \x9b byte", `lone \x9b byte`},
		{"bidi \u202eevil", `bidi \u{202e}evil`},
		{"ünïcödé ✓", "ünïcödé ✓"},
		{"cut \xe2\x9c", `cut \xe2\x9c`},
	}
	for _, tc := range tests {
		// Every split point: a sequence divided between writes must come
		// out as if written whole.
		for cut := 0; cut <= len(tc.in); cut++ {
			var b bytes.Buffer
			w := &termSafeWriter{w: &b}
			w.Write([]byte(tc.in[:cut]))
			w.Write([]byte(tc.in[cut:]))
			w.Close()
			if b.String() != tc.want {
				t.Errorf("%q cut at %d = %q, want %q", tc.in, cut, b.String(), tc.want)
			}
		}
	}
}

// FuzzTermSafeWriter checks that nothing a terminal acts on gets through,
// however the stream is split.
func FuzzTermSafeWriter(f *testing.F) {
	f.Add([]byte("\x1b[31mred\x1b[0m\n"), 3)
	f.Add([]byte("\xe2\x80\xae\xc2\x9b"), 1)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		if cut < 0 || cut > len(in) {
			cut = len(in) / 2
		}
		var b bytes.Buffer
		w := &termSafeWriter{w: &b}
		w.Write(in[:cut])
		w.Write(in[cut:])
		w.Close()
		out := b.Bytes()
		if !utf8.Valid(out) {
			t.Fatalf("output is not UTF-8: %q", out)
		}
		for _, r := range string(out) {
			if (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
				t.Fatalf("%U got through: %q", r, out)
			}
		}
	})
}
