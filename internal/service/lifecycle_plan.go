package service

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/semver"
	"github.com/kiln-build/kiln/internal/store"
)

// lifecycleImage is an image build as the lifecycle rules see it.
type lifecycleImage struct {
	ARN     string
	Name    string // normalised, as in the ARN
	Version string
	Build   int
	Status  string
	Type    string // AMI or DOCKER
	Created time.Time
	Tags    map[string]string
}

func lifecycleImageOf(r store.Resource, img awsapi.Image) lifecycleImage {
	return lifecycleImage{
		ARN: r.ARN, Name: r.Name, Version: r.Version, Build: r.Build, Status: imageStatus(img),
		Type: img.Type, Created: r.Created, Tags: r.Tags,
	}
}

// lifecycleAction is what one lifecycle execution does to one image: its
// new state (the LifecycleExecutionResourceActionName), which of its
// resources go with it and which AMIs are spared.
type lifecycleAction struct {
	Image   string `json:"image"`
	Action  string `json:"action"`
	Reason  string `json:"reason"`
	Include struct {
		Amis       bool `json:"amis,omitempty"`
		Snapshots  bool `json:"snapshots,omitempty"`
		Containers bool `json:"containers,omitempty"`
	} `json:"include"`
	AMIExclusions *awsapi.LifecyclePolicyDetailExclusionRulesAmis `json:"amiExclusions,omitempty"`
}

// lifecycleTarget is the image status each action leaves behind.
var lifecycleTarget = map[string]string{
	awsapi.LifecycleExecutionResourceActionNameAvailable: awsapi.ImageStatusAvailable,
	awsapi.LifecycleExecutionResourceActionNameDeprecate: awsapi.ImageStatusDeprecated,
	awsapi.LifecycleExecutionResourceActionNameDisable:   awsapi.ImageStatusDisabled,
	awsapi.LifecycleExecutionResourceActionNameDelete:    awsapi.ImageStatusDeleted,
}

// lifecycleEligible is which image statuses a policy rule acts on: a rule
// only moves an image forward (AVAILABLE → DEPRECATED → DISABLED →
// DELETED), and failed or cancelled builds can only be deleted.
var lifecycleEligible = map[string][]string{
	awsapi.LifecyclePolicyDetailActionTypeDeprecate: {awsapi.ImageStatusAvailable},
	awsapi.LifecyclePolicyDetailActionTypeDisable:   {awsapi.ImageStatusAvailable, awsapi.ImageStatusDeprecated},
	awsapi.LifecyclePolicyDetailActionTypeDelete: {awsapi.ImageStatusAvailable, awsapi.ImageStatusDeprecated,
		awsapi.ImageStatusDisabled, awsapi.ImageStatusFailed, awsapi.ImageStatusCancelled},
}

// lifecycleRuleOrder is the order rules are evaluated in, whatever order
// the policy lists them: an image gets at most one action per run, so a
// deprecated image is disabled or deleted on a later run.
var lifecycleRuleOrder = []string{
	awsapi.LifecyclePolicyDetailActionTypeDeprecate,
	awsapi.LifecyclePolicyDetailActionTypeDisable,
	awsapi.LifecyclePolicyDetailActionTypeDelete,
}

// lifecycleSelects reports whether a policy's resource selection and
// resource type take the image: a recipe by name with the version
// pattern, or any one of the tags.
func lifecycleSelects(p awsapi.LifecyclePolicy, im lifecycleImage) bool {
	wantType := awsapi.ImageTypeAmi
	if p.ResourceType == awsapi.LifecyclePolicyResourceTypeContainerImage {
		wantType = awsapi.ImageTypeDocker
	}
	if im.Type != wantType || p.ResourceSelection == nil {
		return false
	}
	for _, r := range p.ResourceSelection.Recipes {
		f, err := semver.ParseFilter(r.SemanticVersion)
		if err != nil || arn.NormalizeName(r.Name) != im.Name {
			continue
		}
		if v, err := semver.Parse(im.Version); err == nil && f.Match(v) {
			return true
		}
	}
	return anyTag(p.ResourceSelection.TagMap, im.Tags)
}

// anyTag reports whether tags has at least one of the key/value pairs of
// want.
func anyTag(want, tags map[string]string) bool {
	for k, v := range want {
		if got, ok := tags[k]; ok && got == v {
			return true
		}
	}
	return false
}

// lifecycleAge is the time a filter of value×unit reaches back from now.
func lifecycleAge(now time.Time, value int, unit string) time.Time {
	switch unit {
	case awsapi.LifecyclePolicyTimeUnitWeeks:
		return now.AddDate(0, 0, -7*value)
	case awsapi.LifecyclePolicyTimeUnitMonths:
		return now.AddDate(0, -value, 0)
	case awsapi.LifecyclePolicyTimeUnitYears:
		return now.AddDate(-value, 0, 0)
	}
	return now.AddDate(0, 0, -value)
}

// planLifecycle decides what one run of a policy does to the images it
// selected (all of them the policy's account's, none DELETED or still
// building). Rules are applied DEPRECATE, DISABLE, DELETE, each to the
// images no earlier rule acted on:
//
//   - images carrying one of the rule's exclusion tags are left out, and
//     take no retention slot;
//   - retention is counted per recipe version, newest first: COUNT keeps
//     the newest `value` builds, an AGE filter's retainAtLeast the newest
//     that many; failed and cancelled builds never take a slot;
//   - AGE acts on what is older than value×unit; COUNT on the rest.
func planLifecycle(p awsapi.LifecyclePolicy, images []lifecycleImage, now time.Time) []lifecycleAction {
	acted := map[string]bool{}
	var out []lifecycleAction
	for _, typ := range lifecycleRuleOrder {
		i := slices.IndexFunc(p.PolicyDetails, func(d awsapi.LifecyclePolicyDetail) bool {
			return d.Action != nil && d.Action.Type == typ && d.Filter != nil
		})
		if i < 0 {
			continue
		}
		rule := p.PolicyDetails[i]
		groups := map[string][]lifecycleImage{}
		for _, im := range images {
			if acted[im.ARN] || !slices.Contains(lifecycleEligible[typ], im.Status) {
				continue
			}
			if rule.ExclusionRules != nil && anyTag(rule.ExclusionRules.TagMap, im.Tags) {
				continue
			}
			key := im.Name + "/" + im.Version
			groups[key] = append(groups[key], im)
		}
		keys := make([]string, 0, len(groups))
		for k := range groups {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		value := int(deref(rule.Filter.Value))
		for _, k := range keys {
			group := groups[k]
			slices.SortFunc(group, func(a, b lifecycleImage) int { // newest first
				if c := b.Created.Compare(a.Created); c != 0 {
					return c
				}
				return cmp.Compare(b.Build, a.Build)
			})
			keep := value
			if rule.Filter.Type == awsapi.LifecyclePolicyDetailFilterTypeAge {
				keep = int(deref(rule.Filter.RetainAtLeast))
			}
			cutoff := lifecycleAge(now, value, rule.Filter.Unit)
			kept := 0
			for _, im := range group {
				failed := im.Status == awsapi.ImageStatusFailed || im.Status == awsapi.ImageStatusCancelled
				if !failed && kept < keep {
					kept++
					continue
				}
				var reason string
				if rule.Filter.Type == awsapi.LifecyclePolicyDetailFilterTypeAge {
					if im.Created.After(cutoff) {
						continue
					}
					reason = fmt.Sprintf("policyDetails[%d]: created %s, more than %d %s ago", i, formatDateTime(im.Created), value, rule.Filter.Unit)
				} else if failed {
					reason = fmt.Sprintf("policyDetails[%d]: a %s build takes no place among the %d kept", i, im.Status, value)
				} else {
					reason = fmt.Sprintf("policyDetails[%d]: not among the %d newest builds of %s", i, value, k)
				}
				a := lifecycleAction{Image: im.ARN, Action: typ, Reason: reason}
				if inc := rule.Action.IncludeResources; inc != nil {
					a.Include.Amis, a.Include.Snapshots, a.Include.Containers = deref(inc.Amis), deref(inc.Snapshots), deref(inc.Containers)
				}
				if rule.ExclusionRules != nil {
					a.AMIExclusions = rule.ExclusionRules.Amis
				}
				acted[im.ARN] = true
				out = append(out, a)
			}
		}
	}
	return out
}

// amiExcluded says why an AMI is spared by a rule's AMI exclusion rules
// ("" when it is not), checking them in the documented order, first
// match wins: region, public, AMI tag, shared account, last launched.
func amiExcluded(ex *awsapi.LifecyclePolicyDetailExclusionRulesAmis, a ami.AMI, now time.Time) string {
	if ex == nil {
		return ""
	}
	if slices.Contains(ex.Regions, a.Region) {
		return fmt.Sprintf("excluded: the AMI is in region %s", a.Region)
	}
	if deref(ex.IsPublic) && a.Public() {
		return "excluded: the AMI is public"
	}
	for k, v := range ex.TagMap {
		if got, ok := a.Tags[k]; ok && got == v {
			return fmt.Sprintf("excluded: the AMI has the tag %s=%s", k, v)
		}
	}
	for _, acct := range ex.SharedAccounts {
		if slices.Contains(a.Launchable, acct) {
			return fmt.Sprintf("excluded: the AMI is shared with account %s", acct)
		}
	}
	if ll := ex.LastLaunched; ll != nil && !a.LastLaunched.IsZero() {
		if a.LastLaunched.After(lifecycleAge(now, int(deref(ll.Value)), ll.Unit)) {
			return fmt.Sprintf("excluded: the AMI was launched %s, within the last %d %s", formatDateTime(a.LastLaunched), deref(ll.Value), ll.Unit)
		}
	}
	return ""
}
