package awsapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Timestamp is the model's timestamp type (shape DateTimeTimestamp). On the
// wire restJson1 sends it as epoch seconds, a JSON number with a fraction
// for sub-second precision (1705600256.123); aws-sdk-go-v2 rejects a string
// there. Reading, it also accepts an ISO-8601 string, which is what a query
// string carries and what hand-written clients tend to send.
//
// Most dates in the API are not Timestamps: the model's DateTime shape is a
// plain ISO-8601 string and is a Go string.
type Timestamp struct{ time.Time }

// Epoch bounds of years 0001 to 9999: outside them ISO-8601 has no
// four-digit year and seconds stop round-tripping through float clients.
const (
	minEpochSeconds = -62135596800
	maxEpochSeconds = 253402300799
)

// MarshalJSON writes epoch seconds, with up to nine fraction digits and no
// trailing zeros, so that any Timestamp round-trips exactly.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(t.epochString()), nil
}

func (t Timestamp) epochString() string {
	sec, ns := t.Unix(), int64(t.Nanosecond())
	neg := false
	if sec < 0 && ns > 0 {
		// time.Unix floors: -0.5s is sec -1, ns 5e8. Write it as -0.5.
		sec, ns = sec+1, 1e9-ns
		neg = sec == 0
	}
	s := strconv.FormatInt(sec, 10)
	if neg {
		s = "-" + s
	}
	if ns == 0 {
		return s
	}
	frac := strconv.FormatInt(ns+1e9, 10)[1:] // nine digits, zero-padded
	return s + "." + strings.TrimRight(frac, "0")
}

// UnmarshalJSON reads epoch seconds (a JSON number) or an ISO-8601 string;
// null leaves t unchanged, as encoding/json does for other types.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return timestampTypeError("empty")
	}
	switch b[0] {
	case 'n':
		if string(b) == "null" {
			return nil
		}
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return timestampTypeError("string")
		}
		v, err := ParseTimestamp(s)
		if err != nil {
			return timestampTypeError("string " + strconv.Quote(s))
		}
		*t = v
		return nil
	case 't', 'f':
		return timestampTypeError("bool")
	case '{':
		return timestampTypeError("object")
	case '[':
		return timestampTypeError("array")
	default:
		v, err := parseEpoch(string(b))
		if err != nil {
			return timestampTypeError("number " + string(b))
		}
		*t = v
		return nil
	}
	return timestampTypeError(string(b))
}

// timestampTypeError is a *json.UnmarshalTypeError so that encoding/json
// adds the member path to it, like it does for its own type errors.
func timestampTypeError(value string) error {
	return &json.UnmarshalTypeError{Value: value, Type: reflect.TypeFor[Timestamp]()}
}

// ParseTimestamp reads a timestamp as it appears in a query string or JSON
// string: ISO-8601 (RFC 3339, fraction optional) or epoch seconds.
func ParseTimestamp(s string) (Timestamp, error) {
	if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
		tm = tm.UTC()
		if tm.Year() < 1 || tm.Year() > 9999 {
			return Timestamp{}, &time.ParseError{Value: s, Message: ": year out of range"}
		}
		return Timestamp{tm}, nil
	}
	return parseEpoch(s)
}

// parseEpoch reads a JSON-style decimal number of seconds exactly, to the
// nanosecond (digits past that are truncated), exponent included: 1.7e9 is
// moved to 1700000000 in decimal, never through a float.
func parseEpoch(s string) (Timestamp, error) {
	bad := &time.ParseError{Value: s, Message: ": not epoch seconds"}
	neg := strings.HasPrefix(s, "-")
	mant := strings.TrimPrefix(s, "-")
	exp := 0
	if i := strings.IndexAny(mant, "eE"); i >= 0 {
		e := strings.TrimPrefix(mant[i+1:], "+")
		// Three digits of exponent are plenty: anything past 1e12
		// seconds is out of range anyway.
		if len(strings.TrimPrefix(e, "-")) > 3 {
			return Timestamp{}, bad
		}
		n, err := strconv.Atoi(e)
		if err != nil || strings.HasPrefix(e, "+") {
			return Timestamp{}, bad
		}
		exp, mant = n, mant[:i]
	}
	whole, frac, hasFrac := strings.Cut(mant, ".")
	if whole == "" || !allDigits(whole) || (hasFrac && (frac == "" || !allDigits(frac))) {
		return Timestamp{}, bad
	}
	// Move the decimal point exp places.
	digits, point := whole+frac, len(whole)+exp
	switch {
	case point <= 0:
		whole, frac = "0", strings.Repeat("0", -point)+digits
	case point >= len(digits):
		whole, frac = digits+strings.Repeat("0", point-len(digits)), ""
	default:
		whole, frac = digits[:point], digits[point:]
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 12 {
		return Timestamp{}, bad
	}
	var sec, ns int64
	if whole != "" {
		sec, _ = strconv.ParseInt(whole, 10, 64)
	}
	if frac != "" {
		ns, _ = strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	}
	if neg {
		sec, ns = -sec, -ns
	}
	if sec < minEpochSeconds || sec > maxEpochSeconds || (sec == maxEpochSeconds && ns > 0) || (sec == minEpochSeconds && ns < 0) {
		return Timestamp{}, bad
	}
	return Timestamp{time.Unix(sec, ns).UTC()}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
