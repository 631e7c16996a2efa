package awsapi

import (
	"strings"
	"testing"
)

func validComponent() *CreateComponentRequest {
	return &CreateComponentRequest{Name: "hello-world", SemanticVersion: "1.0.0", Platform: PlatformLinux, ClientToken: "token-1", Data: "x"}
}

func TestValidate(t *testing.T) {
	const prefix = "The value supplied for parameter "
	arn := "arn:aws:imagebuilder:us-east-1:000000000000:"
	tests := []struct {
		name string
		in   Input
		want string // message; "" means valid
	}{
		{"valid", validComponent(), ""},
		{"required string", func() Input { r := validComponent(); r.Name = ""; return r }(),
			"'name' is not valid. name is required"},
		{"first problem in member order", &CreateComponentRequest{SemanticVersion: "bad"},
			"'name' is not valid. name is required"},
		{"pattern", func() Input { r := validComponent(); r.SemanticVersion = "1.0"; return r }(),
			`'semanticVersion' is not valid. semanticVersion must match pattern ^[0-9]+\.[0-9]+\.[0-9]+$`},
		{"pattern applies to the whole value", func() Input { r := validComponent(); r.Name = "ok name!"; return r }(),
			`'name' is not valid. name must match pattern ^[-_A-Za-z-0-9][-_A-Za-z0-9 ]{1,126}[-_A-Za-z-0-9]$`},
		{"max length counts characters", func() Input { r := validComponent(); r.Description = strings.Repeat("é", 1024); return r }(), ""},
		{"max length", func() Input { r := validComponent(); r.Description = strings.Repeat("é", 1025); return r }(),
			"'description' is not valid. description must have length less than or equal to 1024"},
		{"client token up to 36", func() Input { r := validComponent(); r.ClientToken = strings.Repeat("t", 36); return r }(), ""},
		{"client token over 36", func() Input { r := validComponent(); r.ClientToken = strings.Repeat("t", 37); return r }(),
			"'clientToken' is not valid. clientToken must have length less than or equal to 36"},
		{"enum", func() Input { r := validComponent(); r.Platform = "Plan9"; return r }(),
			"'platform' is not valid. platform must satisfy enum value set: [Windows, Linux, macOS]"},
		{"enum value from the overlay", func() Input { r := validComponent(); r.Platform = PlatformMacOS; return r }(), ""},
		{"list min size", &ListImagesRequest{Filters: []Filter{{Name: "name", Values: []string{}}}},
			"'filters[0].values' is not valid. filters[0].values must have length greater than or equal to 1"},
		{"list element pattern", &ListImagesRequest{Filters: []Filter{{Name: "name", Values: []string{"ok", "bad\x00"}}}},
			"'filters[0].values[1]' is not valid. filters[0].values[1] must match pattern ^[0-9a-zA-Z./_ :-]{1,1024}$"},
		{"long pattern repeat split for RE2", &ListImagesRequest{Filters: []Filter{{Name: strings.Repeat("a", 1024), Values: []string{"v"}}}}, ""},
		{"long pattern repeat upper bound", &ListImagesRequest{Filters: []Filter{{Name: strings.Repeat("a", 1025), Values: []string{"v"}}}},
			"'filters[0].name' is not valid. filters[0].name must match pattern ^[a-zA-Z]{1,1024}$"},
		{"integer range", &ListImagesRequest{MaxResults: ptr[int32](0)},
			"'maxResults' is not valid. maxResults must have value greater than or equal to 1"},
		{"integer range max", &ListImagesRequest{MaxResults: ptr[int32](26)},
			"'maxResults' is not valid. maxResults must have value less than or equal to 25"},
		{"nested structure path", &CreateDistributionConfigurationRequest{
			Name: "dist", ClientToken: "t",
			Distributions: []Distribution{{Region: "us-east-1"}, {Region: "us-west-2", AmiDistributionConfiguration: &AmiDistributionConfiguration{Name: "x"}}},
		}, "'distributions[1].amiDistributionConfiguration.name' is not valid. distributions[1].amiDistributionConfiguration.name must match pattern ^[-_A-Za-z0-9{][-_A-Za-z0-9\\s:{}\\.]+[-_A-Za-z0-9}]$"},
		{"required nested structure", &CreateDistributionConfigurationRequest{Name: "dist", ClientToken: "t", Distributions: []Distribution{{}}},
			"'distributions[0].region' is not valid. distributions[0].region is required"},
		{"required list", &CreateDistributionConfigurationRequest{Name: "dist", ClientToken: "t"},
			"'distributions' is not valid. distributions is required"},
		{"map key with lookahead pattern", &TagResourceRequest{ResourceArn: arn + "component/c/1.0.0/1", Tags: map[string]string{"ok": "v", "aws:x": "v"}},
			"'tags[aws:x]' is not valid. tags[aws:x] must match pattern ^(?!aws:)[a-zA-Z+-=._:/]+$"},
		{"map keys checked in sorted order", &TagResourceRequest{ResourceArn: arn + "component/c/1.0.0/1", Tags: map[string]string{"b b": "v", "a a": "v"}},
			"'tags[a a]' is not valid. tags[a a] must match pattern ^(?!aws:)[a-zA-Z+-=._:/]+$"},
		{"map value length", &TagResourceRequest{ResourceArn: arn + "component/c/1.0.0/1", Tags: map[string]string{"k": strings.Repeat("v", 257)}},
			"'tags[k]' is not valid. tags[k] must have length less than or equal to 256"},
		{"map size", &TagResourceRequest{ResourceArn: arn + "component/c/1.0.0/1", Tags: map[string]string{}},
			"'tags' is not valid. tags must have length greater than or equal to 1"},
		{"uri member pattern", &TagResourceRequest{ResourceArn: "nope", Tags: map[string]string{"k": "v"}},
			"'resourceArn' is not valid. resourceArn must match pattern"},
		{"required query list", &UntagResourceRequest{ResourceArn: arn + "image-pipeline/p"},
			"'tagKeys' is not valid. tagKeys is required"},
		{"required boolean and long (overlay shape)", &ImportDiskImageRequest{
			Name: "n", SemanticVersion: "1.0.0", Platform: "Windows", OsVersion: "Microsoft Windows 11", InfrastructureConfigurationArn: arn + "infrastructure-configuration/i",
			Uri: "s3://b/k.iso", ClientToken: "t", WindowsConfiguration: &WindowsConfiguration{},
		}, "'windowsConfiguration.imageIndex' is not valid. windowsConfiguration.imageIndex is required"},
		{"long minimum", &ImportDiskImageRequest{
			Name: "n", SemanticVersion: "1.0.0", Platform: "Windows", OsVersion: "Microsoft Windows 11", InfrastructureConfigurationArn: arn + "infrastructure-configuration/i",
			Uri: "s3://b/k.iso", ClientToken: "t", WindowsConfiguration: &WindowsConfiguration{ImageIndex: ptr[int64](0)},
		}, "'windowsConfiguration.imageIndex' is not valid. windowsConfiguration.imageIndex must have value greater than or equal to 1"},
		{"overlay operation valid", &RetryImageRequest{ImageBuildVersionArn: arn + "image/x/1.0.0/1", ClientToken: "t"}, ""},
		{"overlay enum", &GetMarketplaceResourceRequest{ResourceType: "COMPONENT_DATA", ResourceArn: arn + "component/x/1.0.0/1"}, ""},
		{"overlay enum invalid", &GetMarketplaceResourceRequest{ResourceType: "OTHER", ResourceArn: "a"},
			"'resourceType' is not valid. resourceType must satisfy enum value set: [COMPONENT_DATA, COMPONENT_ARTIFACT]"},
		{"double minimum", &ListImageScanFindingAggregationsRequest{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Validate = %v (%T), want *Error", err, err)
			}
			if e.Code != ErrCodeInvalidParameterValueException || !strings.HasPrefix(e.Message, prefix+tc.want) {
				t.Errorf("got  %s %s\nwant %s%s", e.Code, e.Message, prefix, tc.want)
			}
		})
	}
}

// TestPatternsCompile makes sure every model pattern made it into a Go
// expression: the generator skips only what it cannot translate, and with
// this model that is nothing.
func TestPatternsCompile(t *testing.T) {
	for _, tc := range []struct {
		p     *pattern
		value string
		want  bool
	}{
		{patternTagKey, "Name", true},
		{patternTagKey, "aws:reserved", false},
		{patternTagKey, "my:aws:ok", true},
		{patternVersionNumber, "1.0.0", true},
		{patternVersionNumber, "x1.0.0", false},
		{patternVersionNumber, "1.0.0\n", false},
	} {
		if got := tc.p.matches(tc.value); got != tc.want {
			t.Errorf("%s matches %q = %t", tc.p.source, tc.value, got)
		}
	}
}

func TestNilAndEmptyValidate(t *testing.T) {
	var r *CreateComponentRequest
	if err := r.Validate(); err != nil {
		t.Errorf("nil struct: %v", err)
	}
	for _, op := range Operations {
		_ = op.NewInput().Validate() // must not panic on a zero input
	}
}
