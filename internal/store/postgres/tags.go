package postgres

import "encoding/json"

// decodeTags decodes the tags column as PostgreSQL writes jsonb out: an
// object of strings, `{"k": "v", "k2": "v2"}`. List decodes every row's
// tags, and encoding/json's reflection was a third of a page's CPU in the
// store, so the common shapes (no tags; keys and values without escapes)
// are read directly and anything else goes to encoding/json.
func decodeTags(b []byte) (map[string]string, error) {
	if tags, ok := plainTags(b); ok {
		return tags, nil
	}
	var tags map[string]string
	if err := json.Unmarshal(b, &tags); err != nil {
		return nil, err
	}
	if tags == nil {
		tags = map[string]string{}
	}
	return tags, nil
}

// plainTags reads b when it is an object of strings without escapes; ok is
// false for anything else.
func plainTags(b []byte) (map[string]string, bool) {
	b = trim(b)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	b = trim(b[1 : len(b)-1])
	tags := map[string]string{}
	if len(b) == 0 {
		return tags, true
	}
	for {
		k, rest, ok := plainString(b)
		if !ok {
			return nil, false
		}
		rest = trim(rest)
		if len(rest) == 0 || rest[0] != ':' {
			return nil, false
		}
		v, rest, ok := plainString(trim(rest[1:]))
		if !ok {
			return nil, false
		}
		tags[k] = v
		rest = trim(rest)
		if len(rest) == 0 {
			return tags, true
		}
		if rest[0] != ',' {
			return nil, false
		}
		b = trim(rest[1:])
	}
}

// plainString reads a JSON string at the start of b holding no escapes,
// control characters or bytes outside ASCII (which encoding/json would
// check for UTF-8), and returns it and what follows.
func plainString(b []byte) (string, []byte, bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return string(b[1:i]), b[i+1:], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", nil, false
		}
	}
	return "", nil, false
}

// trim cuts JSON's whitespace (space, tab, newline, carriage return) from
// both ends of b.
func trim(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
