package service

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/dockerfile"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

const kindContainerRecipe = arn.TypeContainerRecipe

func (s *Service) containerRecipeHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpCreateContainerRecipe:    handle(s.CreateContainerRecipe),
		awsapi.OpGetContainerRecipe:       handle(s.GetContainerRecipe),
		awsapi.OpListContainerRecipes:     handle(s.ListContainerRecipes),
		awsapi.OpDeleteContainerRecipe:    handle(s.DeleteContainerRecipe),
		awsapi.OpPutContainerRecipePolicy: handle(s.PutContainerRecipePolicy),
		awsapi.OpGetContainerRecipePolicy: handle(s.GetContainerRecipePolicy),
	}
}

// maxDockerfileTemplateBytes bounds a template fetched through
// dockerfileTemplateUri; inline data is bounded by the model (16,000).
const maxDockerfileTemplateBytes = 64 << 10

// storedContainerRecipe is a container recipe's stored document: the
// API's ContainerRecipe shape, plus the request members that shape has no
// place for but a build needs — the platform and OS version overrides and
// the template's source URI — under their request member names. Get
// decodes the document into awsapi.ContainerRecipe, which drops them.
type storedContainerRecipe struct {
	awsapi.ContainerRecipe
	PlatformOverride       string `json:"platformOverride,omitempty"`
	ImageOsVersionOverride string `json:"imageOsVersionOverride,omitempty"`
	DockerfileTemplateUri  string `json:"dockerfileTemplateUri,omitempty"`
}

// CreateContainerRecipe stores a new container recipe version. The
// Dockerfile template comes inline or from dockerfileTemplateUri (fetched
// now and stored, so Get returns the template text either way) and must
// use Image Builder's placeholders correctly. The parent image may be any
// OCI image reference or an Image Builder image ARN. The recipe's platform
// is platformOverride when given, else the parent image's when kiln knows
// it, else Linux; components must have that platform.
func (s *Service) CreateContainerRecipe(ctx context.Context, account string, in *awsapi.CreateContainerRecipeRequest) (*awsapi.CreateContainerRecipeResponse, error) {
	version, err := parseSemanticVersion(in.SemanticVersion)
	if err != nil {
		return nil, err
	}
	if err := checkComponentCount(in.Components); err != nil {
		return nil, err
	}
	if err := checkPlatformsTag("tags", in.Tags); err != nil {
		return nil, err
	}
	if in.InstanceConfiguration != nil {
		if err := checkBlockDeviceMappings("instanceConfiguration.blockDeviceMappings", in.InstanceConfiguration.BlockDeviceMappings); err != nil {
			return nil, err
		}
	}
	template, member, err := s.dockerfileTemplate(ctx, in.DockerfileTemplateData, in.DockerfileTemplateUri)
	if err != nil {
		return nil, err
	}
	if err := checkDockerfileTemplate(member, template); err != nil {
		return nil, err
	}
	recipe := storedContainerRecipe{
		ContainerRecipe: awsapi.ContainerRecipe{
			ContainerType:          in.ContainerType,
			Name:                   in.Name,
			Description:            in.Description,
			Owner:                  account,
			Version:                version.String(),
			Components:             in.Components,
			InstanceConfiguration:  in.InstanceConfiguration,
			DockerfileTemplateData: template,
			KmsKeyId:               in.KmsKeyId,
			// Like component documents, recipes are encrypted at rest with
			// the caller's key or a service-owned one: always true.
			Encrypted:        ptr(true),
			ParentImage:      in.ParentImage,
			WorkingDirectory: in.WorkingDirectory,
			TargetRepository: in.TargetRepository,
		},
		PlatformOverride:       in.PlatformOverride,
		ImageOsVersionOverride: in.ImageOsVersionOverride,
		DockerfileTemplateUri:  in.DockerfileTemplateUri,
	}
	out := &awsapi.CreateContainerRecipeResponse{ClientToken: in.ClientToken}
	err = s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpCreateContainerRecipe, in.ClientToken, in, out, func() error {
			parent, err := s.resolveParentImage(ctx, tx, account, "parentImage", in.ParentImage, true)
			if err != nil {
				return err
			}
			recipe.Platform = parent.Platform
			if in.PlatformOverride != "" {
				recipe.Platform = in.PlatformOverride
			}
			osVersion := parent.OsVersion
			if in.ImageOsVersionOverride != "" {
				osVersion = in.ImageOsVersionOverride
			}
			if err := s.checkRecipeComponents(ctx, tx, account, in.Components, recipe.Platform, osVersion); err != nil {
				return err
			}
			a, err := s.insertRecipe(ctx, tx, account, kindContainerRecipe, "ContainerRecipe", in.Name, recipe.Version, in.Tags,
				func(a string, now time.Time) any {
					recipe.Arn = a
					recipe.DateCreated = formatDateTime(now)
					return recipe
				})
			out.ContainerRecipeArn = a
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	out.LatestVersionReferences = latestVersionReferences(out.ContainerRecipeArn)
	return out, nil
}

// dockerfileTemplate returns the template a CreateContainerRecipe call
// carries — exactly one of inline data or a URI, fetched now like a
// component's uri — and the member it came from, for error messages.
func (s *Service) dockerfileTemplate(ctx context.Context, data, uri string) (text, member string, err error) {
	switch {
	case data != "" && uri != "":
		return "", "", invalidRequest("You must specify either 'dockerfileTemplateData' or 'dockerfileTemplateUri', not both.")
	case data == "" && uri == "":
		return "", "", invalidRequest("You must specify either 'dockerfileTemplateData' or 'dockerfileTemplateUri'.")
	case data != "":
		return data, "dockerfileTemplateData", nil
	}
	if s.Fetch == nil {
		return "", "", badValue("dockerfileTemplateUri", "kiln has no document source configured for '%s'.", uri)
	}
	b, err := s.Fetch.Fetch(ctx, uri, maxDockerfileTemplateBytes)
	if err != nil {
		return "", "", badValue("dockerfileTemplateUri", "The Dockerfile template at '%s' could not be read: %v", uri, err)
	}
	if strings.IndexByte(string(b), 0) >= 0 {
		return "", "", badValue("dockerfileTemplateUri", "The Dockerfile template at '%s' contains a NUL byte.", uri)
	}
	return string(b), "dockerfileTemplateUri", nil
}

// imageReferencePattern is the OCI distribution grammar for an image
// reference: an optional registry host (with port), slash-separated
// lowercase path components, and a tag and/or digest.
var imageReferencePattern = func() *regexp.Regexp {
	const (
		hostLabel = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
		host      = hostLabel + `(?:\.` + hostLabel + `)*(?::[0-9]+)?`
		component = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
		path      = component + `(?:/` + component + `)*`
		tag       = `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
		digest    = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
	)
	return regexp.MustCompile(`^(?:` + host + `/)?` + path + `(?::` + tag + `)?(?:@` + digest + `)?$`)
}()

// validImageReference reports whether s is a well-formed OCI image
// reference whose repository name is at most 255 characters.
func validImageReference(s string) bool {
	name := s
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	return len(name) <= 255 && imageReferencePattern.MatchString(s)
}

func decodeContainerRecipe(r store.Resource) (awsapi.ContainerRecipe, error) {
	var recipe awsapi.ContainerRecipe
	if err := json.Unmarshal(r.Doc, &recipe); err != nil {
		return recipe, fmt.Errorf("stored container recipe %s: %w", r.ARN, err)
	}
	recipe.Owner = ownerName(r.Account)
	if len(r.Tags) > 0 {
		recipe.Tags = r.Tags
	}
	return recipe, nil
}

// GetContainerRecipe returns a container recipe version as it was
// created, with the template text even when it came from a URI.
func (s *Service) GetContainerRecipe(ctx context.Context, account string, in *awsapi.GetContainerRecipeRequest) (*awsapi.GetContainerRecipeResponse, error) {
	a, err := s.parseARN("containerRecipeArn", in.ContainerRecipeArn, kindContainerRecipe)
	if err != nil {
		return nil, err
	}
	recipe, err := getDecoded(ctx, s, account, a, "ContainerRecipe", decodeContainerRecipe)
	if err != nil {
		return nil, err
	}
	return &awsapi.GetContainerRecipeResponse{ContainerRecipe: &recipe, LatestVersionReferences: latestVersionReferences(recipe.Arn)}, nil
}

var containerRecipeFilters = filterFields{
	"containerType": store.DocField("containerType"),
	"name":          store.DocField("name"),
	"parentImage":   store.DocField("parentImage"),
	"platform":      store.DocField("platform"),
}

// ListContainerRecipes lists container recipe versions by name, then
// version.
func (s *Service) ListContainerRecipes(ctx context.Context, account string, in *awsapi.ListContainerRecipesRequest) (*awsapi.ListContainerRecipesResponse, error) {
	match, err := containerRecipeFilters.compile(in.Filters)
	if err != nil {
		return nil, err
	}
	q := store.Query{Kind: kindContainerRecipe, Region: s.Region}
	ownerQuery(&q, in.Owner, account)
	if len(in.Filters) > 0 {
		q.Where = append(q.Where, match...)
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{op: awsapi.OpListContainerRecipes, params: params, maxResults: in.MaxResults, nextToken: in.NextToken, query: q}
	list, next, err := listRows(ctx, s, p, func(r store.Resource) (awsapi.ContainerRecipeSummary, error) {
		recipe, err := decodeContainerRecipe(r)
		return awsapi.ContainerRecipeSummary{
			Arn: recipe.Arn, ContainerType: recipe.ContainerType, Name: recipe.Name, Platform: recipe.Platform,
			Owner: recipe.Owner, ParentImage: recipe.ParentImage, DateCreated: recipe.DateCreated, Tags: recipe.Tags,
		}, err
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.ListContainerRecipesResponse{ContainerRecipeSummaryList: list, NextToken: next}, nil
}

// DeleteContainerRecipe deletes the caller's container recipe version
// unless an image pipeline uses it.
func (s *Service) DeleteContainerRecipe(ctx context.Context, account string, in *awsapi.DeleteContainerRecipeRequest) (*awsapi.DeleteContainerRecipeResponse, error) {
	a, err := s.parseARN("containerRecipeArn", in.ContainerRecipeArn, kindContainerRecipe)
	if err != nil {
		return nil, err
	}
	if err := s.deleteUnlessPipelineUses(ctx, account, a, "ContainerRecipe"); err != nil {
		return nil, err
	}
	return &awsapi.DeleteContainerRecipeResponse{ContainerRecipeArn: a.String()}, nil
}

// PutContainerRecipePolicy implements the operation.
func (s *Service) PutContainerRecipePolicy(ctx context.Context, account string, in *awsapi.PutContainerRecipePolicyRequest) (*awsapi.PutContainerRecipePolicyResponse, error) {
	if err := s.putPolicy(ctx, account, containerRecipePolicy, in.ContainerRecipeArn, in.Policy); err != nil {
		return nil, err
	}
	return &awsapi.PutContainerRecipePolicyResponse{ContainerRecipeArn: in.ContainerRecipeArn}, nil
}

// GetContainerRecipePolicy implements the operation.
func (s *Service) GetContainerRecipePolicy(ctx context.Context, account string, in *awsapi.GetContainerRecipePolicyRequest) (*awsapi.GetContainerRecipePolicyResponse, error) {
	policy, err := s.getPolicy(ctx, account, containerRecipePolicy, in.ContainerRecipeArn)
	if err != nil {
		return nil, err
	}
	return &awsapi.GetContainerRecipePolicyResponse{Policy: policy}, nil
}

// checkDockerfileTemplate parses and validates template text for a Create
// call, answering problems as InvalidParameterValueException on member.
func checkDockerfileTemplate(member, text string) error {
	t, err := dockerfile.ParseTemplate(text)
	if err == nil {
		err = t.Validate()
	}
	if err != nil {
		return badValue(member, "The Dockerfile template is not valid: %v", err)
	}
	return nil
}
