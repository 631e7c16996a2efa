package service

import (
	"errors"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
)

func TestParseSourceImage(t *testing.T) {
	s := &Service{Partition: "aws", Region: "us-east-1"}
	const image = "arn:aws:imagebuilder:us-east-1:111111111111:image/app/1.0.0"
	for _, tc := range []struct {
		source  string
		ami     string
		build   int
		wantErr string
	}{
		{source: image + "/3", build: 3},
		{source: image},
		{source: "ami-0123456789abcdef0", ami: "ami-0123456789abcdef0"},
		{source: "ssm:/my/ami", wantErr: "Parameter Store"},
		{source: "ssm:arn:aws:ssm:us-east-1:111111111111:parameter/ami", wantErr: "Parameter Store"},
		{source: "ami-", wantErr: "not an AMI id"},
		{source: "ami-XYZ", wantErr: "not an AMI id"},
		{source: "debian-12", wantErr: "neither an image ARN nor an AMI id"},
		{source: "arn:aws:imagebuilder:us-east-1:111111111111:image/app", wantErr: "must name a version"},
		{source: "arn:aws:imagebuilder:us-east-1:111111111111:image/app/1.x.x", wantErr: "must name a version"},
		{source: "arn:aws:imagebuilder:us-east-1:111111111111:image-recipe/app/1.0.0", wantErr: "is not a image ARN"},
		{source: "arn:nonsense", wantErr: "sourceImage"},
	} {
		ref, err := s.parseSourceImage(tc.source)
		if tc.wantErr != "" {
			var apiErr *awsapi.Error
			if !errors.As(err, &apiErr) || apiErr.Code != awsapi.ErrCodeInvalidParameterValueException ||
				!strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "sourceImage") {
				t.Errorf("parseSourceImage(%q) = %v, want InvalidParameterValueException naming sourceImage with %q", tc.source, err, tc.wantErr)
			}
			continue
		}
		if err != nil || ref.AMI != tc.ami || (tc.ami == "" && ref.Image.Build != tc.build) {
			t.Errorf("parseSourceImage(%q) = %+v, %v", tc.source, ref, err)
		}
	}
}

// FuzzParseSourceImage checks that the parser never panics, refuses with
// InvalidParameterValueException only, and accepts nothing but an AMI id
// or a versioned image ARN.
func FuzzParseSourceImage(f *testing.F) {
	s := &Service{Partition: "aws", Region: "us-east-1"}
	for _, seed := range []string{"ami-0abc", "ssm:/x", "arn:aws:imagebuilder:us-east-1:111111111111:image/app/1.0.0/1", "arn:", "", "ami-"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, source string) {
		ref, err := s.parseSourceImage(source)
		if err != nil {
			var apiErr *awsapi.Error
			if !errors.As(err, &apiErr) || apiErr.Code != awsapi.ErrCodeInvalidParameterValueException {
				t.Fatalf("parseSourceImage(%q): %v", source, err)
			}
			return
		}
		switch {
		case ref.AMI != "":
			if ref.AMI != source || !strings.HasPrefix(source, "ami-") {
				t.Fatalf("parseSourceImage(%q) accepted AMI %q", source, ref.AMI)
			}
		case ref.Image.Type != kindImage || ref.Image.Version == "":
			t.Fatalf("parseSourceImage(%q) accepted %+v", source, ref.Image)
		}
	})
}
