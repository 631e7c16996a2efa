package action

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

func TestEncodings(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []byte
	}{
		{"utf8", "aé", []byte("aé")},
		{"UTF-8", "a", []byte("a")},
		{"utf16", "a€", []byte{'a', 0, 0xac, 0x20}},
		{"utf-16-LE", "a", []byte{'a', 0}},
		{"utf16-BE", "a€", []byte{0, 'a', 0x20, 0xac}},
		{"utf16", "😀", []byte{0x3d, 0xd8, 0x00, 0xde}},
		{"utf32", "a", []byte{'a', 0, 0, 0}},
		{"UTF-32-BE", "😀", []byte{0, 1, 0xf6, 0}},
	}
	for _, tt := range tests {
		enc, err := lookupEncoding(tt.name)
		if err != nil {
			t.Fatalf("lookupEncoding(%q): %v", tt.name, err)
		}
		got, err := enc.encode(tt.text)
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("%s encode(%q) = % x, %v; want % x", tt.name, tt.text, got, err, tt.want)
		}
		back, err := enc.decode(append(enc.bom(), got...))
		if err != nil || back != tt.text {
			t.Errorf("%s decode(BOM + % x) = %q, %v; want %q", tt.name, got, back, err, tt.text)
		}
	}
	for _, bad := range []string{"latin1", "ascii", "utf-7"} {
		if _, err := lookupEncoding(bad); err == nil {
			t.Errorf("lookupEncoding(%q) accepted", bad)
		}
	}
	if _, err := encUTF8.encode("\xff"); err == nil {
		t.Error("encode accepted invalid UTF-8")
	}
	if _, err := encUTF16LE.decode([]byte{1}); err == nil {
		t.Error("decode accepted an odd UTF-16 length")
	}
	if _, err := encUTF32LE.decode([]byte{0, 0, 0x11, 0}); err == nil {
		t.Error("decode accepted a UTF-32 value beyond U+10FFFF")
	}
}

// FuzzEncodingRoundTrip checks that valid text survives every encoding
// and that decoding arbitrary bytes never panics.
func FuzzEncodingRoundTrip(f *testing.F) {
	for _, s := range []string{"", "hello", "é€😀", "\xff\xfe", "\x00\x00\xfe\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, enc := range encodings {
			enc.decode([]byte(s))
			if !utf8.ValidString(s) {
				continue
			}
			b, err := enc.encode(s)
			if err != nil {
				t.Fatalf("%s encode(%q): %v", name, s, err)
			}
			back, err := enc.decode(b)
			// A text starting with U+FEFF loses it as a byte order mark.
			if err != nil || (back != s && "\uFEFF"+back != s) {
				t.Fatalf("%s round trip of %q = %q, %v", name, s, back, err)
			}
		}
	})
}
