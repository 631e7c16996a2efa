package pkgversion

import "strings"

// dpkgVersion is a Debian version split into its three parts (Debian
// Policy §5.6.12): an epoch, the upstream version and the Debian revision.
type dpkgVersion struct {
	epoch    string // digits without leading zeros; "" is epoch 0
	upstream string
	revision string // "" when absent, which compares like "0"
}

// parseDpkg splits v as dpkg does: the epoch is what precedes the first
// colon when that is a number, the revision what follows the last hyphen.
// A non-numeric "epoch" is left in the upstream part rather than refused,
// so that Compare stays total.
func parseDpkg(v string) dpkgVersion {
	v = strings.TrimSpace(v)
	var d dpkgVersion
	if e, rest, ok := strings.Cut(v, ":"); ok && e != "" && allDigits(e) {
		d.epoch = strings.TrimLeft(e, "0")
		v = rest
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		d.upstream, d.revision = v[:i], v[i+1:]
	} else {
		d.upstream = v
	}
	return d
}

// compareDpkg is dpkg's version comparison: epochs numerically, then the
// upstream versions and the revisions with verrevcmp.
func compareDpkg(a, b string) int {
	va, vb := parseDpkg(a), parseDpkg(b)
	if c := compareDigits(va.epoch, vb.epoch); c != 0 {
		return c
	}
	if c := verrevcmp(va.upstream, vb.upstream); c != 0 {
		return c
	}
	return verrevcmp(va.revision, vb.revision)
}

// dpkgOrder is the weight of one character in a non-digit run: the end of
// the string and digits weigh 0, "~" less than that (so "1.0~rc1" is
// before "1.0"), letters their ASCII value and every other character more
// than any letter.
func dpkgOrder(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	}
	return int(c) + 256
}

// verrevcmp compares alternating runs of non-digits (character by
// character with dpkgOrder) and digits (numerically), as dpkg's lib/dpkg
// version code does.
func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := dpkgOrder(a, i), dpkgOrder(b, j)
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		si := i
		for i < len(a) && isDigit(a[i]) {
			i++
		}
		sj := j
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if c := compareDigits(a[si:i], b[sj:j]); c != 0 {
			return c
		}
	}
	return 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// compareDigits compares two runs of decimal digits as numbers of any
// size ("" is zero), without converting them, so no version overflows.
func compareDigits(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return strings.Compare(a, b)
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
