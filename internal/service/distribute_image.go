package service

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/store"
)

func (s *Service) distributeImageHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpDistributeImage: handle(s.DistributeImage),
	}
}

// DistributeImage distributes an image built before with another
// distribution configuration, without building it again: kiln queues a
// job that runs only the image's distribution workflow (its own custom
// one, else Amazon's distribute-image or distribute-container) over what
// the build left — new AMIs in every region and account the configuration
// names, with its names, tags and launch permissions, or the container
// image pushed to the configuration's repositories. The run is recorded on
// the image as a DISTRIBUTION workflow execution (ListWorkflowExecutions),
// and the new AMIs or image URIs are added to its outputResources. The
// response names the image distributed.
//
// sourceImage is an image build version ARN (…/image/NAME/M.m.p/BUILD),
// an image version ARN (…/M.m.p: its latest AVAILABLE build the caller
// can see, as Image Builder resolves it) or an AMI id of kiln's catalogue
// the caller may launch (the image that made it). The SSM parameter form
// (ssm:NAME) is refused: kiln has no Parameter Store. The image must be
// AVAILABLE and visible to the caller (its own, or shared by a resource
// policy), and so must the distribution configuration; the distribution
// acts as the caller, whose account owns the AMIs it registers and whose
// rights the registry checks; its record (the workflow execution, the
// logs) stays with the image's owner, as a build's does. While the job
// waits or runs the image is DISTRIBUTING (a second DistributeImage is
// ResourceInUseException; CancelImageCreation stops it); afterwards it is
// AVAILABLE again, a failure being the state's reason. executionRole is
// recorded in the build log only: kiln has no IAM; loggingConfiguration's
// CloudWatch log group is accepted and unused, kiln keeps the logs itself
// (`kiln logs`). tags go onto the AMIs the distribution registers.
// Idempotent by clientToken.
func (s *Service) DistributeImage(ctx context.Context, account string, in *awsapi.DistributeImageRequest) (*awsapi.DistributeImageResponse, error) {
	dca, err := s.parseNamedARN("distributionConfigurationArn", in.DistributionConfigurationArn, kindDistribution)
	if err != nil {
		return nil, err
	}
	if _, err := s.parseSourceImage(in.SourceImage); err != nil {
		return nil, err
	}
	out := &awsapi.DistributeImageResponse{ClientToken: in.ClientToken}
	err = s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpDistributeImage, in.ClientToken, in, out, func() error {
			row, img, err := s.sourceImage(ctx, tx, account, in.SourceImage)
			if err != nil {
				return err
			}
			switch st := imageStatus(img); st {
			case awsapi.ImageStatusAvailable:
			case awsapi.ImageStatusDistributing:
				return awsapi.Errorf(awsapi.ErrCodeResourceInUseException,
					"The image '%s' is being distributed; wait until it is AVAILABLE again.", img.Arn)
			default:
				return invalidRequest("The image '%s' is %s; only an AVAILABLE image can be distributed.", img.Arn, st)
			}
			if !hasArtifact(img) {
				return invalidRequest("The image '%s' has no %s to distribute.", img.Arn, artifactName(img.Type))
			}
			dr, err := s.getVisible(ctx, tx, account, dca, "Distribution Configuration")
			if err != nil {
				return err
			}
			dc, err := decodeDistribution(dr)
			if err != nil {
				return err
			}
			dc.Tags = nil
			if img.Type == awsapi.ImageTypeDocker && !s.hasContainerDistribution(dc) {
				return badValue("distributionConfigurationArn",
					"The distribution configuration '%s' names no container repository for %s, where kiln's registry is, or for a region kiln serve --registry-for maps to another registry: it has nothing to distribute a container image to.", dc.Arn, s.Region)
			}
			wfs, err := s.buildWorkflows(ctx, tx, row.Account, img.Type, img.Workflows)
			if err != nil {
				return invalidRequest("The workflows the image '%s' was built with cannot be resolved any more: %v", img.Arn, err)
			}
			spec := engine.Spec{Distribution: &engine.DistributionSpec{
				Configuration: dc, ExecutionRole: in.ExecutionRole, Tags: in.Tags,
			}}
			for _, w := range wfs {
				if w.Type == awsapi.WorkflowTypeDistribution {
					spec.Workflows = append(spec.Workflows, w)
				}
			}
			err = engine.EnqueueDistribution(ctx, tx, row, account, spec, s.now())
			if errors.Is(err, engine.ErrBusy) {
				return awsapi.Errorf(awsapi.ErrCodeResourceInUseException, "The image '%s' has a build or a distribution in progress.", img.Arn)
			}
			out.ImageBuildVersionArn = img.Arn
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	s.wakeBuilds()
	return out, nil
}

// sourceRef is what DistributeImage's sourceImage names: an AMI id of
// kiln's catalogue, or an image ARN with a version and maybe a build.
type sourceRef struct {
	AMI   string
	Image arn.ARN
}

// parseSourceImage reads sourceImage's forms without looking anything up:
// ami-…, or an image ARN naming a version (…/image/NAME/M.m.p) or one
// build of it. The SSM parameter form (ssm:…) is refused: kiln has no
// Parameter Store.
func (s *Service) parseSourceImage(source string) (sourceRef, error) {
	const member = "sourceImage"
	switch {
	case strings.HasPrefix(source, "ssm:"):
		return sourceRef{}, badValue(member, "kiln has no Systems Manager Parameter Store, so '%s' cannot be read; give the image's ARN or AMI id.", source)
	case strings.HasPrefix(source, "ami-"):
		if len(source) < 5 || strings.ContainsFunc(source[4:], func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') }) {
			return sourceRef{}, badValue(member, "'%s' is not an AMI id (ami- and hexadecimal digits).", source)
		}
		return sourceRef{AMI: source}, nil
	case !strings.HasPrefix(source, "arn:"):
		return sourceRef{}, badValue(member, "'%s' is neither an image ARN nor an AMI id (ami-…).", source)
	}
	a, err := s.parseARN(member, source, kindImage)
	if err != nil {
		return sourceRef{}, err
	}
	if a.Version == "" || strings.Contains(a.Version, "x") {
		return sourceRef{}, badValue(member,
			"The image ARN '%s' must name a version (…/image/NAME/M.m.p) or one build of it (…/M.m.p/BUILD).", source)
	}
	return sourceRef{Image: a}, nil
}

// sourceImage finds the image build DistributeImage's sourceImage names
// for account: a build ARN, a version ARN (latest AVAILABLE build) or an
// AMI id.
func (s *Service) sourceImage(ctx context.Context, tx store.Tx, account, source string) (store.Resource, awsapi.Image, error) {
	ref, err := s.parseSourceImage(source)
	if err != nil {
		return store.Resource{}, awsapi.Image{}, err
	}
	if ref.AMI != "" {
		a, err := ami.Get(ctx, tx, ref.AMI)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !a.LaunchableBy(account)) {
			return store.Resource{}, awsapi.Image{}, notFound("The AMI '%s' does not exist.", source)
		} else if err != nil {
			return store.Resource{}, awsapi.Image{}, err
		}
		if ref, err = s.parseSourceImage(a.Image); err != nil || a.Image == "" {
			return store.Resource{}, awsapi.Image{}, badValue("sourceImage", "The AMI '%s' was not made by Image Builder.", source)
		}
	}
	a := ref.Image
	var r store.Resource
	if a.Build > 0 {
		if r, err = s.getVisible(ctx, tx, account, a, "Image"); err != nil {
			return r, awsapi.Image{}, err
		}
	} else {
		if a.Region != s.Region {
			return r, awsapi.Image{}, notFound("The resource Image '%s' does not exist.", source)
		}
		rows, err := tx.List(ctx, store.Query{Kind: kindImage, Region: s.Region, Owners: []string{a.Account}, Name: a.Name, Version: a.Version})
		if err != nil {
			return r, awsapi.Image{}, err
		}
		for i := len(rows) - 1; i >= 0 && r.ARN == ""; i-- {
			if !visible(rows[i], account) {
				continue
			}
			if img, err := decodeImage(rows[i]); err == nil && imageStatus(img) == awsapi.ImageStatusAvailable {
				r = rows[i]
			}
		}
		if r.ARN == "" {
			return r, awsapi.Image{}, notFound("The image version '%s' has no AVAILABLE build.", source)
		}
	}
	img, err := decodeImage(r)
	return r, img, err
}

// hasArtifact reports whether an image's build left what a distribution
// copies: AMIs, or a container image.
func hasArtifact(img awsapi.Image) bool {
	o := img.OutputResources
	if o == nil {
		return false
	}
	if img.Type == awsapi.ImageTypeDocker {
		return len(o.Containers) > 0 && img.ContainerRecipe != nil
	}
	return len(o.Amis) > 0
}

func artifactName(imageType string) string {
	if imageType == awsapi.ImageTypeDocker {
		return "container image"
	}
	return "AMI"
}

// hasContainerDistribution reports whether a distribution configuration
// names a container repository in kiln's region.
func (s *Service) hasContainerDistribution(dc awsapi.DistributionConfiguration) bool {
	for _, d := range dc.Distributions {
		if c := d.ContainerDistributionConfiguration; c != nil && c.TargetRepository != nil && (d.Region == s.Region || slices.Contains(s.ContainerRegions, d.Region)) {
			return true
		}
	}
	return false
}
