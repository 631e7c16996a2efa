package service

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
)

func TestPlanLifecycle(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	daysAgo := func(d int) time.Time { return now.AddDate(0, 0, -d) }
	im := func(name, version string, build int, status string, age int, tags ...string) lifecycleImage {
		m := map[string]string{}
		for i := 0; i+1 < len(tags); i += 2 {
			m[tags[i]] = tags[i+1]
		}
		return lifecycleImage{ARN: name + "/" + version + "/" + string(rune('0'+build)), Name: name, Version: version, Build: build,
			Status: status, Type: awsapi.ImageTypeAmi, Created: daysAgo(age), Tags: m}
	}
	rule := func(action, filter string, value int32, unit string, retain int32, exclude map[string]string) awsapi.LifecyclePolicyDetail {
		d := awsapi.LifecyclePolicyDetail{
			Action: &awsapi.LifecyclePolicyDetailAction{Type: action},
			Filter: &awsapi.LifecyclePolicyDetailFilter{Type: filter, Value: ptr(value), Unit: unit},
		}
		if retain > 0 {
			d.Filter.RetainAtLeast = ptr(retain)
		}
		if exclude != nil {
			d.ExclusionRules = &awsapi.LifecyclePolicyDetailExclusionRules{TagMap: exclude}
		}
		return d
	}
	const (
		av   = awsapi.ImageStatusAvailable
		dep  = awsapi.ImageStatusDeprecated
		dis  = awsapi.ImageStatusDisabled
		fail = awsapi.ImageStatusFailed
	)
	three := []lifecycleImage{im("r", "1.0.0", 1, av, 30), im("r", "1.0.0", 2, av, 20), im("r", "1.0.0", 3, av, 10)}
	for _, tc := range []struct {
		what   string
		rules  []awsapi.LifecyclePolicyDetail
		images []lifecycleImage
		want   []string // "ACTION image"
	}{
		{"count keeps the newest", []awsapi.LifecyclePolicyDetail{rule("DELETE", "COUNT", 1, "", 0, nil)}, three,
			[]string{"DELETE r/1.0.0/2", "DELETE r/1.0.0/1"}},
		{"count per recipe version", []awsapi.LifecyclePolicyDetail{rule("DELETE", "COUNT", 1, "", 0, nil)},
			[]lifecycleImage{im("r", "1.0.0", 1, av, 30), im("r", "1.0.1", 1, av, 20), im("r", "1.0.1", 2, av, 10)},
			[]string{"DELETE r/1.0.1/1"}},
		{"failed builds take no slot", []awsapi.LifecyclePolicyDetail{rule("DELETE", "COUNT", 1, "", 0, nil)},
			[]lifecycleImage{im("r", "1.0.0", 1, av, 30), im("r", "1.0.0", 2, fail, 5)},
			[]string{"DELETE r/1.0.0/2"}},
		{"excluded by tag, and no slot", []awsapi.LifecyclePolicyDetail{rule("DELETE", "COUNT", 1, "", 0, map[string]string{"keep": "yes"})},
			[]lifecycleImage{im("r", "1.0.0", 1, av, 30), im("r", "1.0.0", 2, av, 20), im("r", "1.0.0", 3, av, 10, "keep", "yes")},
			[]string{"DELETE r/1.0.0/1"}},
		{"age", []awsapi.LifecyclePolicyDetail{rule("DEPRECATE", "AGE", 15, "DAYS", 0, nil)}, three,
			[]string{"DEPRECATE r/1.0.0/2", "DEPRECATE r/1.0.0/1"}},
		{"age in weeks", []awsapi.LifecyclePolicyDetail{rule("DELETE", "AGE", 3, "WEEKS", 0, nil)}, three,
			[]string{"DELETE r/1.0.0/1"}},
		{"age retains at least", []awsapi.LifecyclePolicyDetail{rule("DEPRECATE", "AGE", 1, "DAYS", 2, nil)}, three,
			[]string{"DEPRECATE r/1.0.0/1"}},
		{"age keeps young failures", []awsapi.LifecyclePolicyDetail{rule("DELETE", "AGE", 1, "MONTHS", 1, nil)},
			[]lifecycleImage{im("r", "1.0.0", 1, fail, 40), im("r", "1.0.0", 2, fail, 3), im("r", "1.0.0", 3, av, 50)},
			[]string{"DELETE r/1.0.0/1"}},
		{"one action per image, deprecate first", []awsapi.LifecyclePolicyDetail{
			rule("DELETE", "AGE", 1, "DAYS", 0, nil), rule("DEPRECATE", "AGE", 25, "DAYS", 0, nil)}, three,
			[]string{"DEPRECATE r/1.0.0/1", "DELETE r/1.0.0/3", "DELETE r/1.0.0/2"}},
		{"rules move images forward only", []awsapi.LifecyclePolicyDetail{
			rule("DEPRECATE", "AGE", 1, "DAYS", 0, nil), rule("DISABLE", "AGE", 1, "DAYS", 0, nil)},
			[]lifecycleImage{im("r", "1.0.0", 1, dis, 30), im("r", "1.0.0", 2, dep, 20), im("r", "1.0.0", 3, av, 10)},
			[]string{"DEPRECATE r/1.0.0/3", "DISABLE r/1.0.0/2"}},
		{"years", []awsapi.LifecyclePolicyDetail{rule("DELETE", "AGE", 1, "YEARS", 0, nil)}, three, nil},
	} {
		p := awsapi.LifecyclePolicy{ResourceType: awsapi.LifecyclePolicyResourceTypeAmiImage, PolicyDetails: tc.rules}
		var got []string
		for _, a := range planLifecycle(p, tc.images, now) {
			got = append(got, a.Action+" "+a.Image)
			if a.Reason == "" {
				t.Errorf("%s: %s has no reason", tc.what, a.Image)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: plan = %q, want %q", tc.what, got, tc.want)
		}
	}
}

func TestLifecycleSelects(t *testing.T) {
	img := lifecycleImage{Name: "web", Version: "1.2.3", Type: awsapi.ImageTypeAmi, Tags: map[string]string{"team": "a"}}
	byRecipe := func(name, version string) *awsapi.LifecyclePolicyResourceSelection {
		return &awsapi.LifecyclePolicyResourceSelection{Recipes: []awsapi.LifecyclePolicyResourceSelectionRecipe{{Name: name, SemanticVersion: version}}}
	}
	for _, tc := range []struct {
		what string
		typ  string
		sel  *awsapi.LifecyclePolicyResourceSelection
		want bool
	}{
		{"exact recipe", "AMI_IMAGE", byRecipe("web", "1.2.3"), true},
		{"wildcard", "AMI_IMAGE", byRecipe("web", "1.x.x"), true},
		{"name case", "AMI_IMAGE", byRecipe("Web", "1.2.x"), true},
		{"other version", "AMI_IMAGE", byRecipe("web", "2.x.x"), false},
		{"other recipe", "AMI_IMAGE", byRecipe("api", "x.x.x"), false},
		{"tag", "AMI_IMAGE", &awsapi.LifecyclePolicyResourceSelection{TagMap: map[string]string{"team": "a", "x": "y"}}, true},
		{"tag value", "AMI_IMAGE", &awsapi.LifecyclePolicyResourceSelection{TagMap: map[string]string{"team": "b"}}, false},
		{"container policy", "CONTAINER_IMAGE", byRecipe("web", "1.2.3"), false},
		{"no selection", "AMI_IMAGE", nil, false},
	} {
		p := awsapi.LifecyclePolicy{ResourceType: tc.typ, ResourceSelection: tc.sel}
		if got := lifecycleSelects(p, img); got != tc.want {
			t.Errorf("%s: selects = %v, want %v", tc.what, got, tc.want)
		}
	}
}

func TestAMIExcluded(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	m := ami.AMI{ImageID: "ami-1", Region: "us-east-1", Tags: map[string]string{"keep": "1"}, Launchable: []string{"111111111111"},
		LastLaunched: now.AddDate(0, 0, -3)}
	public := m
	public.Launchable = []string{"all"}
	for _, tc := range []struct {
		what string
		ex   *awsapi.LifecyclePolicyDetailExclusionRulesAmis
		a    ami.AMI
		want string
	}{
		{"no rules", nil, m, ""},
		{"region", &awsapi.LifecyclePolicyDetailExclusionRulesAmis{Regions: []string{"eu-west-1", "us-east-1"}}, m, "region us-east-1"},
		{"other region", &awsapi.LifecyclePolicyDetailExclusionRulesAmis{Regions: []string{"eu-west-1"}}, m, ""},
		{"public", &awsapi.LifecyclePolicyDetailExclusionRulesAmis{IsPublic: ptr(true)}, public, "public"},
		{"private", &awsapi.LifecyclePolicyDetailExclusionRulesAmis{IsPublic: ptr(true)}, m, ""},
		{"tag", &awsapi.LifecyclePolicyDetailExclusionRulesAmis{TagMap: map[string]string{"keep": "1"}}, m, "keep=1"},
		{"shared", &awsapi.LifecyclePolicyDetailExclusionRulesAmis{SharedAccounts: []string{"111111111111"}}, m, "111111111111"},
		{"launched lately", &awsapi.LifecyclePolicyDetailExclusionRulesAmis{LastLaunched: &awsapi.LifecyclePolicyDetailExclusionRulesAmisLastLaunched{Value: ptr(int32(1)), Unit: "WEEKS"}}, m, "launched"},
		{"launched long ago", &awsapi.LifecyclePolicyDetailExclusionRulesAmis{LastLaunched: &awsapi.LifecyclePolicyDetailExclusionRulesAmisLastLaunched{Value: ptr(int32(2)), Unit: "DAYS"}}, m, ""},
		{"region first", &awsapi.LifecyclePolicyDetailExclusionRulesAmis{Regions: []string{"us-east-1"}, TagMap: map[string]string{"keep": "1"}}, m, "region"},
	} {
		got := amiExcluded(tc.ex, tc.a, now)
		if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: excluded = %q, want %q", tc.what, got, tc.want)
		}
	}
}
