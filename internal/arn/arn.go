// Package arn parses, formats and builds Image Builder resource ARNs:
//
//	arn:{partition}:imagebuilder:{region}:{owner}:{type}/{name}[/{version}[/{build}]]
//
// An ARN is the identity of every Image Builder resource, and for versioned
// resources it also carries the version (possibly with "x" wildcards) and the
// service-assigned build number.
package arn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/internal/semver"
)

// Service is the service segment of every ARN this package handles.
const Service = "imagebuilder"

// Resource types, as they appear in the ARN's resource part. Workflow types
// include their kind, because the kind sits between "workflow" and the name.
const (
	TypeComponent                   = "component"
	TypeImage                       = "image"
	TypeImageRecipe                 = "image-recipe"
	TypeContainerRecipe             = "container-recipe"
	TypeImagePipeline               = "image-pipeline"
	TypeInfrastructureConfiguration = "infrastructure-configuration"
	TypeDistributionConfiguration   = "distribution-configuration"
	TypeLifecyclePolicy             = "lifecycle-policy"
	TypeWorkflowBuild               = "workflow/build"
	TypeWorkflowTest                = "workflow/test"
	TypeWorkflowDistribution        = "workflow/distribution"
)

// Account owners that are not account IDs.
const (
	OwnerAWS        = "aws"         // Amazon-managed resources
	OwnerThirdParty = "third-party" // Marketplace components
)

// ErrInvalid is wrapped by every parse and validation error.
var ErrInvalid = errors.New("invalid Image Builder ARN")

// versionParts says which version parts a type's ARNs may carry.
type versionParts int

const (
	versionNone  versionParts = iota // configurations, pipelines, policies
	versionOnly                      // recipes: M.m.p, no build
	versionBuild                     // components, images, workflows: M.m.p/build
)

var types = map[string]versionParts{
	TypeComponent:                   versionBuild,
	TypeImage:                       versionBuild,
	TypeImageRecipe:                 versionOnly,
	TypeContainerRecipe:             versionOnly,
	TypeImagePipeline:               versionNone,
	TypeInfrastructureConfiguration: versionNone,
	TypeDistributionConfiguration:   versionNone,
	TypeLifecyclePolicy:             versionNone,
	TypeWorkflowBuild:               versionBuild,
	TypeWorkflowTest:                versionBuild,
	TypeWorkflowDistribution:        versionBuild,
}

// KnownType reports whether t is one of the Type constants.
func KnownType(t string) bool { _, ok := types[t]; return ok }

// Versioned reports whether ARNs of type t carry a semantic version.
func Versioned(t string) bool { return types[t] >= versionOnly }

// BuildVersioned reports whether ARNs of type t carry a build number after
// the version.
func BuildVersioned(t string) bool { return types[t] == versionBuild }

// ARN is a parsed Image Builder ARN. Construct one with Parse or New; the
// zero value is not a valid ARN.
type ARN struct {
	Partition string // "aws", "aws-cn", "aws-us-gov", ...
	Region    string // "us-east-1"
	Account   string // 12 digits, "aws", "aws-<suffix>" or "third-party"
	Type      string // one of the Type constants
	Name      string // normalised name, [a-z0-9-_]+
	Version   string // "", "1.0.0", or a filter with "x" wildcards such as "1.x.x"
	Build     int    // 0 = none
}

// New returns the ARN of the resource the user called name, with name
// normalised by NormalizeName. Add a version and build with WithVersion and
// WithBuild; check the result with Validate when the parts come from input.
func New(partition, region, account, typ, name string) ARN {
	return ARN{Partition: partition, Region: region, Account: account, Type: typ, Name: NormalizeName(name)}
}

// WithVersion returns a copy of a with the given version or filter ("1.0.0",
// "1.x.x"); "" removes the version and the build.
func (a ARN) WithVersion(v string) ARN {
	a.Version = v
	if v == "" {
		a.Build = 0
	}
	return a
}

// WithBuild returns a copy of a with the given build number; 0 removes it.
func (a ARN) WithBuild(n int) ARN {
	a.Build = n
	return a
}

// NormalizeName returns name as it stands in an ARN: ASCII letters lowered,
// spaces and underscores turned into hyphens. Image Builder documents that
// names differing only in case, spaces or underscores collide, and a recipe
// named "My Example Image" gets the ARN ".../image/my-example-image"; whether
// '_' is kept or mapped is not documented (UNSURE), and we map it because only
// then do colliding names share one ARN. Only ASCII is folded, so that no
// non-ASCII character (such as the Kelvin sign, which Unicode lowercases to
// 'k') can turn an invalid name into a valid one. Other characters are left
// alone for Validate to reject.
func NormalizeName(name string) string {
	i := strings.IndexFunc(name, func(r rune) bool { return ('A' <= r && r <= 'Z') || r == ' ' || r == '_' })
	if i < 0 {
		return name
	}
	b := []byte(name)
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case 'A' <= c && c <= 'Z':
			b[i] = c + ('a' - 'A')
		case c == ' ' || c == '_':
			b[i] = '-'
		}
	}
	return string(b)
}

// Parse parses an Image Builder ARN strictly: known partition form, service
// "imagebuilder", a region name, an owner, a known resource type, a
// normalised name, and only the version parts the type carries (a version
// that is a valid filter; a build only after an exact version). A version is
// stored canonically ("01.0.0" becomes "1.0.0"). Errors say what is wrong.
func Parse(s string) (ARN, error) {
	fields := strings.SplitN(s, ":", 6)
	if len(fields) != 6 || fields[0] != "arn" {
		return ARN{}, invalidf(s, "want arn:partition:imagebuilder:region:owner:type/name")
	}
	if fields[2] != Service {
		return ARN{}, invalidf(s, "service is %q, want %q", fields[2], Service)
	}
	a := ARN{Partition: fields[1], Region: fields[3], Account: fields[4]}

	res := fields[5]
	typ, rest, _ := strings.Cut(res, "/")
	if typ == "workflow" {
		var kind string
		kind, rest, _ = strings.Cut(rest, "/")
		typ += "/" + kind
	}
	a.Type = typ
	if !KnownType(typ) {
		return ARN{}, invalidf(s, "unknown resource type %q", typ)
	}
	name, rest, hasVersion := strings.Cut(rest, "/")
	a.Name = name
	if hasVersion {
		version, build, hasBuild := strings.Cut(rest, "/")
		if !Versioned(typ) {
			return ARN{}, invalidf(s, "%s ARNs carry no version", typ)
		}
		f, err := semver.ParseFilter(version)
		if err != nil {
			return ARN{}, invalidf(s, "version: %v", unwrapInvalid(err))
		}
		a.Version = f.String()
		if hasBuild {
			if !BuildVersioned(typ) {
				return ARN{}, invalidf(s, "%s ARNs carry no build number", typ)
			}
			if !f.IsExact() {
				return ARN{}, invalidf(s, "a build number cannot follow the wildcard version %s", a.Version)
			}
			n, err := semver.ParseBuild(build)
			if err != nil {
				return ARN{}, invalidf(s, "%v", unwrapInvalid(err))
			}
			a.Build = n
		}
	}
	if err := a.validate(); err != nil {
		return ARN{}, invalidf(s, "%s", err)
	}
	return a, nil
}

// MustParse is Parse for constants in code and tests; it panics on error.
func MustParse(s string) ARN {
	a, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return a
}

// Validate reports whether a (typically built with New) is an ARN Parse
// would accept, with the version in canonical form.
func (a ARN) Validate() error {
	if err := a.validate(); err != nil {
		return invalidf(a.String(), "%s", err)
	}
	if !KnownType(a.Type) {
		return invalidf(a.String(), "unknown resource type %q", a.Type)
	}
	if a.Version != "" {
		if !Versioned(a.Type) {
			return invalidf(a.String(), "%s ARNs carry no version", a.Type)
		}
		f, err := semver.ParseFilter(a.Version)
		if err != nil {
			return invalidf(a.String(), "version: %v", unwrapInvalid(err))
		}
		if f.String() != a.Version {
			return invalidf(a.String(), "version %q is not canonical, want %q", a.Version, f.String())
		}
		if a.Build != 0 && !f.IsExact() {
			return invalidf(a.String(), "a build number cannot follow the wildcard version %s", a.Version)
		}
	}
	if a.Build != 0 {
		switch {
		case !BuildVersioned(a.Type):
			return invalidf(a.String(), "%s ARNs carry no build number", a.Type)
		case a.Version == "":
			return invalidf(a.String(), "a build number needs a version")
		case a.Build < 1 || a.Build > semver.MaxNode:
			return invalidf(a.String(), "build number %d is out of range 1..%d", a.Build, semver.MaxNode)
		}
	}
	return nil
}

// validate checks the parts Parse does not check while splitting.
func (a ARN) validate() error {
	switch {
	case !ValidPartition(a.Partition):
		return fmt.Errorf("partition %q is not aws or aws-<suffix>", a.Partition)
	case !ValidRegion(a.Region):
		return fmt.Errorf("region %q is not a region name such as us-east-1", a.Region)
	case !ValidOwner(a.Account):
		return fmt.Errorf("owner %q is not a 12-digit account ID, aws, aws-<suffix> or third-party", a.Account)
	case a.Name == "":
		return errors.New("name is empty")
	case !validName(a.Name):
		return fmt.Errorf("name %q may contain only a-z, 0-9, '-' and '_'", a.Name)
	}
	return nil
}

// ValidPartition reports whether p has the partition form aws(-[a-z]+)*,
// e.g. "aws", "aws-cn", "aws-us-gov", "aws-iso-b".
func ValidPartition(p string) bool {
	rest, ok := strings.CutPrefix(p, "aws")
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	rest, ok = strings.CutPrefix(rest, "-")
	if !ok {
		return false
	}
	for _, w := range strings.Split(rest, "-") {
		if !lowerWord(w) {
			return false
		}
	}
	return true
}

// ValidRegion reports whether r is shaped like a region name:
// [a-z]{2,}(-[a-z]+)+-[0-9]+, e.g. "us-east-1", "us-gov-west-1",
// "us-isob-east-1". It is the service's strict region pattern; a server
// impersonating a region should check its configured name with it, since every
// ARN it mints carries that name.
func ValidRegion(r string) bool {
	words := strings.Split(r, "-")
	if len(words) < 3 || len(words[0]) < 2 {
		return false
	}
	for _, w := range words[:len(words)-1] {
		if !lowerWord(w) {
			return false
		}
	}
	last := words[len(words)-1]
	if last == "" {
		return false
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return false
		}
	}
	return true
}

// ValidOwner reports whether o is an ARN owner: a 12-digit account ID, "aws",
// "aws-<suffix>" with suffix in [a-z-]+, or "third-party".
func ValidOwner(o string) bool {
	if ValidAccountID(o) || o == OwnerAWS || o == OwnerThirdParty {
		return true
	}
	suffix, ok := strings.CutPrefix(o, "aws-")
	if !ok || suffix == "" {
		return false
	}
	for i := 0; i < len(suffix); i++ {
		if c := suffix[i]; (c < 'a' || c > 'z') && c != '-' {
			return false
		}
	}
	return true
}

// ValidAccountID reports whether s is a 12-digit account ID.
func ValidAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func lowerWord(w string) bool {
	if w == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return true
}

func validName(n string) bool {
	for i := 0; i < len(n); i++ {
		switch c := n[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

func invalidf(s, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalid, s, fmt.Sprintf(format, args...))
}

// unwrapInvalid drops semver's "invalid semantic version" prefix, which would
// only repeat what the ARN error already says.
func unwrapInvalid(err error) string {
	msg := err.Error()
	prefix := semver.ErrInvalid.Error()
	if rest, ok := strings.CutPrefix(msg, prefix); ok {
		return strings.TrimPrefix(strings.TrimPrefix(rest, ":"), " ")
	}
	return msg
}

// String formats the ARN. It does not validate; see Validate.
func (a ARN) String() string {
	var b strings.Builder
	b.Grow(32 + len(a.Partition) + len(a.Region) + len(a.Account) + len(a.Type) + len(a.Name) + len(a.Version))
	b.WriteString("arn:")
	b.WriteString(a.Partition)
	b.WriteString(":" + Service + ":")
	b.WriteString(a.Region)
	b.WriteByte(':')
	b.WriteString(a.Account)
	b.WriteByte(':')
	b.WriteString(a.Type)
	b.WriteByte('/')
	b.WriteString(a.Name)
	if a.Version != "" {
		b.WriteByte('/')
		b.WriteString(a.Version)
		if a.Build != 0 {
			b.WriteByte('/')
			b.WriteString(strconv.Itoa(a.Build))
		}
	}
	return b.String()
}

// Filter returns the ARN's version as a filter; ok is false when the ARN has
// no version or (for an ARN not made by Parse) an invalid one.
func (a ARN) Filter() (f semver.Filter, ok bool) {
	if a.Version == "" {
		return semver.Filter{}, false
	}
	f, err := semver.ParseFilter(a.Version)
	return f, err == nil
}

// SemanticVersion returns the ARN's version when it is exact (no wildcards).
func (a ARN) SemanticVersion() (v semver.Version, ok bool) {
	f, ok := a.Filter()
	if !ok {
		return semver.Version{}, false
	}
	return f.Version()
}

// IsWildcard reports whether the ARN's version has "x" nodes.
func (a ARN) IsWildcard() bool {
	f, ok := a.Filter()
	return ok && !f.IsExact()
}
