package semver

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFilter(t *testing.T) {
	tests := []struct {
		in      string
		want    string // canonical String(); "" when an error is expected
		exact   bool
		wantErr string
	}{
		{in: "x.x.x", want: "x.x.x"},
		{in: "1.x.x", want: "1.x.x"},
		{in: "1.2.x", want: "1.2.x"},
		{in: "1.2.3", want: "1.2.3", exact: true},
		{in: "01.02.x", want: "1.2.x"},
		{in: "0.0.x", want: "0.0.x"},
		{in: "x.2.x", wantErr: `minor node "2" follows a wildcard`},
		{in: "1.x.8", wantErr: `patch node "8" follows a wildcard`},
		{in: "x.x.1", wantErr: "follows a wildcard"},
		{in: "X.x.x", wantErr: `major "X" is not a decimal number`},
		{in: "1.x", wantErr: "want three nodes, got 2"},
		{in: "1.0.x/3", wantErr: "not a decimal number"},
		{in: "1.0.0.x", wantErr: "got more"},
		{in: "*.x.x", wantErr: "not a decimal number"},
		{in: "1.1073741824.x", wantErr: "exceeds the maximum"},
		{in: "", wantErr: "got 1"},
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseFilter(%q) = %v, %v; want ErrInvalid containing %q", tt.in, f, err, tt.wantErr)
			}
			continue
		}
		if err != nil || f.String() != tt.want || f.IsExact() != tt.exact {
			t.Errorf("ParseFilter(%q) = %v (exact %v), %v; want %s (exact %v)", tt.in, f, f.IsExact(), err, tt.want, tt.exact)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	versions := []string{"0.0.1", "1.0.0", "1.2.0", "1.2.3", "1.3.3", "2.2.3"}
	tests := []struct {
		filter string
		want   []string
	}{
		{"x.x.x", versions},
		{"1.x.x", []string{"1.0.0", "1.2.0", "1.2.3", "1.3.3"}},
		{"1.2.x", []string{"1.2.0", "1.2.3"}},
		{"1.2.3", []string{"1.2.3"}},
		{"3.x.x", nil},
		{"0.x.x", []string{"0.0.1"}},
	}
	for _, tt := range tests {
		f := MustParseFilter(tt.filter)
		var got []string
		for _, v := range versions {
			if f.Match(MustParse(v)) {
				got = append(got, v)
			}
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%s matches %v, want %v", tt.filter, got, tt.want)
		}
	}
	var zero Filter
	if zero.String() != "x.x.x" || !zero.Match(Version{7, 8, 9}) {
		t.Errorf("zero Filter = %s, want x.x.x matching everything", zero)
	}
}

func TestExactAndPrefix(t *testing.T) {
	v := Version{1, 2, 3}
	if f := Exact(v); !f.IsExact() || f.String() != "1.2.3" {
		t.Errorf("Exact = %s", f)
	}
	if got, ok := Exact(v).Version(); !ok || got != v {
		t.Errorf("Exact(v).Version() = %v, %v", got, ok)
	}
	if _, ok := MustParseFilter("1.x.x").Version(); ok {
		t.Errorf("wildcard filter reported a version")
	}
	for fixed, want := range []string{"x.x.x", "1.x.x", "1.2.x", "1.2.3"} {
		f := Prefix(v, fixed)
		if f.String() != want || f != MustParseFilter(want) {
			t.Errorf("Prefix(%v, %d) = %s, want %s", v, fixed, f, want)
		}
	}
	if Prefix(v, 7) != Exact(v) || Prefix(v, -1) != (Filter{}) {
		t.Errorf("Prefix does not clamp")
	}
}

func TestLatest(t *testing.T) {
	type image struct {
		version string
		build   int
	}
	// The worked example from the Image Builder docs, plus builds.
	images := []image{
		{"1.7.8", 1}, {"2.2.4", 1}, {"1.6.8", 2}, {"2.2.4", 3}, {"1.6.8", 1}, {"1.7.8", 2}, {"2.2.4", 2},
	}
	key := func(i image) (Version, int) { return MustParse(i.version), i.build }
	tests := []struct {
		filter string
		want   image
		ok     bool
	}{
		{"x.x.x", image{"2.2.4", 3}, true},
		{"1.x.x", image{"1.7.8", 2}, true},
		{"1.6.x", image{"1.6.8", 2}, true},
		{"1.6.8", image{"1.6.8", 2}, true},
		{"3.x.x", image{}, false},
	}
	for _, tt := range tests {
		got, ok := Latest(MustParseFilter(tt.filter), images, key)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Latest(%s) = %v, %v; want %v, %v", tt.filter, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := Latest(Filter{}, []image(nil), key); ok {
		t.Errorf("Latest of nothing reported a result")
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"x.x.x", "1.x.x", "1.2.x", "1.2.3", "x.2.x", "1.x.8", "01.x.x", "X.x.x", "1.x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseFilter(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		again, err := ParseFilter(flt.String())
		if err != nil || again != flt {
			t.Fatalf("ParseFilter(String()) of %q = %v, %v; want %v", s, again, err, flt)
		}
		if v, ok := flt.Version(); ok && !flt.Match(v) {
			t.Fatalf("exact filter %v does not match its own version", flt)
		}
	})
}
