// Package yamlmap walks the mappings of a YAML document the way kiln's
// document parsers (AWSTOE components in internal/toe, Image Builder
// workflows in internal/workflow) check them: keys must be strings,
// appear once, and come from the set the schema allows. Both parsers
// report problems with line and column, and keep going, so the walker
// reports through a callback instead of stopping at the first error.
package yamlmap

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Walker reports the problems it finds through Errorf.
type Walker struct {
	Errorf func(n *yaml.Node, format string, args ...any)
	// Deref, when set, resolves aliases of keys and values before they
	// are checked and handed to the callback.
	Deref bool
	// Visit, when set, is called for every key; the walk stops when it
	// returns false (a parser's size budget against alias bombs).
	Visit func(n *yaml.Node) bool
}

// Pairs calls fn with each key/value pair of the mapping m, in document
// order. A key that is not a string, a repeated key, or one not in
// allowed (nil allows any) is reported, naming what the mapping is, and
// skipped.
func (w Walker) Pairs(m *yaml.Node, what string, allowed []string, fn func(key string, k, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if w.Deref {
			k, v = Deref(k), Deref(v)
		}
		if w.Visit != nil && !w.Visit(k) {
			return
		}
		if k.Kind != yaml.ScalarNode {
			w.Errorf(k, "%s: keys must be strings", what)
			continue
		}
		if seen[k.Value] {
			w.Errorf(k, "%s: duplicate key %q", what, k.Value)
			continue
		}
		seen[k.Value] = true
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			w.Errorf(k, "%s: unknown key %q (allowed: %s)", what, k.Value, strings.Join(allowed, ", "))
			continue
		}
		fn(k.Value, k, v)
	}
}

// Deref follows an alias to the node it names.
func Deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}
