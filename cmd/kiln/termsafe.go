package main

import (
	"fmt"
	"io"
	"unicode/utf8"
)

// termSafeWriter escapes what a terminal would act on rather than show,
// keeping only newline and tab. Build logs are written by components,
// and a hostile component's output would otherwise reach the reader's
// terminal as escape sequences: rewriting what was printed above (hiding
// a failure), setting the window title, writing to the clipboard (OSC
// 52), or, on some terminals, answering queries as typed input. It
// escapes always, not only when stdout is a terminal, because a log
// saved to a file is later read with cat or less just the same.
//
// Escaped are the C0 controls other than \n and \t (so \r and \x1b
// too), DEL, the C1 controls U+0080–U+009F (U+009B is a one-character
// CSI), bytes that are not UTF-8 (a lone 0x9b is CSI to an 8-bit
// terminal), and the bidirectional overrides and isolates that reorder
// what is shown. Each becomes a visible \xNN or \u{NNNN}.
type termSafeWriter struct {
	w       io.Writer
	pending []byte // the start of a UTF-8 sequence split across writes
}

func (t *termSafeWriter) Write(p []byte) (int, error) {
	buf := append(t.pending, p...)
	t.pending = nil
	out := make([]byte, 0, len(buf))
	for len(buf) > 0 {
		if !utf8.FullRune(buf) {
			// Hold back an incomplete sequence until the next write
			// (Close flushes it escaped).
			t.pending = append([]byte(nil), buf...)
			break
		}
		r, size := utf8.DecodeRune(buf)
		out = appendTermSafe(out, buf[:size], r)
		buf = buf[size:]
	}
	if _, err := t.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes what is held back of a sequence the stream never
// finished, escaped byte by byte.
func (t *termSafeWriter) Close() error {
	var out []byte
	for _, b := range t.pending {
		out = fmt.Appendf(out, `\x%02x`, b)
	}
	t.pending = nil
	if len(out) == 0 {
		return nil
	}
	_, err := t.w.Write(out)
	return err
}

func appendTermSafe(out, raw []byte, r rune) []byte {
	switch {
	case r == utf8.RuneError && len(raw) == 1:
		return fmt.Appendf(out, `\x%02x`, raw[0])
	case r == '\n' || r == '\t':
		return append(out, raw...)
	case r < 0x20 || r == 0x7f:
		return fmt.Appendf(out, `\x%02x`, r)
	case r >= 0x80 && r <= 0x9f,
		r >= 0x202a && r <= 0x202e, // LRE RLE PDF LRO RLO
		r >= 0x2066 && r <= 0x2069: // LRI RLI FSI PDI
		return fmt.Appendf(out, `\u{%04x}`, r)
	}
	return append(out, raw...)
}
