package service

import (
	"strings"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// filterFields maps the filter names a List operation accepts to the
// values an item offers for them.
type filterFields[T any] map[string]func(T) []string

// compile turns a request's filters into a predicate. Values inside one
// filter are OR-ed and filters are AND-ed, the convention of every AWS
// List API; names and values match exactly and case-sensitively. An
// unknown filter name is InvalidRequestException naming it and the names
// the operation knows.
func (f filterFields[T]) compile(filters []awsapi.Filter) (func(T) bool, error) {
	type check struct {
		get    func(T) []string
		values map[string]bool
	}
	var checks []check
	for _, flt := range filters {
		get, ok := f[flt.Name]
		if !ok {
			known := make([]string, 0, len(f))
			for name := range f {
				known = append(known, name)
			}
			sortStrings(known)
			return nil, invalidRequest("The filter name '%s' is not supported. Supported filter names: %s.", flt.Name, strings.Join(known, ", "))
		}
		values := map[string]bool{}
		for _, v := range flt.Values {
			values[v] = true
		}
		checks = append(checks, check{get, values})
	}
	return func(item T) bool {
		for _, c := range checks {
			hit := false
			for _, v := range c.get(item) {
				if c.values[v] {
					hit = true
					break
				}
			}
			if !hit {
				return false
			}
		}
		return true
	}, nil
}

func one(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// matchDecoded is a store.Query Match that decodes each row and applies a
// compiled List filter to it; a row that does not decode never matches.
func matchDecoded[T any](decode func(store.Resource) (T, error), match func(T) bool) func(store.Resource) bool {
	return func(r store.Resource) bool {
		item, err := decode(r)
		return err == nil && match(item)
	}
}
