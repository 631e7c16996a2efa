package service

import (
	"sort"

	"github.com/kiln-build/kiln/internal/semver"
)

func sortStrings(s []string) { sort.Strings(s) }

// storedVersion parses a version the store already holds; stored versions
// were validated on the way in, so a failure here means a corrupt row and
// the zero version sorts it first rather than crashing a List.
func storedVersion(s string) semver.Version {
	v, _ := semver.Parse(s)
	return v
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
