package service

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/platform"
)

func TestContainerPlatforms(t *testing.T) {
	arm64v8 := v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	both := []v1.Platform{platform.LinuxAMD64, arm64v8}
	tests := []struct {
		name   string
		parent []v1.Platform // nil: not in kiln's registry
		tags   map[string]string
		types  []string
		want   []string
		err    string // "" passes
	}{
		{name: "nothing asked, index parent", parent: both},
		{name: "nothing asked, unknown parent"},
		{name: "arm64-only parent", parent: []v1.Platform{arm64v8}, want: []string{"linux/arm64/v8"}},
		{name: "graviton on an index", parent: both, types: []string{"t4g.small"}, want: []string{"linux/arm64"}},
		{name: "graviton on an unknown parent", types: []string{"c7g.large"}, want: []string{"linux/arm64"}},
		{name: "x86 on an index", parent: both, types: []string{"m5.large"}, want: []string{"linux/amd64"}},
		{name: "unknown instance types", parent: both, types: []string{"weird"}},
		{name: "graviton on amd64 only", parent: []v1.Platform{platform.LinuxAMD64}, types: []string{"t4g.small"},
			err: "parameter 'infrastructureConfigurationArn' is not valid. The instance type 't4g.small' of infrastructure configuration 'arn:infra' is arm64, but the parent image reg/p:1 is linux/amd64 only"},
		{name: "x86 on arm64 only", parent: []v1.Platform{arm64v8}, types: []string{"t3.micro"}, err: "Graviton types"},
		{name: "tag, index parent", parent: both, tags: map[string]string{platform.Tag: "linux/arm64,linux/amd64"}, types: []string{"m5.large"},
			want: []string{"linux/arm64", "linux/amd64"}},
		{name: "tag, parent without amd64", parent: []v1.Platform{arm64v8}, tags: map[string]string{platform.Tag: "linux/amd64,linux/arm64"},
			err: "parameter 'containerRecipeArn' is not valid. The recipe's tag kiln:platforms asks for linux/amd64, but the parent image reg/p:1 has no linux/amd64 image (it has linux/arm64/v8)"},
		{name: "bad tag", tags: map[string]string{platform.Tag: "linux/s390x"}, err: "kiln builds amd64 and arm64 images only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{ContainerParentPlatforms: func(ctx context.Context, ref string) ([]v1.Platform, error) { return tt.parent, nil }}
			got, err := s.containerPlatforms(context.Background(), tt.tags, "reg/p:1", "arn:infra", awsapi.InfrastructureConfiguration{InstanceTypes: tt.types})
			if tt.err == "" {
				if err != nil || !slices.Equal(got, tt.want) {
					t.Fatalf("got %v, %v; want %v", got, err, tt.want)
				}
				return
			}
			var api *awsapi.Error
			if !errors.As(err, &api) || api.Code != awsapi.ErrCodeInvalidParameterValueException || !strings.Contains(api.Message, tt.err) {
				t.Fatalf("got %v, %v; want InvalidParameterValueException containing %q", got, err, tt.err)
			}
		})
	}
}

func TestCheckPlatformsTag(t *testing.T) {
	for _, tc := range []struct {
		tags map[string]string
		ok   bool
	}{
		{nil, true},
		{map[string]string{"team": "x"}, true},
		{map[string]string{platform.Tag: "linux/amd64,linux/arm64"}, true},
		{map[string]string{platform.Tag: ""}, false},
		{map[string]string{platform.Tag: "linux/arm"}, false},
	} {
		err := checkPlatformsTag("tags", tc.tags)
		if (err == nil) != tc.ok {
			t.Errorf("checkPlatformsTag(%v) = %v", tc.tags, err)
		}
		if err != nil && !strings.Contains(err.Error(), "'tags'") {
			t.Errorf("the error does not name the field: %v", err)
		}
	}
}
