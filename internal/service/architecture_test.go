package service

import (
	"errors"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
)

func TestCheckInstanceArchitecture(t *testing.T) {
	tests := []struct {
		name  string
		arch  string
		types []string
		want  string // "" passes
	}{
		{"graviton for arm64", "arm64", []string{"t4g.micro", "c7g.large"}, ""},
		{"x86 for arm64", "arm64", []string{"c7g.large", "m5.large"}, "The instance type 'm5.large' of infrastructure configuration 'arn:infra' is x86_64, but the parent image ami-1 is arm64"},
		{"graviton for x86_64", "x86_64", []string{"m7g.medium"}, "is arm64, but the parent image ami-1 is x86_64; use x86_64 instance types (Intel or AMD"},
		{"no instance types", "arm64", nil, ""},
		{"unknown instance type", "arm64", []string{"weird"}, ""},
		{"parent of unknown architecture", "", []string{"m5.large", "c7g.large"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkInstanceArchitecture(ami.AMI{ImageID: "ami-1", Architecture: tt.arch}, "arn:infra",
				awsapi.InfrastructureConfiguration{InstanceTypes: tt.types})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var api *awsapi.Error
			if !errors.As(err, &api) || api.Code != awsapi.ErrCodeInvalidParameterValueException || !strings.Contains(api.Message, tt.want) {
				t.Fatalf("got %v, want InvalidParameterValueException containing %q", err, tt.want)
			}
		})
	}
}
