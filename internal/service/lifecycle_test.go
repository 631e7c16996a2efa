package service

import (
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
)

func TestCheckLifecyclePolicy(t *testing.T) {
	recipes := &awsapi.LifecyclePolicyResourceSelection{Recipes: []awsapi.LifecyclePolicyResourceSelectionRecipe{{Name: "r", SemanticVersion: "1.x.x"}}}
	rule := func(action, filter string, value int32, unit string) awsapi.LifecyclePolicyDetail {
		return awsapi.LifecyclePolicyDetail{
			Action: &awsapi.LifecyclePolicyDetailAction{Type: action},
			Filter: &awsapi.LifecyclePolicyDetailFilter{Type: filter, Value: ptr(value), Unit: unit},
		}
	}
	ageDelete := rule("DELETE", "AGE", 30, "DAYS")
	withInclude := func(d awsapi.LifecyclePolicyDetail, inc awsapi.LifecyclePolicyDetailActionIncludeResources) awsapi.LifecyclePolicyDetail {
		a := *d.Action
		a.IncludeResources = &inc
		d.Action = &a
		return d
	}
	countRetain := rule("DELETE", "COUNT", 5, "")
	countRetain.Filter.RetainAtLeast = ptr(int32(2))
	amiExcl := ageDelete
	amiExcl.ExclusionRules = &awsapi.LifecyclePolicyDetailExclusionRules{Amis: &awsapi.LifecyclePolicyDetailExclusionRulesAmis{Regions: []string{"us-west-2"}}}
	badRegion := ageDelete
	badRegion.ExclusionRules = &awsapi.LifecyclePolicyDetailExclusionRules{Amis: &awsapi.LifecyclePolicyDetailExclusionRulesAmis{Regions: []string{"nowhere"}}}

	for _, tc := range []struct {
		what    string
		typ     string
		details []awsapi.LifecyclePolicyDetail
		sel     *awsapi.LifecyclePolicyResourceSelection
		code    string
		member  string
	}{
		{"all three AMI rules", "AMI_IMAGE", []awsapi.LifecyclePolicyDetail{rule("DEPRECATE", "AGE", 1, "WEEKS"), rule("DISABLE", "AGE", 2, "MONTHS"), rule("DELETE", "COUNT", 10, "")}, recipes, "", ""},
		{"tag selection", "AMI_IMAGE", []awsapi.LifecyclePolicyDetail{ageDelete}, &awsapi.LifecyclePolicyResourceSelection{TagMap: map[string]string{"k": "v"}}, "", ""},
		{"neither selection", "AMI_IMAGE", []awsapi.LifecyclePolicyDetail{ageDelete}, &awsapi.LifecyclePolicyResourceSelection{}, "InvalidRequestException", "resourceSelection"},
		{"both selections", "AMI_IMAGE", []awsapi.LifecyclePolicyDetail{ageDelete}, &awsapi.LifecyclePolicyResourceSelection{Recipes: recipes.Recipes, TagMap: map[string]string{"k": "v"}}, "InvalidRequestException", "resourceSelection"},
		{"bad wildcard", "AMI_IMAGE", []awsapi.LifecyclePolicyDetail{ageDelete}, &awsapi.LifecyclePolicyResourceSelection{Recipes: []awsapi.LifecyclePolicyResourceSelectionRecipe{{Name: "r", SemanticVersion: "x.1.0"}}}, "InvalidParameterValueException", "recipes[0].semanticVersion"},
		{"duplicate recipe", "AMI_IMAGE", []awsapi.LifecyclePolicyDetail{ageDelete}, &awsapi.LifecyclePolicyResourceSelection{Recipes: []awsapi.LifecyclePolicyResourceSelectionRecipe{{Name: "r", SemanticVersion: "1.0.0"}, {Name: "r", SemanticVersion: "1.0.0"}}}, "InvalidParameterValueException", "recipes[1]"},
		{"two delete rules", "AMI_IMAGE", []awsapi.LifecyclePolicyDetail{ageDelete, rule("DELETE", "COUNT", 3, "")}, recipes, "InvalidParameterValueException", "policyDetails[1].action.type"},
		{"container deprecate", "CONTAINER_IMAGE", []awsapi.LifecyclePolicyDetail{rule("DEPRECATE", "AGE", 1, "DAYS")}, recipes, "InvalidParameterValueException", "policyDetails[0].action.type"},
		{"container amis", "CONTAINER_IMAGE", []awsapi.LifecyclePolicyDetail{withInclude(ageDelete, awsapi.LifecyclePolicyDetailActionIncludeResources{Amis: ptr(true)})}, recipes, "InvalidParameterValueException", "includeResources"},
		{"container containers", "CONTAINER_IMAGE", []awsapi.LifecyclePolicyDetail{withInclude(ageDelete, awsapi.LifecyclePolicyDetailActionIncludeResources{Containers: ptr(true)})}, recipes, "", ""},
		{"ami containers", "AMI_IMAGE", []awsapi.LifecyclePolicyDetail{withInclude(ageDelete, awsapi.LifecyclePolicyDetailActionIncludeResources{Containers: ptr(true)})}, recipes, "InvalidParameterValueException", "includeResources.containers"},
		{"age without unit", "AMI_IMAGE", []awsapi.LifecyclePolicyDetail{rule("DELETE", "AGE", 3, "")}, recipes, "InvalidParameterValueException", "filter.unit"},
		{"count with unit", "AMI_IMAGE", []awsapi.LifecyclePolicyDetail{rule("DELETE", "COUNT", 3, "DAYS")}, recipes, "InvalidParameterValueException", "filter.unit"},
		{"count with retain", "AMI_IMAGE", []awsapi.LifecyclePolicyDetail{countRetain}, recipes, "InvalidParameterValueException", "filter.retainAtLeast"},
		{"count deprecate", "AMI_IMAGE", []awsapi.LifecyclePolicyDetail{rule("DEPRECATE", "COUNT", 3, "")}, recipes, "InvalidParameterValueException", "filter.type"},
		{"ami exclusions", "AMI_IMAGE", []awsapi.LifecyclePolicyDetail{amiExcl}, recipes, "", ""},
		{"container ami exclusions", "CONTAINER_IMAGE", []awsapi.LifecyclePolicyDetail{amiExcl}, recipes, "InvalidParameterValueException", "exclusionRules.amis"},
		{"exclusion region", "AMI_IMAGE", []awsapi.LifecyclePolicyDetail{badRegion}, recipes, "InvalidParameterValueException", "exclusionRules.amis.regions[0]"},
	} {
		err := checkLifecyclePolicy(tc.typ, tc.details, tc.sel)
		if configErrCode(err) != tc.code || (err != nil && !strings.Contains(err.Error(), tc.member)) {
			t.Errorf("%s: err = %v; want %q naming %s", tc.what, err, tc.code, tc.member)
		}
	}
}
