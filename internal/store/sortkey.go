package store

import (
	"fmt"
	"strconv"
	"strings"
)

// SortKey encodes (version, build) as a string whose byte order is the
// semantic order the List contract asks for: versions compare field by field
// numerically (1.9.0 < 1.10.0), then builds numerically (2 < 10). Each field
// is zero-padded to ten digits, which covers Image Builder's limit of 2^30-1
// per field. The version "" (unversioned kinds) sorts before every version
// because '/' sorts before '0'. A version that is not three numeric fields —
// which the service never stores — sorts after all well-formed ones, in byte
// order, so the key is still total and deterministic.
//
// Both backends store this key in an indexed column, so it is part of their
// on-disk format: changing it needs a migration of both. It is kept here,
// apart from internal/semver, so that the stored order cannot change when
// that package does.
func SortKey(version string, build int) string {
	return versionKey(version) + fmt.Sprintf("/%010d", max(build, 0))
}

func versionKey(version string) string {
	if version == "" {
		return ""
	}
	fields := strings.Split(version, ".")
	if len(fields) != 3 {
		return "~" + version
	}
	var b strings.Builder
	for i, f := range fields {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil || len(f) == 0 || f[0] == '+' || n > 9_999_999_999 {
			return "~" + version
		}
		if i > 0 {
			b.WriteByte('.')
		}
		fmt.Fprintf(&b, "%010d", n)
	}
	return b.String()
}

// ARNPosition recovers the List position (name, sort key) an Image Builder
// ARN of the given kind names, without the row it names:
//
//	arn:PARTITION:imagebuilder:REGION:ACCOUNT:KIND/NAME[/VERSION[/BUILD]]
//
// It lets a pagination cursor outlive the resource it points at: when the
// last resource of a page is deleted before the next page is asked for, the
// walk continues from where that resource stood.
func ARNPosition(arn, kind string) (name, key string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "imagebuilder" || kind == "" {
		return "", "", false
	}
	rest, found := strings.CutPrefix(parts[5], kind+"/")
	if !found || rest == "" {
		return "", "", false
	}
	fields := strings.Split(rest, "/")
	if len(fields) > 3 || fields[0] == "" {
		return "", "", false
	}
	version, build := "", 0
	if len(fields) >= 2 {
		version = fields[1]
		if version == "" {
			return "", "", false
		}
	}
	if len(fields) == 3 {
		n, err := strconv.Atoi(fields[2])
		if err != nil || n < 0 {
			return "", "", false
		}
		build = n
	}
	return fields[0], SortKey(version, build), true
}
