package pkgversion

import "strings"

// rpmEVR is an rpm version split into epoch, version and release.
type rpmEVR struct {
	epoch, version, release string
	hasRelease              bool
}

// parseRPM splits [epoch:]version[-release]: the epoch is a number before
// the first colon, the release what follows the last hyphen.
func parseRPM(v string) rpmEVR {
	v = strings.TrimSpace(v)
	var e rpmEVR
	if ep, rest, ok := strings.Cut(v, ":"); ok && allDigits(ep) {
		e.epoch = ep
		v = rest
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		e.version, e.release, e.hasRelease = v[:i], v[i+1:], true
	} else {
		e.version = v
	}
	return e
}

// compareRPM compares epochs numerically (absent is 0), then versions and
// releases with rpmvercmp. A missing release compares as an empty one:
// older than any release but one starting with "~".
func compareRPM(a, b string) int {
	ea, eb := parseRPM(a), parseRPM(b)
	if c := compareDigits(ea.epoch, eb.epoch); c != 0 {
		return c
	}
	if c := rpmvercmp(ea.version, eb.version); c != 0 {
		return c
	}
	return rpmvercmp(ea.release, eb.release)
}

func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// rpmvercmp is rpm's segment comparison (rpmio/rpmvercmp.c): the strings
// are cut into runs of digits and runs of letters, everything else being
// a separator; digit runs compare numerically and beat letter runs; "~"
// sorts before anything, even the end of the string; "^" sorts after the
// end of the string but before anything else.
func rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isAlnum(a[i]) && a[i] != '~' && a[i] != '^' {
			i++
		}
		for j < len(b) && !isAlnum(b[j]) && b[j] != '~' && b[j] != '^' {
			j++
		}
		ca, cb := at(a, i), at(b, j)
		if ca == '~' || cb == '~' {
			if ca != '~' {
				return 1
			}
			if cb != '~' {
				return -1
			}
			i++
			j++
			continue
		}
		if ca == '^' || cb == '^' {
			if i >= len(a) {
				return -1
			}
			if j >= len(b) {
				return 1
			}
			if ca != '^' {
				return 1
			}
			if cb != '^' {
				return -1
			}
			i++
			j++
			continue
		}
		if i >= len(a) || j >= len(b) {
			break
		}
		si, sj := i, j
		numeric := isDigit(a[i])
		if numeric {
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
		} else {
			for i < len(a) && isAlpha(a[i]) {
				i++
			}
			for j < len(b) && isAlpha(b[j]) {
				j++
			}
		}
		if sj == j {
			// Segments of different types: a number is newer.
			if numeric {
				return 1
			}
			return -1
		}
		var c int
		if numeric {
			c = compareDigits(a[si:i], b[sj:j])
		} else {
			c = strings.Compare(a[si:i], b[sj:j])
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case i >= len(a) && j >= len(b):
		return 0
	case i < len(a):
		return 1
	}
	return -1
}

// at returns s[i], or 0 past its end (C's terminating NUL).
func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}
