package service

import (
	"context"
	"maps"
	"strings"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

func (s *Service) taggingHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpTagResource:         handle(s.TagResource),
		awsapi.OpUntagResource:       handle(s.UntagResource),
		awsapi.OpListTagsForResource: handle(s.ListTagsForResource),
	}
}

// maxTags is the most tags one resource carries.
const maxTags = 50

// taggedResource finds the concrete resource a tagging call names. Tags
// live on concrete resources (a component build, a recipe version, a named
// configuration); a version or wildcard ARN names its latest build.
func (s *Service) taggedResource(ctx context.Context, tx store.Tx, account, resourceARN string, mustOwn bool) (store.Resource, error) {
	a, err := arn.Parse(resourceARN)
	if err != nil {
		return store.Resource{}, awsapi.Errorf(awsapi.ErrCodeInvalidParameterException,
			"The value supplied for parameter 'resourceArn' is not valid. %v", err)
	}
	r, err := s.resolve(ctx, tx, account, a, "resource")
	if err != nil {
		return r, err
	}
	if mustOwn && r.Account != account {
		return r, notFound("The resource '%s' does not exist.", resourceARN)
	}
	return r, nil
}

func checkTagKeys[T any](keys map[string]T) error {
	for k := range keys {
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return awsapi.Errorf(awsapi.ErrCodeInvalidParameterException,
				"The value supplied for parameter 'tags' is not valid. The tag key '%s' uses the reserved prefix 'aws:'.", k)
		}
	}
	return nil
}

// TagResource adds or replaces tags on a resource the caller owns.
func (s *Service) TagResource(ctx context.Context, account string, in *awsapi.TagResourceRequest) (*awsapi.TagResourceResponse, error) {
	if err := checkTagKeys(in.Tags); err != nil {
		return nil, err
	}
	if err := checkGateTag("tags", in.Tags); err != nil {
		return nil, err
	}
	err := s.update(ctx, func(tx store.Tx) error {
		r, err := s.taggedResource(ctx, tx, account, in.ResourceArn, true)
		if err != nil {
			return err
		}
		tags := maps.Clone(r.Tags)
		if tags == nil {
			tags = map[string]string{}
		}
		maps.Copy(tags, in.Tags)
		if len(tags) > maxTags {
			return awsapi.Errorf(awsapi.ErrCodeInvalidParameterException,
				"The value supplied for parameter 'tags' is not valid. A resource can have at most %d tags.", maxTags)
		}
		r.Tags = tags
		r.Updated = s.now()
		return tx.Put(ctx, r)
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.TagResourceResponse{}, nil
}

// UntagResource removes tags; keys the resource does not have are ignored.
func (s *Service) UntagResource(ctx context.Context, account string, in *awsapi.UntagResourceRequest) (*awsapi.UntagResourceResponse, error) {
	err := s.update(ctx, func(tx store.Tx) error {
		r, err := s.taggedResource(ctx, tx, account, in.ResourceArn, true)
		if err != nil {
			return err
		}
		tags := maps.Clone(r.Tags)
		for _, k := range in.TagKeys {
			delete(tags, k)
		}
		r.Tags = tags
		r.Updated = s.now()
		return tx.Put(ctx, r)
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.UntagResourceResponse{}, nil
}

// ListTagsForResource lists a visible resource's tags.
func (s *Service) ListTagsForResource(ctx context.Context, account string, in *awsapi.ListTagsForResourceRequest) (*awsapi.ListTagsForResourceResponse, error) {
	out := &awsapi.ListTagsForResourceResponse{Tags: map[string]string{}}
	err := s.view(ctx, func(tx store.Tx) error {
		r, err := s.taggedResource(ctx, tx, account, in.ResourceArn, false)
		if err != nil {
			return err
		}
		maps.Copy(out.Tags, r.Tags)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
