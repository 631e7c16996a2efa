package service

import (
	"context"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/instancetype"
	"github.com/kiln-build/kiln/internal/platform"
	"github.com/kiln-build/kiln/internal/store"
)

// checkPlatformsTag refuses a kiln:platforms tag kiln could not build, so
// a recipe never stores a list its builds would fail on.
func checkPlatformsTag(member string, tags map[string]string) error {
	v, ok := tags[platform.Tag]
	if !ok {
		return nil
	}
	if _, err := platform.Parse(v); err != nil {
		return badValue(member, "The tag %s=%q is not a list of platforms kiln builds: %v.", platform.Tag, v, err)
	}
	return nil
}

// containerPlatforms decides, when a container image is created, which
// platforms its build makes (engine.Spec.Platforms), and refuses now what
// the build could only fail on:
//   - the recipe's kiln:platforms tag, when set, lists them; a parent
//     without an image of each is refused;
//   - otherwise the infrastructure configuration's instance types decide
//     (Graviton types build linux/arm64, others linux/amd64), and a
//     parent of the other architecture only is refused, naming both, as
//     for machine images;
//   - otherwise a parent of one platform gives its own; nil leaves the
//     choice to the build (the parent's own platform).
//
// The parent's platforms are known for images in kiln's registry
// (ContainerParentPlatforms); a parent elsewhere is checked by its build.
func (s *Service) containerPlatforms(ctx context.Context, recipeTags map[string]string, parentRef, infraArn string, ic awsapi.InfrastructureConfiguration) ([]string, error) {
	var parent []v1.Platform
	if s.ContainerParentPlatforms != nil {
		var err error
		if parent, err = s.ContainerParentPlatforms(ctx, parentRef); err != nil {
			return nil, badValue("containerRecipeArn", "The parent image %s cannot be read: %v.", parentRef, err)
		}
	}
	has := func(p v1.Platform) bool {
		return parent == nil || slices.ContainsFunc(parent, func(q v1.Platform) bool { return platform.SameArch(p, q) })
	}
	if v, ok := recipeTags[platform.Tag]; ok {
		want, err := platform.Parse(v)
		if err != nil {
			return nil, badValue("containerRecipeArn", "The recipe's tag %s=%q is not a list of platforms kiln builds: %v.", platform.Tag, v, err)
		}
		var names []string
		for _, p := range want {
			if !has(p) {
				return nil, badValue("containerRecipeArn", "The recipe's tag %s asks for %s, but the parent image %s has no %s image (it has %s).",
					platform.Tag, platform.String(p), parentRef, platform.String(p), platformNames(parent))
			}
			names = append(names, platform.String(p))
		}
		return names, nil
	}
	for _, t := range ic.InstanceTypes {
		p, ok := platform.ForEC2Arch(instancetype.Architecture(t))
		if !ok {
			continue
		}
		if !has(p) {
			other := "Intel or AMD types such as t3, c6i or m7a"
			if len(parent) > 0 && parent[0].Architecture == "arm64" {
				other = "Graviton types such as t4g, c7g or m7g"
			}
			return nil, badValue("infrastructureConfigurationArn",
				"The instance type '%s' of infrastructure configuration '%s' is %s, but the parent image %s is %s only; use instance types of its architecture (%s), or a parent with a %s image.",
				t, infraArn, platform.EC2Arch(p), parentRef, platformNames(parent), other, platform.String(p))
		}
		return []string{platform.String(p)}, nil
	}
	if len(parent) == 1 {
		return []string{platform.String(parent[0])}, nil
	}
	return nil, nil
}

func platformNames(ps []v1.Platform) string {
	var names []string
	for _, p := range ps {
		names = append(names, platform.String(p))
	}
	return strings.Join(names, ", ")
}

// checkContainerPipelinePlatforms applies containerPlatforms' refusals to
// a container pipeline when it is created or updated, as
// checkPipelineArchitecture does for image recipes: a pipeline whose every
// build would be refused is refused now. A parent that does not resolve
// yet is left to each build.
func (s *Service) checkContainerPipelinePlatforms(ctx context.Context, tx store.Tx, account string, recipe, infra store.Resource) error {
	r, err := decodeContainerRecipe(recipe)
	if err != nil {
		return nil
	}
	parent, err := s.containerParent(ctx, tx, account, r.ParentImage)
	if err != nil {
		return nil
	}
	ic, err := decodeInfrastructure(infra)
	if err != nil {
		return nil
	}
	_, err = s.containerPlatforms(ctx, r.Tags, parent, infra.ARN, ic)
	return err
}
