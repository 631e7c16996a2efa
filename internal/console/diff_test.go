package console

import (
	"strings"
	"testing"
)

// render writes a diff as "op text" lines, for comparing.
func renderDiff(d []DiffLine) string {
	var b strings.Builder
	for _, l := range d {
		b.WriteByte(l.Op)
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestLineDiff(t *testing.T) {
	tests := []struct{ name, a, b, want string }{
		{"equal", "a\nb\n", "a\nb\n", " a\n b\n"},
		{"both empty", "", "", ""},
		{"added", "", "x\n", "+x\n"},
		{"removed", "x\ny", "y", "-x\n y\n"},
		{"changed middle", "a\nb\nc\n", "a\nB\nc\n", " a\n-b\n+B\n c\n"},
		{"component order", "one\ntwo\nthree", "two\none\nthree", "-one\n two\n+one\n three\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := renderDiff(lineDiff(tt.a, tt.b)); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// FuzzLineDiff: the diff's kept and removed lines are the old text, and
// its kept and added lines the new one.
func FuzzLineDiff(f *testing.F) {
	f.Add("a\nb\nc", "a\nc\nd")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 2000 || len(b) > 2000 {
			return
		}
		var old, neu []string
		for _, l := range lineDiff(a, b) {
			switch l.Op {
			case ' ':
				old, neu = append(old, l.Text), append(neu, l.Text)
			case '-':
				old = append(old, l.Text)
			case '+':
				neu = append(neu, l.Text)
			default:
				t.Fatalf("op %q", l.Op)
			}
		}
		if strings.Join(old, "\n") != strings.Join(splitLines(a), "\n") || strings.Join(neu, "\n") != strings.Join(splitLines(b), "\n") {
			t.Fatalf("diff of %q and %q does not rebuild them", a, b)
		}
	})
}
