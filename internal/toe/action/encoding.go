package action

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// textEncoding is one of the character encodings the file modules take.
// Files are written without a byte order mark (AWS does not document one);
// a leading mark that matches the encoding is dropped when reading.
type textEncoding struct {
	unit      int // bytes per code unit: 1, 2 or 4
	bigEndian bool
}

var (
	encUTF8    = textEncoding{unit: 1}
	encUTF16LE = textEncoding{unit: 2}
	encUTF16BE = textEncoding{unit: 2, bigEndian: true}
	encUTF32LE = textEncoding{unit: 4}
	encUTF32BE = textEncoding{unit: 4, bigEndian: true}
)

// encodings lists AWSTOE's encoding names (matched case-insensitively);
// bare utf16/utf32 mean little-endian, as on Windows.
var encodings = map[string]textEncoding{
	"utf8": encUTF8, "utf-8": encUTF8,
	"utf16": encUTF16LE, "utf-16": encUTF16LE,
	"utf16-le": encUTF16LE, "utf-16-le": encUTF16LE,
	"utf16-be": encUTF16BE, "utf-16-be": encUTF16BE,
	"utf32": encUTF32LE, "utf-32": encUTF32LE,
	"utf32-le": encUTF32LE, "utf-32-le": encUTF32LE,
	"utf32-be": encUTF32BE, "utf-32-be": encUTF32BE,
}

// lookupEncoding resolves an encoding input; "" means the default utf8.
func lookupEncoding(name string) (textEncoding, error) {
	if name == "" {
		return encUTF8, nil
	}
	e, ok := encodings[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return textEncoding{}, fmt.Errorf("unknown encoding %q (use utf8, utf16, utf16-BE, utf32, utf32-BE, ...)", name)
	}
	return e, nil
}

// checkEncoding is a Validate helper for an optional encoding input.
func checkEncoding(in values, name string) []Problem {
	v := in[name]
	if v == nil || isPlaceholder(v) {
		return nil
	}
	if _, err := lookupEncoding(scalarText(v)); err != nil {
		return []Problem{{Path: name, Message: err.Error()}}
	}
	return nil
}

func (e textEncoding) putUnit(b []byte, u uint32) []byte {
	switch e.unit {
	case 2:
		if e.bigEndian {
			return binary.BigEndian.AppendUint16(b, uint16(u))
		}
		return binary.LittleEndian.AppendUint16(b, uint16(u))
	default:
		if e.bigEndian {
			return binary.BigEndian.AppendUint32(b, u)
		}
		return binary.LittleEndian.AppendUint32(b, u)
	}
}

// encode converts UTF-8 text to e. Invalid UTF-8 is an error rather than
// silently becoming U+FFFD, since SetFileEncoding rewrites files in place.
func (e textEncoding) encode(s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, errors.New("content is not valid UTF-8")
	}
	if e.unit == 1 {
		return []byte(s), nil
	}
	out := make([]byte, 0, len(s)*e.unit)
	for _, r := range s {
		if e.unit == 2 {
			for _, u := range utf16.Encode([]rune{r}) {
				out = e.putUnit(out, uint32(u))
			}
			continue
		}
		out = e.putUnit(out, uint32(r))
	}
	return out, nil
}

// bom returns e's byte order mark.
func (e textEncoding) bom() []byte {
	b, _ := e.encode("\uFEFF")
	return b
}

// decode converts bytes in encoding e to a UTF-8 string.
func (e textEncoding) decode(b []byte) (string, error) {
	b = trimPrefixBytes(b, e.bom())
	switch e.unit {
	case 1:
		if !utf8.Valid(b) {
			return "", errors.New("file is not valid UTF-8")
		}
		return string(b), nil
	case 2:
		if len(b)%2 != 0 {
			return "", errors.New("file length is not a whole number of UTF-16 code units")
		}
		units := make([]uint16, len(b)/2)
		for i := range units {
			if e.bigEndian {
				units[i] = binary.BigEndian.Uint16(b[2*i:])
			} else {
				units[i] = binary.LittleEndian.Uint16(b[2*i:])
			}
		}
		return string(utf16.Decode(units)), nil
	default:
		if len(b)%4 != 0 {
			return "", errors.New("file length is not a whole number of UTF-32 code units")
		}
		var sb strings.Builder
		for i := 0; i < len(b); i += 4 {
			var u uint32
			if e.bigEndian {
				u = binary.BigEndian.Uint32(b[i:])
			} else {
				u = binary.LittleEndian.Uint32(b[i:])
			}
			if u > utf8.MaxRune || (u >= 0xD800 && u <= 0xDFFF) {
				return "", fmt.Errorf("invalid UTF-32 code point %#x", u)
			}
			sb.WriteRune(rune(u))
		}
		return sb.String(), nil
	}
}

func trimPrefixBytes(b, prefix []byte) []byte {
	if len(b) >= len(prefix) && string(b[:len(prefix)]) == string(prefix) {
		return b[len(prefix):]
	}
	return b
}
