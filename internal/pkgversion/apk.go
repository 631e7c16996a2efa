package pkgversion

import "strings"

// apk version tokens, in apk-tools' order (src/version.c): when two
// versions agree up to where one has a token of a lower kind than the
// other, the order of kinds decides.
const (
	apkInvalid = iota - 1
	apkDigitOrZero
	apkDigit
	apkLetter
	apkSuffix
	apkSuffixNo
	apkRevisionNo
	apkEnd
)

// apkPreSuffixes sort before the release ("1.0_rc1" < "1.0"), in this
// order; apkPostSuffixes after it ("1.0" < "1.0_p1").
var (
	apkPreSuffixes  = []string{"alpha", "beta", "pre", "rc"}
	apkPostSuffixes = []string{"cvs", "svn", "git", "hg", "p"}
)

// apkMaxNumber caps a number token so it fits an int64; versions with
// numbers of more than 17 digits compare equal in that position, which
// keeps the order total.
const apkMaxNumber = int64(1e17)

// apkNextToken reads the kind of the token that starts s, given the kind
// of the token before it, and consumes its separator.
func apkNextToken(typ int, s string) (int, string) {
	n := apkInvalid
	switch {
	case len(s) == 0 || s[0] == 0:
		n = apkEnd
	case (typ == apkDigit || typ == apkDigitOrZero) && 'a' <= s[0] && s[0] <= 'z':
		n = apkLetter
	case typ == apkLetter && isDigit(s[0]):
		n = apkDigit
	case typ == apkSuffix && isDigit(s[0]):
		n = apkSuffixNo
	default:
		switch s[0] {
		case '.':
			n = apkDigitOrZero
		case '_':
			n = apkSuffix
		case '-':
			if len(s) > 1 && s[1] == 'r' {
				n = apkRevisionNo
				s = s[1:]
			}
		}
		s = s[1:]
	}
	if n < typ {
		if !((n == apkDigitOrZero && typ == apkDigit) ||
			(n == apkSuffix && typ == apkSuffixNo) ||
			(n == apkDigit && typ == apkLetter)) {
			n = apkInvalid
		}
	}
	return n, s
}

// apkGetToken reads the value of the token of kind typ at the start of s
// and returns it with the kind of the next token and the rest of s.
func apkGetToken(typ int, s string) (value int64, next int, rest string) {
	if len(s) == 0 {
		return 0, apkEnd, s
	}
	i := 0
	nt := apkInvalid
	switch typ {
	case apkDigitOrZero, apkDigit, apkSuffixNo, apkRevisionNo:
		if typ == apkDigitOrZero && s[0] == '0' {
			// A component after a dot with leading zeros is a fraction
			// (1.01 < 1.1, 1.001 < 1.01): the zeros but the last one
			// count against it, and the digits follow as a token of
			// their own.
			for i+1 < len(s) && s[i+1] == '0' {
				i++
			}
			nt = apkDigit
			value = -int64(min(i, 1<<30))
			break
		}
		for i < len(s) && isDigit(s[i]) {
			value = min(value*10+int64(s[i]-'0'), apkMaxNumber)
			i++
		}
	case apkLetter:
		value = int64(s[0])
		i = 1
	case apkSuffix:
		found := false
		for k, suf := range apkPreSuffixes {
			if strings.HasPrefix(s, suf) {
				value, i, found = int64(k-len(apkPreSuffixes)), len(suf), true
				break
			}
		}
		if !found {
			for k, suf := range apkPostSuffixes {
				if strings.HasPrefix(s, suf) {
					value, i, found = int64(k), len(suf), true
					break
				}
			}
		}
		if !found {
			return -1, apkInvalid, s
		}
	default:
		return -1, apkInvalid, s
	}
	s = s[i:]
	switch {
	case len(s) == 0:
		return value, apkEnd, s
	case nt != apkInvalid:
		return value, nt, s
	}
	next, s = apkNextToken(typ, s)
	return value, next, s
}

// compareAPK is apk-tools' version comparison (apk_version_compare):
// tokens are compared pairwise while their kinds agree; then the version
// that goes on is newer, unless what follows is a pre-release suffix.
func compareAPK(a, b string) int {
	at, bt := apkDigit, apkDigit
	var av, bv int64
	for at == bt && at != apkEnd && at != apkInvalid && av == bv {
		av, at, a = apkGetToken(at, a)
		bv, bt, b = apkGetToken(bt, b)
	}
	switch {
	case av < bv:
		return -1
	case av > bv:
		return 1
	case at == bt:
		return 0
	}
	if at == apkSuffix {
		if v, _, _ := apkGetToken(at, a); v < 0 {
			return -1
		}
	}
	if bt == apkSuffix {
		if v, _, _ := apkGetToken(bt, b); v < 0 {
			return 1
		}
	}
	switch {
	case at > bt:
		return -1
	case bt > at:
		return 1
	}
	return 0
}
