package store

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
)

func TestSortKey(t *testing.T) {
	ordered := []struct {
		version string
		build   int
	}{
		{"", 0},
		{"", 1},
		{"0.0.0", 0},
		{"0.0.1", 1},
		{"0.0.1", 2},
		{"0.0.1", 10},
		{"0.0.2", 1},
		{"0.1.0", 1},
		{"1.2.3", 1},
		{"1.9.0", 1},
		{"1.10.0", 1},
		{"9.0.0", 1},
		{"10.0.0", 1},
		{"1073741823.1073741823.1073741823", 1073741823},
		{"1.0", 0},   // malformed: after all well-formed versions
		{"x.y.z", 0}, // malformed
	}
	var keys []string
	for _, o := range ordered {
		keys = append(keys, SortKey(o.version, o.build))
	}
	if !slices.IsSorted(keys) {
		t.Errorf("keys out of order: %q", keys)
	}
	if len(slices.Compact(slices.Clone(keys))) != len(keys) {
		t.Errorf("duplicate keys: %q", keys)
	}
}

func TestARNPosition(t *testing.T) {
	tests := []struct {
		arn, kind string
		name      string
		key       string
		ok        bool
	}{
		{"arn:aws:imagebuilder:us-east-1:111111111111:component/hello/1.2.3/4", "component", "hello", SortKey("1.2.3", 4), true},
		{"arn:aws:imagebuilder:us-east-1:aws:image-recipe/r/1.0.0", "image-recipe", "r", SortKey("1.0.0", 0), true},
		{"arn:aws-cn:imagebuilder:cn-north-1:111111111111:image-pipeline/p", "image-pipeline", "p", SortKey("", 0), true},
		{"arn:aws:imagebuilder:us-east-1:111111111111:workflow/build/w/1.0.0/2", "workflow/build", "w", SortKey("1.0.0", 2), true},
		{"arn:aws:imagebuilder:us-east-1:111111111111:component/hello/1.2.3/4", "image", "", "", false},
		{"arn:aws:imagebuilder:us-east-1:111111111111:component/", "component", "", "", false},
		{"arn:aws:imagebuilder:us-east-1:111111111111:component/a/1.0.0/x", "component", "", "", false},
		{"arn:aws:imagebuilder:us-east-1:111111111111:component/a//1", "component", "", "", false},
		{"arn:aws:imagebuilder:us-east-1:111111111111:component/a/1.0.0/1/2", "component", "", "", false},
		{"arn:aws:s3:::bucket/key", "component", "", "", false},
		{"not-an-arn", "component", "", "", false},
		{"", "component", "", "", false},
	}
	for _, tt := range tests {
		name, key, ok := ARNPosition(tt.arn, tt.kind)
		if name != tt.name || key != tt.key || ok != tt.ok {
			t.Errorf("ARNPosition(%q, %q) = %q, %q, %v; want %q, %q, %v", tt.arn, tt.kind, name, key, ok, tt.name, tt.key, tt.ok)
		}
	}
}

// FuzzARNPosition checks that any cursor string is handled without panic
// and that a position is only recovered from a well-formed ARN of the kind.
func FuzzARNPosition(f *testing.F) {
	f.Add("arn:aws:imagebuilder:us-east-1:111111111111:component/hello/1.2.3/4", "component")
	f.Add("arn:aws:imagebuilder:us-east-1:aws:workflow/test/w/1.0.0/1", "workflow/test")
	f.Add("arn:aws:imagebuilder:r:a:image-pipeline/p", "image-pipeline")
	f.Add("arn:::::", "")
	f.Add("arn:aws:imagebuilder:us-east-1:111111111111:component/a/1.0.0/-1", "component")
	f.Fuzz(func(t *testing.T, arn, kind string) {
		name, key, ok := ARNPosition(arn, kind)
		if !ok {
			return
		}
		if name == "" || key == "" {
			t.Fatalf("ARNPosition(%q, %q) ok with name %q key %q", arn, kind, name, key)
		}
		for _, v := range []string{"", "0.0.0", "99.99.99"} {
			_ = SortKey(v, 0)
		}
	})
}

// FuzzSortKey checks that SortKey orders well-formed versions as their
// numbers do.
func FuzzSortKey(f *testing.F) {
	f.Add(uint32(1), uint32(9), uint32(0), uint32(1), uint32(10), uint32(0), 2, 10)
	f.Fuzz(func(t *testing.T, a1, a2, a3, b1, b2, b3 uint32, ab, bb int) {
		const limit = 1<<30 - 1
		a := [3]uint32{a1 & limit, a2 & limit, a3 & limit}
		b := [3]uint32{b1 & limit, b2 & limit, b3 & limit}
		ab, bb = max(ab&limit, 0), max(bb&limit, 0)
		ka := SortKey(fmt.Sprintf("%d.%d.%d", a[0], a[1], a[2]), ab)
		kb := SortKey(fmt.Sprintf("%d.%d.%d", b[0], b[1], b[2]), bb)
		want := slices.Compare(a[:], b[:])
		if want == 0 {
			want = cmp.Compare(ab, bb)
		}
		if got := cmp.Compare(ka, kb); got != want {
			t.Fatalf("SortKey order %d, numeric order %d: %q vs %q", got, want, ka, kb)
		}
	})
}
