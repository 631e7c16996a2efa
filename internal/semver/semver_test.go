package semver

import (
	"errors"
	"math/big"
	"sort"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr string // substring of the error; "" means success
	}{
		{in: "1.0.0", want: Version{1, 0, 0}},
		{in: "0.0.0", want: Version{0, 0, 0}},
		{in: "2022.6.14", want: Version{2022, 6, 14}},
		{in: "1073741823.1073741823.1073741823", want: Version{MaxNode, MaxNode, MaxNode}},
		{in: "01.002.0000", want: Version{1, 2, 0}},
		{in: "0000000000000000000001.0.0", want: Version{1, 0, 0}},
		{in: "1073741824.0.0", wantErr: "major 1073741824 exceeds the maximum 1073741823"},
		{in: "0.0.99999999999999999999999", wantErr: "patch 99999999999999999999999 exceeds"},
		{in: "", wantErr: "want three nodes M.m.p, got 1"},
		{in: "1", wantErr: "got 1"},
		{in: "1.2", wantErr: "got 2"},
		{in: "1.2.3.4", wantErr: "got more"},
		{in: "1..3", wantErr: "minor is empty"},
		{in: "1.2.", wantErr: "patch is empty"},
		{in: "-1.0.0", wantErr: `major "-1" is not a decimal number`},
		{in: "+1.0.0", wantErr: "not a decimal number"},
		{in: "1.0.0 ", wantErr: "not a decimal number"},
		{in: "1.x.0", wantErr: `minor "x" is not a decimal number`},
		{in: "1.0.0-beta", wantErr: "not a decimal number"},
		{in: "1_0.0.0", wantErr: "not a decimal number"},
		{in: "١.0.0", wantErr: "not a decimal number"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q) error %v does not wrap ErrInvalid", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseErrorMessage(t *testing.T) {
	_, err := Parse("1.2")
	want := `invalid semantic version "1.2": want three nodes M.m.p, got 2`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestParseBuild(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"1", 1, true},
		{"42", 42, true},
		{"007", 7, true},
		{"1073741823", MaxNode, true},
		{"1073741824", 0, false},
		{"0", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"x", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseBuild(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseBuild(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseBuild(%q) error %v does not wrap ErrInvalid", tt.in, err)
		}
	}
}

func TestCompare(t *testing.T) {
	ordered := []string{"0.0.0", "0.0.1", "0.0.10", "0.1.0", "0.2.0", "1.0.0", "1.0.9", "1.9.9", "2.0.0", "10.0.0", "1073741823.0.0"}
	for i, a := range ordered {
		for j, b := range ordered {
			want := cmpInt(i, j)
			if got := Compare(MustParse(a), MustParse(b)); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
}

func TestSortKey(t *testing.T) {
	if got, want := SortKey(Version{1, 0, 0}, 3), "0000000001.0000000000.0000000000/0000000003"; got != want {
		t.Errorf("SortKey = %q, want %q", got, want)
	}
	if got, want := SortKey(Version{MaxNode, 0, 12}, 0), "1073741823.0000000000.0000000012/0000000000"; got != want {
		t.Errorf("SortKey = %q, want %q", got, want)
	}
	type vb struct {
		v Version
		b int
	}
	in := []vb{
		{Version{10, 0, 0}, 1}, {Version{2, 0, 0}, 1}, {Version{1, 0, 0}, 10}, {Version{1, 0, 0}, 2},
		{Version{1, 0, 0}, 0}, {Version{0, 0, MaxNode}, MaxNode}, {Version{1, 10, 0}, 1}, {Version{1, 9, 0}, 1},
	}
	byKey := append([]vb(nil), in...)
	sort.Slice(byKey, func(i, j int) bool { return SortKey(byKey[i].v, byKey[i].b) < SortKey(byKey[j].v, byKey[j].b) })
	byCmp := append([]vb(nil), in...)
	sort.Slice(byCmp, func(i, j int) bool { return CompareBuild(byCmp[i].v, byCmp[i].b, byCmp[j].v, byCmp[j].b) < 0 })
	byPacked := append([]vb(nil), in...)
	sort.Slice(byPacked, func(i, j int) bool {
		return Packed(byPacked[i].v, byPacked[i].b).Cmp(Packed(byPacked[j].v, byPacked[j].b)) < 0
	})
	for i := range in {
		if byKey[i] != byCmp[i] || byPacked[i] != byCmp[i] {
			t.Fatalf("orders differ:\nkey    %v\ncmp    %v\npacked %v", byKey, byCmp, byPacked)
		}
	}
}

func TestSortKeyPanicsOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		v Version
		b int
	}{{Version{-1, 0, 0}, 0}, {Version{0, MaxNode + 1, 0}, 0}, {Version{0, 0, 0}, -1}, {Version{0, 0, 0}, MaxNode + 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SortKey(%v, %d) did not panic", tc.v, tc.b)
				}
			}()
			SortKey(tc.v, tc.b)
		}()
	}
}

func TestPacked(t *testing.T) {
	// The example from the service's notification payload: 1.0.0/3.
	want, _ := new(big.Int).SetString("1237940039285380274899124227", 10)
	if got := Packed(Version{1, 0, 0}, 3); got.Cmp(want) != 0 {
		t.Errorf("Packed(1.0.0, 3) = %s, want %s", got, want)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1.0.0", "01.2.3", "1073741823.0.0", "1073741824.0.0", "1.2", "1.2.3.4", "", "x.x.x", "-1.0.0", "1..1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if !v.Valid() {
			t.Fatalf("Parse(%q) = %v, out of range", s, v)
		}
		again, err := Parse(v.String())
		if err != nil || again != v {
			t.Fatalf("Parse(String()) of %q = %v, %v; want %v", s, again, err, v)
		}
		f, err := ParseFilter(s)
		if err != nil || !f.IsExact() || !f.Match(v) {
			t.Fatalf("ParseFilter(%q) = %v, %v; want exact filter matching %v", s, f, err, v)
		}
	})
}
