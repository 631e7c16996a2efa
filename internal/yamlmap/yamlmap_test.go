package yamlmap

import (
	"fmt"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestPairs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     string
		allowed []string
		deref   bool
		budget  int // 0: no budget
		want    []string
		errs    []string
	}{
		{name: "Ordered", src: "b: 1\na: 2\n", want: []string{"b=1", "a=2"}},
		{name: "Duplicate", src: "a: 1\na: 2\n", want: []string{"a=1"}, errs: []string{`2:1 m: duplicate key "a"`}},
		{name: "NotString", src: "[x]: 1\na: 2\n", want: []string{"a=2"}, errs: []string{"1:1 m: keys must be strings"}},
		{name: "Unknown", src: "a: 1\nz: 2\n", allowed: []string{"a", "b"}, want: []string{"a=1"}, errs: []string{`2:1 m: unknown key "z" (allowed: a, b)`}},
		{name: "AliasKept", src: "x: &v 1\ny: *v\n", want: []string{"x=1", "y=v"}},
		{name: "AliasResolved", src: "x: &v 1\ny: *v\n", deref: true, want: []string{"x=1", "y=1"}},
		{name: "Budget", src: "a: 1\nb: 2\nc: 3\n", budget: 2, want: []string{"a=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tt.src), &doc); err != nil {
				t.Fatal(err)
			}
			var got, errs []string
			w := Walker{
				Errorf: func(n *yaml.Node, format string, args ...any) {
					errs = append(errs, fmt.Sprintf("%d:%d ", n.Line, n.Column)+fmt.Sprintf(format, args...))
				},
				Deref: tt.deref,
			}
			if tt.budget > 0 {
				left := tt.budget
				w.Visit = func(*yaml.Node) bool { left--; return left > 0 }
			}
			w.Pairs(doc.Content[0], "m", tt.allowed, func(key string, k, v *yaml.Node) {
				got = append(got, key+"="+v.Value) // an unresolved alias shows its anchor's name
			})
			if !slices.Equal(got, tt.want) {
				t.Errorf("pairs = %q, want %q", got, tt.want)
			}
			if !slices.Equal(errs, tt.errs) {
				t.Errorf("errors = %q, want %q", errs, tt.errs)
			}
		})
	}
}
