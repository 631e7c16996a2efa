package service

import (
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/internal/semver"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// filterFields maps the filter names a List operation accepts to the
// stored Doc member each one reads.
type filterFields map[string]store.Field

// compile turns a request's filters into store conditions. Values inside
// one filter are OR-ed and filters are AND-ed, the convention of every AWS
// List API; names and values match exactly and case-sensitively. An
// unknown filter name is InvalidRequestException naming it and the names
// the operation knows.
func (f filterFields) compile(filters []awsapi.Filter) ([]store.Cond, error) {
	var conds []store.Cond
	for _, flt := range filters {
		field, ok := f[flt.Name]
		if !ok {
			known := make([]string, 0, len(f))
			for name := range f {
				known = append(known, name)
			}
			sortStrings(known)
			return nil, invalidRequest("The filter name '%s' is not supported. Supported filter names: %s.", flt.Name, strings.Join(known, ", "))
		}
		conds = append(conds, store.Eq(field, flt.Values...))
	}
	return conds, nil
}

// visibleTo is the conditions that the resource is one account may see:
// its own, Amazon's, or one whose resource policy grants it the kind's Get
// action. The first narrows in the store (SQL) to rows owned by the
// account or Amazon or naming it in their policy; the second lets the
// policy decide (a Deny, a Resource or a Condition may still refuse).
func visibleTo(account string) []store.Cond {
	return []store.Cond{
		store.AnyOf(
			store.Eq(store.FieldAccount, account, AmazonAccount),
			store.Eq(store.FieldSharedWith, account, "*"),
		),
		{Check: func(r store.Resource) bool { return visible(r, account) }},
	}
}

// versionLike is the condition that the resource's version matches a
// version filter ("1.x.x").
func versionLike(f semver.Filter) store.Cond {
	return store.Cond{Field: store.FieldVersion, Op: store.VersionLike, Values: []string{f.String()}}
}

// imageAvailable is the condition that an image's state is AVAILABLE.
var imageAvailable = store.Eq(store.DocField("state", "status"), awsapi.ImageStatusAvailable)

// versionedWhere selects the rows of a versioned resource an account may
// see, restricted to the versions filter matches when hasVersion.
func versionedWhere(account string, filter semver.Filter, hasVersion bool) []store.Cond {
	where := visibleTo(account)
	if hasVersion {
		where = append(where, versionLike(filter))
	}
	return where
}

// latestAvailableWhere selects the AVAILABLE images an account may see
// among those an image ARN names: one build when build > 0, the versions
// filter matches when hasVersion.
func latestAvailableWhere(account string, build int, filter semver.Filter, hasVersion bool) []store.Cond {
	where := append(versionedWhere(account, filter, hasVersion), imageAvailable)
	if build > 0 {
		where = append(where, store.Eq(store.FieldBuild, strconv.Itoa(build)))
	}
	return where
}

// wildcard parses a version filter kiln itself spelled; one that does not
// parse selects every version, as the zero Filter does.
func wildcard(s string) semver.Filter {
	f, _ := semver.ParseFilter(s)
	return f
}
