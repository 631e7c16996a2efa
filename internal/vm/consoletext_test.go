package vm

import (
	"bytes"
	"strings"
	"testing"
)

func TestConsoleText(t *testing.T) {
	long := strings.Repeat("9", maxSequence+10)
	tests := []struct {
		name, in, want string
	}{
		{"plain lines", "Linux version 6.1\r\nroot=UUID=x\r\n", "Linux version 6.1\nroot=UUID=x\n"},
		{"tab kept", "a\tb\n", "a\tb\n"},
		{"SeaBIOS on the serial console", "\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2)\r\nBooting from Hard Disk...\r\n",
			"SeaBIOS (version 1.16.2)\nBooting from Hard Disk...\n"},
		{"GRUB drawing its screen", "\x1b[0;30;47mWelcome to GRUB!\r\n\n\x1b[H\x1b[J\x1b[1;1H\x1b[01;01H\x1b[0m\x1b[2J   Booting `Debian'\r\n",
			"Welcome to GRUB!\n\n   Booting `Debian'\n"},
		{"systemd colours", "[\x1b[0;32m  OK  \x1b[0m] Started kiln agent.\r\n", "[  OK  ] Started kiln agent.\n"},
		{"charset designation", "\x1b(Bok\x1b)0\n", "ok\n"},
		{"window title (OSC, BEL)", "\x1b]0;title\x07after\n", "after\n"},
		{"OSC 52 clipboard (ST)", "\x1b]52;c;ZXZpbA==\x1b\\after\n", "after\n"},
		{"ESC inside a string that is not ST", "\x1b]0;t\x1b[1mx\n", "x\n"},
		{"newline inside CSI still acts", "a\x1b[1\n;2mb\n", "a\nb\n"},
		{"other controls dropped", "a\x00\x07\x08\x7fb\n", "ab\n"},
		{"UTF-8 passes", "Grüße — ok\n", "Grüße — ok\n"},
		{"a stray CSI swallows no more than its bound", "\x1b[" + long + "tail\n", strings.Repeat("9", 10+1) + "tail\n"},
		{"an unterminated string is bounded too", "\x1b]" + long + "tail\n", strings.Repeat("9", 10+1) + "tail\n"},
		{"ESC ESC", "\x1b\x1b[31mred\n", "red\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, and cut at every byte: a sequence split across
			// writes is still one sequence.
			for cut := 0; cut <= len(tc.in); cut++ {
				var b bytes.Buffer
				w := ConsoleText(&b)
				w.Write([]byte(tc.in[:cut]))
				w.Write([]byte(tc.in[cut:]))
				if b.String() != tc.want {
					t.Fatalf("cut at %d: %q, want %q", cut, b.String(), tc.want)
				}
			}
		})
	}
}

func FuzzConsoleText(f *testing.F) {
	for _, s := range []string{"\x1bc\x1b[2JSeaBIOS\r\n", "\x1b]0;t\x07x", "\x1b[1\n;2m", "plain\n", "\x1b(B"} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		if cut < 0 || cut > len(in) {
			cut = len(in)
		}
		var whole, split bytes.Buffer
		ConsoleText(&whole).Write(in)
		w := ConsoleText(&split)
		w.Write(in[:cut])
		w.Write(in[cut:])
		if whole.String() != split.String() {
			t.Fatalf("split at %d gives %q, whole %q", cut, split.String(), whole.String())
		}
		for _, b := range whole.Bytes() {
			if b < 0x20 && b != '\n' && b != '\t' || b == 0x7f {
				t.Fatalf("control byte %#x in the text %q", b, whole.String())
			}
		}
		if whole.Len() > len(in) {
			t.Fatalf("the text %q is longer than the console %q", whole.String(), in)
		}
	})
}
