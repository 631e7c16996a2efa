package ecr

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/kiln-build/kiln/internal/oci/registry"
)

type imageID struct {
	ImageDigest string `json:"imageDigest,omitempty"`
	ImageTag    string `json:"imageTag,omitempty"`
}

type imageFailure struct {
	ImageID       imageID `json:"imageId"`
	FailureCode   string  `json:"failureCode"`
	FailureReason string  `json:"failureReason"`
}

// filterTagStatus keeps the images a ListImages or DescribeImages filter
// asks for.
func filterTagStatus(filter *struct{ TagStatus string }, images []registry.ImageRecord) ([]registry.ImageRecord, error) {
	if filter == nil || filter.TagStatus == "" || filter.TagStatus == "ANY" {
		return images, nil
	}
	switch filter.TagStatus {
	case "TAGGED":
		return slices.DeleteFunc(images, func(r registry.ImageRecord) bool { return len(r.Tags) == 0 }), nil
	case "UNTAGGED":
		return slices.DeleteFunc(images, func(r registry.ImageRecord) bool { return len(r.Tags) > 0 }), nil
	}
	return nil, invalidParameter("1 validation error detected: Value '%s' at 'filter.tagStatus' failed to satisfy constraint: Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]", filter.TagStatus)
}

func (a *API) listImages(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct {
		RegistryId, RepositoryName, NextToken string
		MaxResults                            *int
		Filter                                *struct{ TagStatus string }
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	r, err := a.repository(ctx, c, in.RegistryId, in.RepositoryName, "ecr:ListImages")
	if err != nil {
		return nil, err
	}
	images, err := a.Registry.Images(ctx, r.Name)
	if err != nil {
		return nil, err
	}
	if images, err = filterTagStatus(in.Filter, images); err != nil {
		return nil, err
	}
	var ids []imageID
	for _, im := range images {
		if len(im.Tags) == 0 {
			ids = append(ids, imageID{ImageDigest: im.Digest})
		}
		for _, t := range im.Tags {
			ids = append(ids, imageID{ImageDigest: im.Digest, ImageTag: t})
		}
	}
	page, next, err := a.paginate(c, "ListImages/"+r.Name, len(ids), in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"imageIds": nonNil(ids[page[0]:page[1]])}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

type imageDetail struct {
	RegistryId             string   `json:"registryId"`
	RepositoryName         string   `json:"repositoryName"`
	ImageDigest            string   `json:"imageDigest"`
	ImageTags              []string `json:"imageTags,omitempty"`
	ImageSizeInBytes       int64    `json:"imageSizeInBytes"`
	ImagePushedAt          epoch    `json:"imagePushedAt"`
	ImageManifestMediaType string   `json:"imageManifestMediaType"`
	ArtifactMediaType      string   `json:"artifactMediaType,omitempty"`
}

// sizeAndArtifact reads what DescribeImages reports from a manifest: the
// sum of its layers' sizes (what ECR calls the image size) and its
// config's media type.
func sizeAndArtifact(body []byte) (int64, string) {
	var m struct {
		Config *struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
		Layers []struct {
			Size int64 `json:"size"`
		} `json:"layers"`
	}
	if json.Unmarshal(body, &m) != nil {
		return 0, ""
	}
	var size int64
	for _, l := range m.Layers {
		size += l.Size
	}
	if m.Config != nil {
		return size, m.Config.MediaType
	}
	return size, ""
}

// findImages resolves imageIds against images. Each id names a digest, a
// tag or both (which must agree).
func findImages(ids []imageID, images []registry.ImageRecord) (found []registry.ImageRecord, matched []imageID, failures []imageFailure) {
	for _, id := range ids {
		if id.ImageDigest == "" && id.ImageTag == "" {
			failures = append(failures, imageFailure{id, "MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null"})
			continue
		}
		if id.ImageDigest != "" {
			if _, ok := registry.ParseDigest(id.ImageDigest); !ok {
				failures = append(failures, imageFailure{id, "InvalidImageDigest", "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"})
				continue
			}
		}
		i := slices.IndexFunc(images, func(r registry.ImageRecord) bool {
			return (id.ImageDigest == "" || r.Digest == id.ImageDigest) && (id.ImageTag == "" || slices.Contains(r.Tags, id.ImageTag))
		})
		if i < 0 {
			if id.ImageDigest != "" && id.ImageTag != "" && slices.ContainsFunc(images, func(r registry.ImageRecord) bool { return slices.Contains(r.Tags, id.ImageTag) }) {
				failures = append(failures, imageFailure{id, "ImageTagDoesNotMatchDigest", "Invalid request parameters: given tag does not map to the given digest"})
				continue
			}
			failures = append(failures, imageFailure{id, "ImageNotFound", "Requested image not found"})
			continue
		}
		found = append(found, images[i])
		matched = append(matched, imageID{ImageDigest: images[i].Digest, ImageTag: id.ImageTag})
	}
	return found, matched, failures
}

func (a *API) describeImages(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct {
		RegistryId, RepositoryName, NextToken string
		ImageIds                              []imageID
		MaxResults                            *int
		Filter                                *struct{ TagStatus string }
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	r, err := a.repository(ctx, c, in.RegistryId, in.RepositoryName, "ecr:DescribeImages")
	if err != nil {
		return nil, err
	}
	images, err := a.Registry.Images(ctx, r.Name)
	if err != nil {
		return nil, err
	}
	if len(in.ImageIds) > 0 {
		if in.NextToken != "" || in.MaxResults != nil {
			return nil, invalidParameter("nextToken and maxResults cannot be used with imageIds")
		}
		found, _, failures := findImages(in.ImageIds, images)
		if len(failures) > 0 {
			id := failures[0].ImageID
			return nil, errorf(errCodeImageNotFound, "The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'", id.ImageDigest, id.ImageTag, r.Name, r.Account)
		}
		images = slices.CompactFunc(found, func(x, y registry.ImageRecord) bool { return x.Digest == y.Digest })
	} else if images, err = filterTagStatus(in.Filter, images); err != nil {
		return nil, err
	}
	page, next, err := a.paginate(c, "DescribeImages/"+r.Name, len(images), in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	details := []imageDetail{}
	for _, im := range images[page[0]:page[1]] {
		size, artifact := sizeAndArtifact(im.Body)
		details = append(details, imageDetail{
			RegistryId: r.Account, RepositoryName: r.Name, ImageDigest: im.Digest, ImageTags: im.Tags,
			ImageSizeInBytes: size, ImagePushedAt: epoch(im.Pushed), ImageManifestMediaType: im.MediaType, ArtifactMediaType: artifact,
		})
	}
	out := map[string]any{"imageDetails": details}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

func checkImageIDs(ids []imageID) error {
	if len(ids) < 1 || len(ids) > 100 {
		return invalidParameter("1 validation error detected: Value at 'imageIds' failed to satisfy constraint: Member must have length between 1 and 100")
	}
	return nil
}

func (a *API) batchGetImage(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct {
		RegistryId, RepositoryName string
		ImageIds                   []imageID
		AcceptedMediaTypes         []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkImageIDs(in.ImageIds); err != nil {
		return nil, err
	}
	r, err := a.repository(ctx, c, in.RegistryId, in.RepositoryName, "ecr:BatchGetImage")
	if err != nil {
		return nil, err
	}
	images, err := a.Registry.Images(ctx, r.Name)
	if err != nil {
		return nil, err
	}
	found, ids, failures := findImages(in.ImageIds, images)
	out := []map[string]any{}
	for i, im := range found {
		if len(in.AcceptedMediaTypes) > 0 && !slices.Contains(in.AcceptedMediaTypes, im.MediaType) {
			failures = append(failures, imageFailure{ids[i], "UnsupportedImageType", "The image's manifest media type is not among acceptedMediaTypes"})
			continue
		}
		out = append(out, map[string]any{
			"registryId": r.Account, "repositoryName": r.Name, "imageId": ids[i],
			"imageManifest": string(im.Body), "imageManifestMediaType": im.MediaType,
		})
	}
	return map[string]any{"images": out, "failures": nonNil(failures)}, nil
}

func (a *API) batchDeleteImage(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct {
		RegistryId, RepositoryName string
		ImageIds                   []imageID
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkImageIDs(in.ImageIds); err != nil {
		return nil, err
	}
	r, err := a.repository(ctx, c, in.RegistryId, in.RepositoryName, "ecr:BatchDeleteImage")
	if err != nil {
		return nil, err
	}
	deleted := []imageID{}
	var failures []imageFailure
	for _, id := range in.ImageIds {
		images, err := a.Registry.Images(ctx, r.Name)
		if err != nil {
			return nil, err
		}
		found, ids, fails := findImages([]imageID{id}, images)
		if len(fails) > 0 {
			failures = append(failures, fails...)
			continue
		}
		im := found[0]
		if id.ImageTag != "" && id.ImageDigest == "" {
			// Removing a tag; the image goes with its last tag, as in ECR.
			if err := a.Registry.DeleteManifest(ctx, r.Name, id.ImageTag); err != nil {
				return nil, err
			}
			if len(im.Tags) > 1 {
				deleted = append(deleted, ids[0])
				continue
			}
		}
		err = a.Registry.DeleteManifest(ctx, r.Name, im.Digest)
		if err != nil && !errors.Is(err, registry.ErrManifestUnknown) {
			return nil, err
		}
		if id.ImageTag != "" {
			deleted = append(deleted, ids[0])
			continue
		}
		if len(im.Tags) == 0 {
			deleted = append(deleted, imageID{ImageDigest: im.Digest})
		}
		for _, t := range im.Tags {
			deleted = append(deleted, imageID{ImageDigest: im.Digest, ImageTag: t})
		}
	}
	return map[string]any{"imageIds": deleted, "failures": nonNil(failures)}, nil
}

func (a *API) batchCheckLayerAvailability(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct {
		RegistryId, RepositoryName string
		LayerDigests               []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.LayerDigests) < 1 || len(in.LayerDigests) > 100 {
		return nil, invalidParameter("1 validation error detected: Value at 'layerDigests' failed to satisfy constraint: Member must have length between 1 and 100")
	}
	r, err := a.repository(ctx, c, in.RegistryId, in.RepositoryName, "ecr:BatchCheckLayerAvailability")
	if err != nil {
		return nil, err
	}
	layers := []map[string]any{}
	failures := []map[string]any{}
	for _, d := range in.LayerDigests {
		size, err := a.Registry.StatBlob(ctx, r.Name, d)
		switch {
		case err == nil:
			layers = append(layers, map[string]any{"layerDigest": d, "layerAvailability": "AVAILABLE", "layerSize": size})
		case errors.Is(err, registry.ErrDigestInvalid):
			failures = append(failures, map[string]any{"layerDigest": d, "failureCode": "InvalidLayerDigest", "failureReason": "Invalid layer digest"})
		default:
			failures = append(failures, map[string]any{"layerDigest": d, "failureCode": "MissingLayerDigest", "failureReason": "Could not find layer"})
		}
	}
	return map[string]any{"layers": layers, "failures": failures}, nil
}
