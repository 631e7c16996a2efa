package service

import (
	"errors"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
)

func TestParseAmiNameTemplate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		vars    []string
		wantErr string
	}{
		{name: "plain-name"},
		{name: "app {{ imagebuilder:buildDate }}", vars: []string{"imagebuilder:buildDate"}},
		{name: "app-{{imagebuilder:buildVersion}}-{{ imagebuilder:buildDate }}", vars: []string{"imagebuilder:buildVersion", "imagebuilder:buildDate"}},
		{name: "app {{ imagebuilder:buildTime }}", wantErr: "unknown variable"},
		{name: "app {{ }}", wantErr: "unknown variable"},
		{name: "app {{ imagebuilder:buildDate", wantErr: "not closed"},
		{name: "app {x}", wantErr: "not part of"},
		{name: "app }}", wantErr: "not part of"},
	} {
		vars, err := parseAmiNameTemplate(tc.name)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseAmiNameTemplate(%q) = %v, want error containing %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(vars, ",") != strings.Join(tc.vars, ",") {
			t.Errorf("parseAmiNameTemplate(%q) = %q, %v; want %q", tc.name, vars, err, tc.vars)
		}
	}
}

// FuzzParseAmiNameTemplate checks that the parser never panics and that an
// accepted name has no brace left once its placeholders are removed.
func FuzzParseAmiNameTemplate(f *testing.F) {
	for _, s := range []string{"a", "a {{ imagebuilder:buildDate }}", "{{imagebuilder:buildVersion}}}", "{{{{", "}}{{", "a {{ x }} b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		vars, err := parseAmiNameTemplate(name)
		if err != nil {
			return
		}
		rest := name
		for range vars {
			i := strings.Index(rest, "{{")
			j := strings.Index(rest[i:], "}}")
			if i < 0 || j < 0 {
				t.Fatalf("accepted %q but found no placeholder for each variable %q", name, vars)
			}
			if strings.ContainsAny(rest[:i], "{}") {
				t.Fatalf("accepted %q with a stray brace", name)
			}
			rest = rest[i+j+2:]
		}
		if strings.ContainsAny(rest, "{}") {
			t.Fatalf("accepted %q with a stray brace", name)
		}
	})
}

// configErrCode returns the API error code of err ("" for nil).
func configErrCode(err error) string {
	var ae *awsapi.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	if err != nil {
		return "not an API error: " + err.Error()
	}
	return ""
}

func TestCheckDistributions(t *testing.T) {
	const self = "111122223333"
	ami := func(name string) *awsapi.AmiDistributionConfiguration {
		return &awsapi.AmiDistributionConfiguration{Name: name}
	}
	for _, tc := range []struct {
		what   string
		dists  []awsapi.Distribution
		code   string
		member string
	}{
		{"one region", []awsapi.Distribution{{Region: "us-east-1", AmiDistributionConfiguration: ami("a-{{ imagebuilder:buildDate }}")}}, "", ""},
		{"none", nil, "InvalidParameterValueException", "'distributions'"},
		{"duplicate region", []awsapi.Distribution{{Region: "us-east-1"}, {Region: "eu-west-1"}, {Region: "us-east-1"}}, "InvalidParameterValueException", "distributions[2].region"},
		{"bad region", []awsapi.Distribution{{Region: "Mars"}}, "InvalidParameterValueException", "distributions[0].region"},
		{"unknown variable", []awsapi.Distribution{{Region: "us-east-1", AmiDistributionConfiguration: ami("a {{ imagebuilder:nope }}")}}, "InvalidParameterValueException", "distributions[0].amiDistributionConfiguration.name"},
		{"user group", []awsapi.Distribution{{Region: "us-east-1", AmiDistributionConfiguration: &awsapi.AmiDistributionConfiguration{
			LaunchPermission: &awsapi.LaunchPermissionConfiguration{UserGroups: []string{"everyone"}}}}}, "InvalidParameterValueException", "launchPermission.userGroups[0]"},
		{"fast launch template both", []awsapi.Distribution{{Region: "us-east-1", FastLaunchConfigurations: []awsapi.FastLaunchConfiguration{{
			Enabled: ptr(true), LaunchTemplate: &awsapi.FastLaunchLaunchTemplateSpecification{LaunchTemplateId: "lt-0123456789abcdef0", LaunchTemplateName: "n"}}}}}, "InvalidParameterCombinationException", "launchTemplateName"},
		{"ssm own account", []awsapi.Distribution{{Region: "us-east-1", SsmParameterConfigurations: []awsapi.SsmParameterConfiguration{{ParameterName: "/a", AmiAccountId: self}}}}, "", ""},
		{"ssm target account", []awsapi.Distribution{{Region: "us-east-1",
			AmiDistributionConfiguration: &awsapi.AmiDistributionConfiguration{TargetAccountIds: []string{"444455556666"}},
			SsmParameterConfigurations:   []awsapi.SsmParameterConfiguration{{ParameterName: "/a", AmiAccountId: "444455556666"}}}}, "", ""},
		{"ssm foreign account", []awsapi.Distribution{{Region: "us-east-1", SsmParameterConfigurations: []awsapi.SsmParameterConfiguration{{ParameterName: "/a", AmiAccountId: "444455556666"}}}}, "InvalidParameterValueException", "ssmParameterConfigurations[0].amiAccountId"},
		{"ssm duplicate", []awsapi.Distribution{{Region: "us-east-1", SsmParameterConfigurations: []awsapi.SsmParameterConfiguration{{ParameterName: "/a"}, {ParameterName: "/a"}}}}, "InvalidParameterValueException", "ssmParameterConfigurations[1].parameterName"},
	} {
		err := checkDistributions(self, tc.dists)
		if configErrCode(err) != tc.code || (err != nil && !strings.Contains(err.Error(), tc.member)) {
			t.Errorf("%s: err = %v; want %s naming %s", tc.what, err, tc.code, tc.member)
		}
	}
}
