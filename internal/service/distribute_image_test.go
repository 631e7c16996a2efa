package service

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/store"
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

// TestDistributeImageQueue checks what DistributeImage leaves in the
// store, with no engine running: the image DISTRIBUTING with a job that
// runs only the default distribution workflow, a second request refused
// while it waits (ResourceInUseException), the same clientToken answered
// again, and CancelImageCreation returning the image to AVAILABLE.
func TestDistributeImageQueue(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	s := newWorkflowTestService(t, now)
	const account = "111111111111"
	image := "arn:aws:imagebuilder:us-east-1:" + account + ":image/app/1.0.0/1"
	doc, _ := json.Marshal(awsapi.Image{
		Arn: image, Name: "app", Version: "1.0.0", Type: awsapi.ImageTypeAmi,
		State:           &awsapi.ImageState{Status: awsapi.ImageStatusAvailable},
		OutputResources: &awsapi.OutputResources{Amis: []awsapi.Ami{{Image: "ami-0123456789abcdef0", Region: "us-east-1"}}},
	})
	if err := s.Store.Update(ctx, func(tx store.Tx) error {
		return tx.Insert(ctx, store.Resource{ARN: image, Kind: kindImage, Account: account, Region: "us-east-1",
			Name: "app", Version: "1.0.0", Build: 1, Doc: doc, Created: now, Updated: now})
	}); err != nil {
		t.Fatal(err)
	}
	dist, err := s.CreateDistributionConfiguration(ctx, account, &awsapi.CreateDistributionConfigurationRequest{
		Name: "again", Distributions: []awsapi.Distribution{{Region: "eu-west-1"}}, ClientToken: "dc",
	})
	if err != nil {
		t.Fatal(err)
	}
	in := &awsapi.DistributeImageRequest{SourceImage: image, DistributionConfigurationArn: dist.DistributionConfigurationArn,
		ExecutionRole: "distributor", ClientToken: "first"}
	out, err := s.DistributeImage(ctx, account, in)
	if err != nil || out.ImageBuildVersionArn != image {
		t.Fatalf("DistributeImage: %+v, %v", out, err)
	}
	status := func() awsapi.ImageState {
		t.Helper()
		got, err := s.GetImage(ctx, account, &awsapi.GetImageRequest{ImageBuildVersionArn: image})
		if err != nil {
			t.Fatal(err)
		}
		return *got.Image.State
	}
	if st := status(); st.Status != awsapi.ImageStatusDistributing {
		t.Fatalf("after DistributeImage the image is %+v", st)
	}
	var job engine.Job
	s.Store.View(ctx, func(tx store.Tx) error { job, err = engine.GetJob(ctx, tx, image); return err })
	if err != nil || job.Distribution == nil || job.Account != account || len(job.Workflows) != 1 ||
		job.Workflows[0].Type != awsapi.WorkflowTypeDistribution || !strings.Contains(job.Workflows[0].ARN, "workflow/distribution/distribute-image/") ||
		job.Distribution.Configuration.Arn != dist.DistributionConfigurationArn || job.Distribution.ExecutionRole != "distributor" {
		t.Fatalf("the queued job: %+v, %v", job, err)
	}

	if again, err := s.DistributeImage(ctx, account, in); err != nil || again.ImageBuildVersionArn != image {
		t.Fatalf("the same clientToken again: %+v, %v", again, err)
	}
	second := *in
	second.ClientToken = "second"
	if _, err := s.DistributeImage(ctx, account, &second); errCode(err) != awsapi.ErrCodeResourceInUseException {
		t.Fatalf("a second distribution while one is queued: %v", err)
	}
	if _, err := s.CancelImageCreation(ctx, account, &awsapi.CancelImageCreationRequest{ImageBuildVersionArn: image, ClientToken: "cancel"}); err != nil {
		t.Fatalf("CancelImageCreation: %v", err)
	}
	if st := status(); st.Status != awsapi.ImageStatusAvailable || !strings.Contains(st.Reason, "cancelled") {
		t.Fatalf("after cancelling the distribution the image is %+v", st)
	}
	if _, err := s.DistributeImage(ctx, account, &second); err != nil {
		t.Fatalf("a distribution after the cancelled one: %v", err)
	}
}
