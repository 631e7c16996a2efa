package pkgversion

import (
	"math/rand/v2"
	"strings"
	"testing"
)

type comparison struct {
	a, b string
	want int
}

// check runs a table both ways round: Compare(b, a) must be the opposite.
func check(t *testing.T, kind Kind, cases []comparison) {
	t.Helper()
	for _, c := range cases {
		if got := Compare(kind, c.a, c.b); got != c.want {
			t.Errorf("Compare(%v, %q, %q) = %d, want %d", kind, c.a, c.b, got, c.want)
		}
		if got := Compare(kind, c.b, c.a); got != -c.want {
			t.Errorf("Compare(%v, %q, %q) = %d, want %d", kind, c.b, c.a, got, -c.want)
		}
	}
}

// TestDpkg: the examples of Debian Policy §5.6.12 and deb-version(5), and
// the cases of dpkg's own test suite for epochs and revisions.
func TestDpkg(t *testing.T) {
	check(t, Dpkg, []comparison{
		// Policy: "~~" < "~~a" < "~" < "" < "a".
		{"1.0~~", "1.0~~a", -1},
		{"1.0~~a", "1.0~", -1},
		{"1.0~", "1.0", -1},
		{"1.0", "1.0a", -1},
		// Pre-releases and stable updates, as Debian names them.
		{"1.0~rc1", "1.0", -1},
		{"1.0~rc1", "1.0~rc2", -1},
		{"3.0.15-1~deb12u1", "3.0.15-1", -1},
		{"3.0.11-1~deb12u2", "3.0.15-1~deb12u1", -1},
		{"2.36-9+deb12u7", "2.36-9+deb12u10", -1},
		{"1.2-3+b1", "1.2-3", 1},
		// Epochs override everything else.
		{"1:1.0", "2.0", 1},
		{"1:1.0", "1:2.0", -1},
		{"0:1.0", "1.0", 0},
		{"00:1.0", "0:1.0", 0},
		{"2:1.0", "10:1.0", -1},
		// Revisions: absent equals "0".
		{"1.0", "1.0-0", 0},
		{"1.0-1", "1.0", 1},
		{"1.0-1", "1.0-2", -1},
		{"1.0-1.1", "1.0-1", 1},
		// Hyphens in the upstream part: the revision is after the last.
		{"1.0-beta-1", "1.0-beta-2", -1},
		// Digits compare numerically, leading zeros ignored.
		{"1.002", "1.2", 0},
		{"1.10", "1.9", 1},
		{"1.0", "1.0.0", -1},
		// Letters before non-letters: "." and "+" sort after letters.
		{"1.0a", "1.0+", -1},
		{"1.0a", "1.0.", -1},
		{"1.0+dfsg", "1.0", 1},
		{"1.0+dfsg", "1.0.1", -1},
		{"7.88.1-10+deb12u8", "7.88.1-10+deb12u12", -1},
		// Huge numbers do not overflow.
		{"99999999999999999999999", "99999999999999999999998", 1},
		{"1", "1", 0},
		{"", "", 0},
	})
}

// TestRPM: the cases of rpm's own test suite (tests/rpmvercmp.at), plus
// epochs and releases.
func TestRPM(t *testing.T) {
	check(t, RPM, []comparison{
		{"1.0", "1.0", 0},
		{"1.0", "2.0", -1},
		{"2.0.1", "2.0.1", 0},
		{"2.0", "2.0.1", -1},
		{"2.0.1a", "2.0.1a", 0},
		{"2.0.1a", "2.0.1", 1},
		{"5.5p1", "5.5p1", 0},
		{"5.5p1", "5.5p2", -1},
		{"5.5p10", "5.5p10", 0},
		{"5.5p1", "5.5p10", -1},
		{"10xyz", "10.1xyz", -1},
		{"xyz10", "xyz10", 0},
		{"xyz10", "xyz10.1", -1},
		{"xyz.4", "xyz.4", 0},
		{"xyz.4", "8", -1},
		{"xyz.4", "2", -1},
		{"5.5p2", "5.6p1", -1},
		{"5.6p1", "6.5p1", -1},
		{"6.0.rc1", "6.0", 1},
		{"10b2", "10a1", 1},
		{"10a2", "10b2", -1},
		{"1.0aa", "1.0aa", 0},
		{"1.0a", "1.0aa", -1},
		{"10.0001", "10.0001", 0},
		{"10.0001", "10.1", 0},
		{"10.0001", "10.0039", -1},
		{"4.999.9", "5.0", -1},
		{"20101121", "20101121", 0},
		{"20101121", "20101122", -1},
		{"2_0", "2_0", 0},
		{"2.0", "2_0", 0},
		{"a", "a", 0},
		{"a+", "a+", 0},
		{"a+", "a_", 0},
		{"+a", "+a", 0},
		{"+a", "_a", 0},
		{"+_", "+_", 0},
		{"_+", "+_", 0},
		{"+", "_", 0},
		{"1.0~rc1", "1.0~rc1", 0},
		{"1.0~rc1", "1.0", -1},
		{"1.0~rc1", "1.0~rc2", -1},
		{"1.0~rc1~git123", "1.0~rc1~git123", 0},
		{"1.0~rc1~git123", "1.0~rc1", -1},
		{"1.0^", "1.0^", 0},
		{"1.0^", "1.0", 1},
		{"1.0^git1", "1.0^git1", 0},
		{"1.0^git1", "1.0", 1},
		{"1.0^git1", "1.0^git2", -1},
		{"1.0^git1", "1.01", -1},
		{"1.0^20160101", "1.0^20160101", 0},
		{"1.0^20160101", "1.0.1", -1},
		{"1.0^20160101^git1", "1.0^20160101^git1", 0},
		{"1.0^20160102", "1.0^20160101^git1", 1},
		{"1.0~rc1^git1", "1.0~rc1^git1", 0},
		{"1.0~rc1^git1", "1.0~rc1", 1},
		{"1.0^git1~pre", "1.0^git1~pre", 0},
		{"1.0^git1", "1.0^git1~pre", 1},
		// Epoch and release.
		{"1:3.0.7-27.el9", "3.0.7-27.el9", 1},
		{"0:3.0.7-27.el9", "3.0.7-27.el9", 0},
		{"1:3.0.7-27.el9", "1:3.0.7-28.el9", -1},
		{"1:3.0.7-27.el9_4", "1:3.0.7-27.el9", 1},
		{"3.0.7-27.el9", "3.0.7", 1},
		{"2.28-251.el9_2.1", "2.28-251.el9_4.4", -1},
	})
}

// TestAPK: apk-tools' rules as the Alpine package format documents them
// (pkgver "number.number...[letter][_suffix[number]]...[-rN]", suffixes
// _alpha < _beta < _pre < _rc < none < _cvs < _svn < _git < _hg < _p)
// and the cases of apk-tools' test/version.data.
func TestAPK(t *testing.T) {
	check(t, APK, []comparison{
		{"1.0", "1.0", 0},
		{"1.0", "1.1", -1},
		{"1.0", "1.0.1", -1},
		{"1.2.10", "1.2.9", 1},
		{"1.0", "1.0-r1", -1},
		{"1.0-r1", "1.0-r2", -1},
		{"1.0-r10", "1.0-r9", 1},
		{"1.0-r0", "1.0", 1},
		{"1.0a", "1.0b", -1},
		{"1.0", "1.0a", -1},
		{"1.0z", "1.0.1", -1},
		{"1.0_alpha1", "1.0_beta1", -1},
		{"1.0_beta1", "1.0_pre1", -1},
		{"1.0_pre1", "1.0_rc1", -1},
		{"1.0_rc1", "1.0", -1},
		{"1.0_rc1", "1.0_rc2", -1},
		{"1.0_rc10", "1.0_rc9", 1},
		{"1.0", "1.0_cvs1", -1},
		{"1.0_cvs1", "1.0_svn1", -1},
		{"1.0_svn1", "1.0_git1", -1},
		{"1.0_git1", "1.0_hg1", -1},
		{"1.0_hg1", "1.0_p1", -1},
		{"1.0", "1.0_p1", -1},
		{"1.0_p1", "1.0.1", -1},
		{"1.2.4_git20230717-r4", "1.2.4_git20230717-r5", -1},
		{"1.2.4_git20230717-r4", "1.2.4", 1},
		{"1.2.4_git20230717-r4", "1.2.5", -1},
		{"1.36.1-r15", "1.36.1-r29", -1},
		{"3.1.4-r5", "3.1.4-r6", -1},
		{"3.3.2-r0", "3.1.7-r0", 1},
		{"1.01", "1.1", -1},
		{"1.001", "1.01", -1},
		{"1", "1.0", -1},
		{"0.1.0", "0.1.1", -1},
		{"2.34", "0.1.0_alpha", 1},
		{"1.0_alpha_pre", "1.0_alpha", -1}, // a pre-release of the alpha
		{"99999999999999999", "9", 1},
	})
}

// versionParts generate realistic versions for each scheme.
var gens = map[Kind]func(r *rand.Rand) string{
	Dpkg: func(r *rand.Rand) string {
		var b strings.Builder
		if r.IntN(4) == 0 {
			b.WriteString(pick(r, "0:", "1:", "2:"))
		}
		b.WriteString(numbers(r))
		for range r.IntN(3) {
			b.WriteString(pick(r, "~rc1", "~", "+dfsg", "a", "+b1", "~deb12u1", ".1", "+really"))
		}
		if r.IntN(2) == 0 {
			b.WriteString("-" + numbers(r))
			b.WriteString(pick(r, "", "+deb12u1", "~bpo12+1", "ubuntu0.1", "+b2"))
		}
		return b.String()
	},
	RPM: func(r *rand.Rand) string {
		var b strings.Builder
		if r.IntN(4) == 0 {
			b.WriteString(pick(r, "0:", "1:", "2:"))
		}
		b.WriteString(numbers(r))
		for range r.IntN(3) {
			b.WriteString(pick(r, "~rc1", "^git1", "p1", "a", "_1", ".", "^", "~"))
		}
		if r.IntN(2) == 0 {
			b.WriteString("-" + numbers(r) + pick(r, "", ".el9", ".el9_4", ".fc40", ".module+el8"))
		}
		return b.String()
	},
	APK: func(r *rand.Rand) string {
		var b strings.Builder
		b.WriteString(numbers(r))
		if r.IntN(4) == 0 {
			b.WriteString(pick(r, "a", "b", "z"))
		}
		for range r.IntN(3) {
			b.WriteString(pick(r, "_alpha", "_beta", "_pre", "_rc", "_cvs", "_svn", "_git", "_hg", "_p"))
			if r.IntN(2) == 0 {
				b.WriteString(pick(r, "1", "2", "10", "20230717"))
			}
		}
		if r.IntN(2) == 0 {
			b.WriteString(pick(r, "-r0", "-r1", "-r2", "-r10"))
		}
		return b.String()
	},
}

func pick(r *rand.Rand, choices ...string) string { return choices[r.IntN(len(choices))] }

func numbers(r *rand.Rand) string {
	parts := make([]string, 1+r.IntN(3))
	for i := range parts {
		parts[i] = pick(r, "0", "1", "2", "9", "10", "01", "100")
	}
	return strings.Join(parts, ".")
}

// TestOrderProperties: on random realistic versions each Compare is an
// order: antisymmetric, reflexive and transitive (on triples).
func TestOrderProperties(t *testing.T) {
	for _, kind := range []Kind{Dpkg, RPM, APK} {
		t.Run(kind.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(kind)))
			gen := gens[kind]
			for range 20000 {
				a, b, c := gen(r), gen(r), gen(r)
				if Compare(kind, a, a) != 0 {
					t.Fatalf("Compare(%q, %q) != 0", a, a)
				}
				ab, ba := Compare(kind, a, b), Compare(kind, b, a)
				if ab != -ba {
					t.Fatalf("Compare(%q, %q) = %d but Compare(%q, %q) = %d", a, b, ab, b, a, ba)
				}
				bc, ac := Compare(kind, b, c), Compare(kind, a, c)
				if ab <= 0 && bc <= 0 && ac > 0 {
					t.Fatalf("not transitive: %q <= %q <= %q but %q > %q", a, b, c, a, c)
				}
				if ab == 0 && bc == 0 && ac != 0 {
					t.Fatalf("equality not transitive: %q = %q = %q but Compare(a, c) = %d", a, b, c, ac)
				}
			}
		})
	}
}

func fuzzCompare(f *testing.F, kind Kind, seeds ...string) {
	for i := range seeds {
		f.Add(seeds[i], seeds[(i+1)%len(seeds)])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := Compare(kind, a, b), Compare(kind, b, a)
		if ab < -1 || ab > 1 || ab != -ba {
			t.Errorf("Compare(%q, %q) = %d, reversed %d", a, b, ab, ba)
		}
		if Compare(kind, a, a) != 0 {
			t.Errorf("Compare(%q, %q) != 0", a, a)
		}
	})
}

func FuzzDpkg(f *testing.F) {
	fuzzCompare(f, Dpkg, "1:2.36-9+deb12u7", "1.0~rc1", "3.0.15-1~deb12u1", "a:b-c", "~~", ":", "-")
}

func FuzzRPM(f *testing.F) {
	fuzzCompare(f, RPM, "1:3.0.7-27.el9", "1.0^git1~pre", "10.0001", "+_", "~", "^", "x:y-z")
}

func FuzzAPK(f *testing.F) {
	fuzzCompare(f, APK, "1.2.4_git20230717-r4", "1.0_rc1", "1.01", "1.0a-r3", "_p", "-r", "a.b")
}
