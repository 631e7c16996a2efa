package service

import (
	"context"
	"strings"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/instancetype"
	"github.com/kiln-build/kiln/internal/store"
)

// checkInstanceArchitecture refuses an infrastructure configuration whose
// instance types cannot boot the parent image: on EC2 a Graviton (arm64)
// instance does not start an x86_64 AMI, nor the reverse, and Image
// Builder's build would fail at launch. kiln knows both sides — the
// parent's architecture from its own programs (AMI.Architecture), the
// instance type's from its family name — so it says so when the build or
// pipeline is created, naming both. Unknown instance types and parents
// whose architecture was never recorded pass.
func checkInstanceArchitecture(parent ami.AMI, infraArn string, ic awsapi.InfrastructureConfiguration) error {
	if parent.Architecture == "" {
		return nil
	}
	for _, t := range ic.InstanceTypes {
		arch := instancetype.Architecture(t)
		if arch == "" || arch == parent.Architecture {
			continue
		}
		hint := "Graviton types such as t4g, c7g or m7g"
		if parent.Architecture != "arm64" {
			hint = "Intel or AMD types such as t3, c6i or m7a"
		}
		return badValue("infrastructureConfigurationArn",
			"The instance type '%s' of infrastructure configuration '%s' is %s, but the parent image %s is %s; use %s instance types (%s).",
			t, infraArn, arch, parent.ImageID, parent.Architecture, parent.Architecture, hint)
	}
	return nil
}

// checkPipelineArchitecture applies checkInstanceArchitecture to a
// pipeline's image recipe and infrastructure configuration when both
// resolve now (a wildcard parent with no AVAILABLE image yet is checked
// by each build instead).
func (s *Service) checkPipelineArchitecture(ctx context.Context, tx store.Tx, account string, recipe, infra store.Resource) error {
	if strings.Contains(recipe.ARN, ":container-recipe/") {
		return s.checkContainerPipelinePlatforms(ctx, tx, account, recipe, infra)
	}
	if !strings.Contains(recipe.ARN, ":image-recipe/") {
		return nil
	}
	r, err := decodeImageRecipe(recipe)
	if err != nil {
		return nil
	}
	parent, err := s.parentAMI(ctx, tx, account, r.ParentImage)
	if err != nil {
		return nil
	}
	ic, err := decodeInfrastructure(infra)
	if err != nil {
		return nil
	}
	return checkInstanceArchitecture(parent, infra.ARN, ic)
}
