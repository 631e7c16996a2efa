package benchkit

import (
	"slices"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n" +
			"90 22 0:45 / /tmp/a\\040b rw - overlay overlay rw,lowerdir=/x\n" +
			"91 90 0:5 / /tmp/a\\040b/dev rw - devtmpfs udev rw\n" +
			"short line\n",
			[]string{"/", "/tmp/a b", "/tmp/a b/dev"}},
		{"36 35 98:0 / /mnt/with\\040space rw - ext3 /dev/root rw\n37 35 98:0 / /plain rw - ext4 /dev/x rw\n",
			[]string{"/mnt/with space", "/plain"}},
		{"", nil},
	} {
		if got := ParseMountinfo(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("ParseMountinfo(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{`a\134b`: `a\b`, `a\0`: `a\0`, `x\999`: `x\999`, `tab\011`: "tab\t", "plain": "plain"} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add("22 1 254:0 / /a\\040b rw - ext4 /dev/vda rw\n")
	f.Add(`1 2 3 4 \`)
	f.Fuzz(func(t *testing.T, text string) {
		for _, m := range ParseMountinfo(text) {
			if m == "" {
				t.Fatalf("empty mount point from %q", text)
			}
		}
	})
}
