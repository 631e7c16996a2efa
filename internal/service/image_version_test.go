package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// TestImageBuildVersionAnswered: GetImage and the ImageSummary lists answer
// an image build's version as "M.m.p/N", as AWS does; ListImages, whose
// entries are versions, answers "M.m.p"; the stored document keeps M.m.p
// so the `version` filter still matches it.
func TestImageBuildVersionAnswered(t *testing.T) {
	s := newWorkflowTestService(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	ctx := context.Background()
	const base = "arn:aws:imagebuilder:us-east-1:" + testAccount + ":image/shown/2.1.0"
	err := s.update(ctx, func(tx store.Tx) error {
		for _, n := range []int{1, 3} {
			a := base + "/" + string(rune('0'+n))
			doc := `{"arn":"` + a + `","name":"shown","version":"2.1.0","type":"DOCKER","platform":"Linux","state":{"status":"AVAILABLE"}}`
			if err := tx.Insert(ctx, store.Resource{ARN: a, Kind: kindImage, Account: testAccount, Region: "us-east-1",
				Name: "shown", Version: "2.1.0", Build: n, Doc: []byte(doc)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		get  func() (string, error)
		want string
	}{
		{"GetImage by build ARN", func() (string, error) {
			out, err := s.GetImage(ctx, testAccount, &awsapi.GetImageRequest{ImageBuildVersionArn: base + "/1"})
			if err != nil {
				return "", err
			}
			return out.Image.Version, nil
		}, "2.1.0/1"},
		{"GetImage by wildcard", func() (string, error) {
			out, err := s.GetImage(ctx, testAccount, &awsapi.GetImageRequest{ImageBuildVersionArn: strings.TrimSuffix(base, "2.1.0") + "x.x.x"})
			if err != nil {
				return "", err
			}
			return out.Image.Version, nil
		}, "2.1.0/3"},
		{"ListImageBuildVersions", func() (string, error) {
			out, err := s.ListImageBuildVersions(ctx, testAccount, &awsapi.ListImageBuildVersionsRequest{ImageVersionArn: base})
			if err != nil || len(out.ImageSummaryList) != 2 {
				return "", err
			}
			return out.ImageSummaryList[0].Version + " " + out.ImageSummaryList[1].Version, nil
		}, "2.1.0/1 2.1.0/3"},
		{"ListImages", func() (string, error) {
			out, err := s.ListImages(ctx, testAccount, &awsapi.ListImagesRequest{
				Filters: []awsapi.Filter{{Name: "version", Values: []string{"2.1.0"}}}})
			if err != nil || len(out.ImageVersionList) != 1 {
				return "", err
			}
			return out.ImageVersionList[0].Version, nil
		}, "2.1.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.get()
			if err != nil || got != tc.want {
				t.Errorf("version %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestGetMarketplaceResource: kiln has no marketplace, and says so with an
// error type the operation declares.
func TestGetMarketplaceResource(t *testing.T) {
	s := newWorkflowTestService(t, time.Now())
	_, err := s.GetMarketplaceResource(context.Background(), testAccount, &awsapi.GetMarketplaceResourceRequest{
		ResourceType: awsapi.MarketplaceResourceTypeComponentData, ResourceArn: "arn:aws:imagebuilder:us-east-1:aws-marketplace:component/p/1.0.0/1"})
	var e *awsapi.Error
	if !errors.As(err, &e) || e.Code != awsapi.ErrCodeInvalidRequestException || !strings.Contains(e.Message, "kiln has no AWS Marketplace") ||
		!strings.Contains(e.Message, "component/p/1.0.0/1") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(strings.Join(awsapi.OperationByName(awsapi.OpGetMarketplaceResource).Errors, " "), e.Code) {
		t.Errorf("%s is not declared by GetMarketplaceResource", e.Code)
	}
}
