package vm

import "io"

// ConsoleText returns a writer that passes a guest's serial console on to
// w as log text: the terminal escape sequences a console carries (SeaBIOS
// and GRUB drawing their screens on it, systemd's colours), carriage
// returns and the other control bytes but newline and tab are dropped, so
// that a build log reads as the lines the guest printed. A sequence split
// across writes is still recognised. Bytes of 0x80 and above pass
// unchanged: whoever shows the log to a terminal escapes what it must.
func ConsoleText(w io.Writer) io.Writer { return &consoleText{w: w} }

// consoleState is where consoleText is inside an escape sequence.
type consoleState uint8

const (
	ground   consoleState = iota // text
	escape                       // after ESC
	escInter                     // ESC and intermediate bytes, before the final byte
	csi                          // ESC [ and its parameters, before the final byte
	str                          // a control string (OSC, DCS, ...), before BEL or ESC \
	strEsc                       // ESC inside a control string
)

// maxSequence bounds the bytes an escape sequence may swallow: a stray
// "ESC [" or an unterminated control string does not hide what follows.
const maxSequence = 256

type consoleText struct {
	w     io.Writer
	state consoleState
	n     int // bytes swallowed by the current sequence
	out   []byte
}

func (c *consoleText) Write(p []byte) (int, error) {
	c.out = c.out[:0]
	for _, b := range p {
		c.byte(b)
	}
	if len(c.out) > 0 {
		if _, err := c.w.Write(c.out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *consoleText) byte(b byte) {
	if c.state != ground {
		c.n++
		if c.n > maxSequence {
			c.state = ground
		}
	}
	switch c.state {
	case ground:
		c.text(b)
	case escape:
		switch {
		case b == '[':
			c.state = csi
		case b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_':
			c.state = str
		case b >= 0x20 && b <= 0x2f:
			c.state = escInter
		case b == 0x1b:
			c.start()
		default: // the final byte of a two-byte sequence (ESC c, ESC 7, ...)
			c.state = ground
		}
	case escInter:
		if b < 0x20 || b > 0x2f {
			c.state = ground // the final byte (ESC ( B)
		}
	case csi:
		switch {
		case b >= 0x40 && b <= 0x7e:
			c.state = ground
		case b == 0x1b:
			c.start()
		case b < 0x20:
			c.text(b) // a control inside a sequence still acts (ECMA-48)
		case b >= 0x80:
			c.state = ground
		}
	case str:
		switch b {
		case 0x07:
			c.state = ground
		case 0x1b:
			c.state = strEsc
		}
	case strEsc:
		if b == '\\' {
			c.state = ground
		} else {
			c.start()
			c.byte(b)
		}
	}
}

// start enters a new escape sequence.
func (c *consoleText) start() { c.state, c.n = escape, 0 }

// text handles a byte outside a sequence.
func (c *consoleText) text(b byte) {
	switch {
	case b == 0x1b:
		c.start()
	case b == '\n' || b == '\t' || b >= 0x20 && b != 0x7f:
		c.out = append(c.out, b)
	}
}
