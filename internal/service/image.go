package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/catalog"
	"github.com/kiln-build/kiln/internal/semver"
	"github.com/kiln-build/kiln/internal/store"
)

// Images are stored as kind "image", one row per build version
// (…:image/NAME/M.m.p/BUILD), with the API's Image shape (without tags) as
// the document. The Amazon-owned parent images are seeded that way by
// SeedImageCatalog; the images builds produce are stored the same way, so
// the reads below serve both.
const kindImage = arn.TypeImage

func (s *Service) imageHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpGetImage:               handle(s.GetImage),
		awsapi.OpListImages:             handle(s.ListImages),
		awsapi.OpListImageBuildVersions: handle(s.ListImageBuildVersions),
	}
}

// SeedImageCatalog makes the Amazon-owned parent images of
// internal/catalog visible in this region: each is stored as build 1 of its
// version under owner "aws", AVAILABLE, so recipes can name
// arn:aws:imagebuilder:REGION:aws:image/NAME/x.x.x and ListImages with
// owner Amazon lists them. Rows are rewritten only when the catalogue
// entry changed, so start-up is cheap and idempotent.
//
// These images have no content yet: they are names with metadata
// (platform, OS version) that recipes are validated against. A later
// operator mapping decides which real root filesystem a build starts from
// for each name.
func (s *Service) SeedImageCatalog(ctx context.Context) error {
	created := s.now()
	return s.update(ctx, func(tx store.Tx) error {
		for _, c := range catalog.Images() {
			a := arn.New(s.Partition, s.Region, AmazonAccount, kindImage, c.Name).WithVersion(c.Version).WithBuild(1)
			if err := a.Validate(); err != nil {
				return fmt.Errorf("catalog image %s: %w", c.Name, err)
			}
			err := s.seedAmazonBuild(ctx, tx, a, created, func(dateCreated string) any {
				return awsapi.Image{
					Arn: a.String(), Type: c.Type, Name: c.Name, Version: c.Version,
					Platform: c.Platform, OsVersion: c.OsVersion,
					State:       &awsapi.ImageState{Status: awsapi.ImageStatusAvailable},
					DateCreated: dateCreated,
					ImageSource: awsapi.ImageSourceAmazonManaged,
				}
			}, bytes.Equal)
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func decodeImage(r store.Resource) (awsapi.Image, error) {
	var img awsapi.Image
	if err := json.Unmarshal(r.Doc, &img); err != nil {
		return img, fmt.Errorf("stored image %s: %w", r.ARN, err)
	}
	if len(r.Tags) > 0 {
		img.Tags = r.Tags
	}
	return img, nil
}

// imageSummary renders an image build row as the ImageSummary list
// entries of ListImageBuildVersions and ListImagePipelineImages.
func imageSummary(r store.Resource) (awsapi.ImageSummary, error) {
	img, err := decodeImage(r)
	return awsapi.ImageSummary{
		Arn: img.Arn, Name: img.Name, Type: img.Type, Version: buildVersion(img),
		Platform: img.Platform, OsVersion: img.OsVersion, State: img.State,
		Owner: ownerName(r.Account), DateCreated: img.DateCreated,
		OutputResources: img.OutputResources, Tags: img.Tags, BuildType: img.BuildType,
		ImageSource: img.ImageSource, DeprecationTime: img.DeprecationTime,
		LifecycleExecutionId: img.LifecycleExecutionId, LoggingConfiguration: img.LoggingConfiguration,
	}, err
}

// notDeleted leaves out of lists the images a lifecycle action or
// StartResourceStateUpdate DELETED; GetImage still answers them by build
// ARN, with that state, so a client can see what happened.
var notDeleted = store.Ne(store.DocField("state", "status"), awsapi.ImageStatusDeleted)

// imageStatus is an image's state, "" when it has none.
func imageStatus(img awsapi.Image) string {
	if img.State == nil {
		return ""
	}
	return img.State.Status
}

// GetImage returns an image build: by build ARN, or by version ARN (with
// `x` wildcards) resolved to the latest matching build the caller sees.
func (s *Service) GetImage(ctx context.Context, account string, in *awsapi.GetImageRequest) (*awsapi.GetImageResponse, error) {
	a, err := s.parseARN("imageBuildVersionArn", in.ImageBuildVersionArn, kindImage)
	if err != nil {
		return nil, err
	}
	var img awsapi.Image
	err = s.view(ctx, func(tx store.Tx) error {
		r, err := s.resolve(ctx, tx, account, a, "Image")
		if err != nil {
			return err
		}
		img, err = decodeImage(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	img.Version = buildVersion(img)
	return &awsapi.GetImageResponse{Image: &img, LatestVersionReferences: latestVersionReferences(img.Arn)}, nil
}

// buildVersion is the version an image build is answered with in GetImage
// and in ImageSummary (ListImageBuildVersions, ListImagePipelineImages):
// the build version "M.m.p/N", which is what AWS answers (its get-image
// and list-image-pipeline-images examples show "2019.12.03/1"), although
// the model types the member VersionNumber (M.m.p) and kiln stores M.m.p
// for filters and tags. ListImages' ImageVersion entries name a version,
// not a build, and keep M.m.p.
func buildVersion(img awsapi.Image) string {
	a, err := arn.Parse(img.Arn)
	if err != nil || a.Build == 0 || img.Version == "" || strings.Contains(img.Version, "/") {
		return img.Version
	}
	return img.Version + "/" + strconv.Itoa(a.Build)
}

var imageFilters = filterFields{
	"name":      store.DocField("name"),
	"osVersion": store.DocField("osVersion"),
	"platform":  store.DocField("platform"),
	"type":      store.DocField("type"),
	"version":   store.DocField("version"),
}

// ListImages lists image versions (one entry per version, showing its
// latest build), or one entry per name with byName. Deprecated
// Amazon-owned images are hidden unless includeDeprecated; the caller's
// own deprecated images are always listed, as the API documents.
func (s *Service) ListImages(ctx context.Context, account string, in *awsapi.ListImagesRequest) (*awsapi.ListImagesResponse, error) {
	match, err := imageFilters.compile(in.Filters)
	if err != nil {
		return nil, err
	}
	byName := deref(in.ByName)
	if err := checkByName(byName, in.Filters); err != nil {
		return nil, err
	}
	includeDeprecated := deref(in.IncludeDeprecated)
	q := store.Query{Kind: kindImage, Region: s.Region}
	ownerQuery(&q, in.Owner, account)
	q.Where = append(q.Where, match...)
	q.Where = append(q.Where, notDeleted)
	if !includeDeprecated {
		q.Where = append(q.Where, store.AnyOf(
			store.Ne(store.FieldAccount, AmazonAccount),
			store.Ne(store.DocField("state", "status"), awsapi.ImageStatusDeprecated)))
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{
		op: awsapi.OpListImages, params: params, maxResults: in.MaxResults, nextToken: in.NextToken, query: q,
		group: versionGroup(byName),
	}
	list, next, err := listRows(ctx, s, p, func(r store.Resource) (awsapi.ImageVersion, error) {
		img, err := decodeImage(r)
		a, _ := arn.Parse(r.ARN)
		a.Build = 0
		return awsapi.ImageVersion{
			Arn: a.String(), Name: img.Name, Type: img.Type, Version: img.Version,
			Platform: img.Platform, OsVersion: img.OsVersion, Owner: ownerName(r.Account),
			DateCreated: img.DateCreated, BuildType: img.BuildType, ImageSource: img.ImageSource,
		}, err
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.ListImagesResponse{ImageVersionList: list, NextToken: next}, nil
}

// ListImageBuildVersions lists the builds of one image version the caller
// can see, oldest first (the order ListComponentBuildVersions uses).
func (s *Service) ListImageBuildVersions(ctx context.Context, account string, in *awsapi.ListImageBuildVersionsRequest) (*awsapi.ListImageBuildVersionsResponse, error) {
	a, err := s.parseARN("imageVersionArn", in.ImageVersionArn, kindImage)
	if err != nil {
		return nil, err
	}
	if _, err := semver.Parse(a.Version); err != nil || a.Build != 0 {
		return nil, badValue("imageVersionArn", "imageVersionArn must name one version (…/image/NAME/M.m.p).")
	}
	match, err := imageFilters.compile(in.Filters)
	if err != nil {
		return nil, err
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{
		op: awsapi.OpListImageBuildVersions, params: params, maxResults: in.MaxResults, nextToken: in.NextToken,
		query: store.Query{
			Kind: kindImage, Region: s.Region, Owners: []string{a.Account}, Name: a.Name, Version: a.Version,
			Where: append(append(match, notDeleted), visibleTo(account)...),
		},
	}
	if a.Region != s.Region {
		return &awsapi.ListImageBuildVersionsResponse{ImageSummaryList: []awsapi.ImageSummary{}}, nil
	}
	list, next, err := listRows(ctx, s, p, imageSummary)
	if err != nil {
		return nil, err
	}
	return &awsapi.ListImageBuildVersionsResponse{ImageSummaryList: list, NextToken: next}, nil
}
