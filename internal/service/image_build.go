package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/catalog"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/scan"
	"github.com/kiln-build/kiln/internal/store"
)

func (s *Service) imageBuildHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpCreateImage:         handle(s.CreateImage),
		awsapi.OpCancelImageCreation: handle(s.CancelImageCreation),
		awsapi.OpRetryImage:          handle(s.RetryImage),
		awsapi.OpDeleteImage:         handle(s.DeleteImage),
		awsapi.OpPutImagePolicy:      handle(s.PutImagePolicy),
		awsapi.OpGetImagePolicy:      handle(s.GetImagePolicy),
	}
}

// imageRequest is what a build is asked for, by CreateImage or by a
// pipeline run.
type imageRequest struct {
	ImageRecipeArn, ContainerRecipeArn string
	InfrastructureConfigurationArn     string
	DistributionConfigurationArn       string
	ImageTestsConfiguration            *awsapi.ImageTestsConfiguration
	EnhancedImageMetadataEnabled       *bool
	ImageScanningConfiguration         *awsapi.ImageScanningConfiguration
	Workflows                          []awsapi.WorkflowConfiguration
	ExecutionRole                      string
	LoggingConfiguration               *awsapi.ImageLoggingConfiguration
	Tags                               map[string]string

	BuildType                             string // USER_INITIATED or SCHEDULED
	SourcePipelineArn, SourcePipelineName string
}

// CreateImage stores a new image build version in PENDING and queues its
// build in the same transaction: once the call returns, the build happens
// even if kiln is killed right after.
func (s *Service) CreateImage(ctx context.Context, account string, in *awsapi.CreateImageRequest) (*awsapi.CreateImageResponse, error) {
	if err := checkGateTag("tags", in.Tags); err != nil {
		return nil, err
	}
	out := &awsapi.CreateImageResponse{ClientToken: in.ClientToken}
	err := s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpCreateImage, in.ClientToken, in, out, func() error {
			a, err := s.createImage(ctx, tx, account, imageRequest{
				ImageRecipeArn: in.ImageRecipeArn, ContainerRecipeArn: in.ContainerRecipeArn,
				InfrastructureConfigurationArn: in.InfrastructureConfigurationArn,
				DistributionConfigurationArn:   in.DistributionConfigurationArn,
				ImageTestsConfiguration:        in.ImageTestsConfiguration,
				EnhancedImageMetadataEnabled:   in.EnhancedImageMetadataEnabled,
				ImageScanningConfiguration:     in.ImageScanningConfiguration,
				Workflows:                      in.Workflows, ExecutionRole: in.ExecutionRole,
				LoggingConfiguration: in.LoggingConfiguration, Tags: in.Tags,
				BuildType: awsapi.BuildTypeUserInitiated,
			})
			out.ImageBuildVersionArn = a
			out.LatestVersionReferences = latestVersionReferences(a)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	s.wakeBuilds()
	return out, nil
}

func (s *Service) wakeBuilds() {
	if s.Builds != nil {
		s.Builds.Wake()
	}
}

// createImage resolves everything a build needs, stores the image in
// PENDING and enqueues its job, all in tx. It returns the image's ARN.
func (s *Service) createImage(ctx context.Context, tx store.Tx, account string, req imageRequest) (string, error) {
	if (req.ImageRecipeArn == "") == (req.ContainerRecipeArn == "") {
		return "", invalidRequest("Exactly one of 'imageRecipeArn' and 'containerRecipeArn' must be given.")
	}
	if req.InfrastructureConfigurationArn == "" {
		return "", badValue("infrastructureConfigurationArn", "infrastructureConfigurationArn is required.")
	}
	img := awsapi.Image{
		EnhancedImageMetadataEnabled: req.EnhancedImageMetadataEnabled,
		ImageTestsConfiguration:      req.ImageTestsConfiguration,
		ImageScanningConfiguration:   req.ImageScanningConfiguration,
		Workflows:                    req.Workflows,
		ExecutionRole:                req.ExecutionRole,
		LoggingConfiguration:         req.LoggingConfiguration,
		BuildType:                    req.BuildType,
		SourcePipelineArn:            req.SourcePipelineArn,
		SourcePipelineName:           req.SourcePipelineName,
		ImageSource:                  awsapi.ImageSourceCustom,
	}
	if img.EnhancedImageMetadataEnabled == nil {
		img.EnhancedImageMetadataEnabled = ptr(true)
	}
	if img.ImageTestsConfiguration == nil {
		img.ImageTestsConfiguration = &awsapi.ImageTestsConfiguration{ImageTestsEnabled: ptr(true), TimeoutMinutes: ptr(int32(720))}
	}
	if scan.Enabled(img.ImageScanningConfiguration) {
		img.ScanState = &awsapi.ImageScanState{Status: awsapi.ImageScanStatusPending}
	}
	var (
		spec       engine.Spec
		recipeName string
		version    string
		comps      []awsapi.ComponentConfiguration
		parentAMI  *ami.AMI // an image recipe's parent
		recipeTags map[string]string
	)
	if req.ContainerRecipeArn != "" {
		r, err := s.reference(ctx, tx, account, "containerRecipeArn", req.ContainerRecipeArn, "container recipe", arn.TypeContainerRecipe)
		if err != nil {
			return "", err
		}
		recipe, err := decodeContainerRecipe(r)
		if err != nil {
			return "", err
		}
		recipeTags, recipe.Tags = recipe.Tags, buildTags(recipe.Tags)
		img.Type, img.Platform, img.ContainerRecipe = awsapi.ImageTypeDocker, recipe.Platform, &recipe
		recipeName, version, comps = recipe.Name, recipe.Version, recipe.Components
		if spec.ParentImage, err = s.containerParent(ctx, tx, account, recipe.ParentImage); err != nil {
			return "", err
		}
	} else {
		r, err := s.reference(ctx, tx, account, "imageRecipeArn", req.ImageRecipeArn, "image recipe", arn.TypeImageRecipe)
		if err != nil {
			return "", err
		}
		recipe, err := decodeImageRecipe(r)
		if err != nil {
			return "", err
		}
		recipe.Tags = nil
		img.Type, img.Platform, img.ImageRecipe = awsapi.ImageTypeAmi, recipe.Platform, &recipe
		recipeName, version, comps = recipe.Name, recipe.Version, recipe.Components
		parent, err := s.parentAMI(ctx, tx, account, recipe.ParentImage)
		if err != nil {
			return "", err
		}
		spec.ParentImage = parent.Repository + "@" + parent.Digest
		parentAMI = &parent
		// The build launches an instance from the parent: what lifecycle
		// exclusion rules call the AMI's last launch.
		parent.LastLaunched = s.now()
		if err := ami.Put(ctx, tx, s.Region, parent, parent.LastLaunched); err != nil {
			return "", err
		}
	}
	infra, err := s.reference(ctx, tx, account, "infrastructureConfigurationArn", req.InfrastructureConfigurationArn,
		"infrastructure configuration", arn.TypeInfrastructureConfiguration)
	if err != nil {
		return "", err
	}
	ic, err := decodeInfrastructure(infra)
	if err != nil {
		return "", err
	}
	ic.Tags = nil
	if parentAMI != nil {
		if err := checkInstanceArchitecture(*parentAMI, infra.ARN, ic); err != nil {
			return "", err
		}
	}
	if img.ContainerRecipe != nil {
		if spec.Platforms, err = s.containerPlatforms(ctx, recipeTags, spec.ParentImage, infra.ARN, ic); err != nil {
			return "", err
		}
	}
	img.InfrastructureConfiguration = &ic
	if req.DistributionConfigurationArn != "" {
		r, err := s.reference(ctx, tx, account, "distributionConfigurationArn", req.DistributionConfigurationArn,
			"distribution configuration", arn.TypeDistributionConfiguration)
		if err != nil {
			return "", err
		}
		dc, err := decodeDistribution(r)
		if err != nil {
			return "", err
		}
		dc.Tags = nil
		img.DistributionConfiguration = &dc
	}
	for i, c := range comps {
		member := fmt.Sprintf("components[%d].componentArn", i)
		ca, err := s.parseARN(member, c.ComponentArn, arn.TypeComponent)
		if err != nil {
			return "", err
		}
		r, err := s.resolve(ctx, tx, account, ca, "Component")
		if err != nil {
			return "", badValue(member, "The component '%s' does not resolve to a component you can use.", c.ComponentArn)
		}
		spec.Components = append(spec.Components, engine.ComponentRef{ARN: r.ARN, Parameters: c.Parameters})
	}
	if spec.Workflows, err = s.buildWorkflows(ctx, tx, account, img.Type, req.Workflows); err != nil {
		return "", err
	}

	n, err := tx.NextBuild(ctx, account, s.Region, kindImage, arn.NormalizeName(recipeName), version)
	if err != nil {
		return "", err
	}
	a := arn.New(s.Partition, s.Region, account, kindImage, recipeName).WithVersion(version).WithBuild(n)
	now := s.now()
	img.Arn, img.Name, img.Version = a.String(), recipeName, version
	img.DateCreated = formatDateTime(now)
	img.State = &awsapi.ImageState{Status: awsapi.ImageStatusPending}
	doc, err := json.Marshal(img)
	if err != nil {
		return "", err
	}
	row := store.Resource{
		ARN: img.Arn, Kind: kindImage, Account: account, Region: s.Region,
		Name: a.Name, Version: version, Build: n, Doc: doc, Tags: req.Tags, Created: now, Updated: now,
	}
	if err := tx.Insert(ctx, row); err != nil {
		return "", err
	}
	return img.Arn, engine.Enqueue(ctx, tx, row, spec, now)
}

// containerParent turns a container recipe's parentImage into the
// reference the build pulls: an image reference as it is, or an Image
// Builder image ARN (with `x` wildcards) resolved to the first container
// URI of the latest matching AVAILABLE build.
func (s *Service) containerParent(ctx context.Context, tx store.Tx, account, parent string) (string, error) {
	a, err := arn.Parse(parent)
	if err != nil {
		return parent, nil
	}
	if a.Type != kindImage {
		return "", badValue("parentImage", "The parent image ARN '%s' is not an image ARN.", parent)
	}
	r, err := s.resolve(ctx, tx, account, a, "Image")
	if err != nil {
		return "", badValue("parentImage", "The parent image '%s' does not exist.", parent)
	}
	img, err := decodeImage(r)
	if err != nil {
		return "", err
	}
	if img.OutputResources != nil {
		for _, c := range img.OutputResources.Containers {
			if len(c.ImageUris) > 0 && (c.Region == "" || c.Region == s.Region) {
				return c.ImageUris[0], nil
			}
		}
	}
	return "", badValue("parentImage", "The parent image '%s' has no container image kiln can pull.", img.Arn)
}

// buildWorkflows picks the workflows of a build: the ones given (each
// resolved to a build ARN), and Amazon's defaults for every type not given,
// in the order build, test, distribution.
func (s *Service) buildWorkflows(ctx context.Context, tx store.Tx, account, imageType string, given []awsapi.WorkflowConfiguration) ([]engine.WorkflowRef, error) {
	byType := map[string][]engine.WorkflowRef{}
	for i, wc := range given {
		member := fmt.Sprintf("workflows[%d].workflowArn", i)
		r, err := s.reference(ctx, tx, account, member, wc.WorkflowArn, "workflow", workflowKinds...)
		if err != nil {
			return nil, err
		}
		wf, err := decodeWorkflow(r)
		if err != nil {
			return nil, err
		}
		if err := checkWorkflowParameters(i, wf, wc.Parameters); err != nil {
			return nil, err
		}
		byType[wf.Type] = append(byType[wf.Type], engine.WorkflowRef{
			ARN: r.ARN, Type: wf.Type, Parameters: wc.Parameters, OnFailure: wc.OnFailure,
		})
	}
	suffix := "-image"
	if imageType == awsapi.ImageTypeDocker {
		suffix = "-container"
	}
	defaults, err := catalog.Workflows()
	if err != nil {
		return nil, err
	}
	var out []engine.WorkflowRef
	for _, typ := range []string{awsapi.WorkflowTypeBuild, awsapi.WorkflowTypeTest, awsapi.WorkflowTypeDistribution} {
		if refs, ok := byType[typ]; ok {
			out = append(out, refs...)
			continue
		}
		for _, c := range defaults {
			if c.Type == typ && c.Name == map[string]string{
				awsapi.WorkflowTypeBuild: "build", awsapi.WorkflowTypeTest: "test", awsapi.WorkflowTypeDistribution: "distribute",
			}[typ]+suffix {
				a := arn.New(s.Partition, s.Region, AmazonAccount, workflowKind(typ), c.Name).WithVersion(c.Version).WithBuild(1)
				out = append(out, engine.WorkflowRef{ARN: a.String(), Type: typ})
			}
		}
	}
	return out, nil
}

// ownedImage reads an image build the caller owns, decoded.
func (s *Service) ownedImage(ctx context.Context, tx store.Tx, account string, a arn.ARN) (store.Resource, awsapi.Image, error) {
	r, err := s.ownedResource(ctx, tx, account, a, "Image")
	if err != nil {
		return r, awsapi.Image{}, err
	}
	img, err := decodeImage(r)
	return r, img, err
}

// imageBuildARN parses a member naming one image build version.
func (s *Service) imageBuildARN(member, value string) (arn.ARN, error) {
	a, err := s.parseARN(member, value, kindImage)
	if err != nil {
		return a, err
	}
	if a.Build == 0 {
		return a, badValue(member, "%s must name one image build version (…/image/NAME/M.m.p/BUILD).", member)
	}
	return a, nil
}

// CancelImageCreation stops a queued or running build. It returns at
// once; the worker running the build notices within about a second, stops
// the running step (killing every process it started) and the image ends
// CANCELLED.
func (s *Service) CancelImageCreation(ctx context.Context, account string, in *awsapi.CancelImageCreationRequest) (*awsapi.CancelImageCreationResponse, error) {
	a, err := s.imageBuildARN("imageBuildVersionArn", in.ImageBuildVersionArn)
	if err != nil {
		return nil, err
	}
	out := &awsapi.CancelImageCreationResponse{ClientToken: in.ClientToken, ImageBuildVersionArn: a.String()}
	err = s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpCancelImageCreation, in.ClientToken, in, out, func() error {
			_, img, err := s.ownedImage(ctx, tx, account, a)
			if err != nil {
				return err
			}
			if engine.IsTerminal(imageStatus(img)) {
				return invalidRequest("The image '%s' is %s; only an image that is still being built can be cancelled.", a, imageStatus(img))
			}
			going, err := engine.RequestCancel(ctx, tx, a.String(), s.now())
			if err == nil && !going {
				return invalidRequest("The image '%s' has no build in progress.", a)
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RetryImage builds a FAILED or CANCELLED machine image again under the
// same build version. Image Builder resumes from the phase that failed;
// kiln keeps no intermediate artifacts between attempts, so it runs the
// whole build again (same result, more time). Container images cannot be
// retried, as in Image Builder.
func (s *Service) RetryImage(ctx context.Context, account string, in *awsapi.RetryImageRequest) (*awsapi.RetryImageResponse, error) {
	a, err := s.imageBuildARN("imageBuildVersionArn", in.ImageBuildVersionArn)
	if err != nil {
		return nil, err
	}
	out := &awsapi.RetryImageResponse{ClientToken: in.ClientToken, ImageBuildVersionArn: a.String()}
	err = s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpRetryImage, in.ClientToken, in, out, func() error {
			r, img, err := s.ownedImage(ctx, tx, account, a)
			if err != nil {
				return err
			}
			if st := imageStatus(img); st != awsapi.ImageStatusFailed && st != awsapi.ImageStatusCancelled {
				return invalidRequest("The image '%s' is %s; only FAILED or CANCELLED images can be retried.", a, st)
			}
			if img.Type != awsapi.ImageTypeAmi {
				return invalidRequest("The image '%s' is a container image; RetryImage applies to AMI images only.", a)
			}
			job, err := s.retrySpec(ctx, tx, account, img)
			if err != nil {
				return err
			}
			if err := engine.DeleteImageRecords(ctx, tx, s.Region, a.String()); err != nil {
				return err
			}
			now := s.now()
			doc := img
			doc.Tags = nil
			doc.State = &awsapi.ImageState{Status: awsapi.ImageStatusPending}
			raw, err := json.Marshal(doc)
			if err != nil {
				return err
			}
			r.Doc, r.Updated = raw, now
			if err := tx.Put(ctx, r); err != nil {
				return err
			}
			return engine.Enqueue(ctx, tx, r, job, now)
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// retrySpec resolves a failed machine image's build again from the
// snapshot its record keeps (recipe, workflows).
func (s *Service) retrySpec(ctx context.Context, tx store.Tx, account string, img awsapi.Image) (engine.Spec, error) {
	var spec engine.Spec
	if img.ImageRecipe == nil {
		return spec, invalidRequest("The image '%s' was imported, not built; import it again instead.", img.Arn)
	}
	parent, err := s.parentAMI(ctx, tx, account, img.ImageRecipe.ParentImage)
	if err != nil {
		return spec, err
	}
	spec.ParentImage = parent.Repository + "@" + parent.Digest
	for i, c := range img.ImageRecipe.Components {
		ca, err := s.parseARN(fmt.Sprintf("components[%d].componentArn", i), c.ComponentArn, arn.TypeComponent)
		if err != nil {
			return spec, err
		}
		r, err := s.resolve(ctx, tx, account, ca, "Component")
		if err != nil {
			return spec, err
		}
		spec.Components = append(spec.Components, engine.ComponentRef{ARN: r.ARN, Parameters: c.Parameters})
	}
	spec.Workflows, err = s.buildWorkflows(ctx, tx, account, img.Type, img.Workflows)
	return spec, err
}

// DeleteImage removes an image's record and what kiln recorded about its
// build. As in Image Builder, the artifacts (container images in the
// registry) stay. A build in progress must be cancelled first.
func (s *Service) DeleteImage(ctx context.Context, account string, in *awsapi.DeleteImageRequest) (*awsapi.DeleteImageResponse, error) {
	a, err := s.imageBuildARN("imageBuildVersionArn", in.ImageBuildVersionArn)
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, func(tx store.Tx) error {
		r, img, err := s.ownedImage(ctx, tx, account, a)
		if err != nil {
			return err
		}
		if !engine.IsTerminal(imageStatus(img)) {
			return awsapi.Errorf(awsapi.ErrCodeResourceDependencyException,
				"The image '%s' is %s; cancel its build with CancelImageCreation before deleting it.", a, imageStatus(img))
		}
		if len(r.SharedWith) > 0 {
			return awsapi.Errorf(awsapi.ErrCodeResourceDependencyException, "The image '%s' is shared by a resource policy.", a)
		}
		if err := engine.DeleteImageRecords(ctx, tx, s.Region, a.String()); err != nil {
			return err
		}
		if err := tx.Delete(ctx, a.String()); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.DeleteImageResponse{ImageBuildVersionArn: a.String()}, nil
}

// PutImagePolicy shares an image build (and so its AMIs' use as a parent)
// with other accounts.
func (s *Service) PutImagePolicy(ctx context.Context, account string, in *awsapi.PutImagePolicyRequest) (*awsapi.PutImagePolicyResponse, error) {
	if err := s.putPolicy(ctx, account, imagePolicy, in.ImageArn, in.Policy); err != nil {
		return nil, err
	}
	return &awsapi.PutImagePolicyResponse{ImageArn: in.ImageArn}, nil
}

// GetImagePolicy implements the operation.
func (s *Service) GetImagePolicy(ctx context.Context, account string, in *awsapi.GetImagePolicyRequest) (*awsapi.GetImagePolicyResponse, error) {
	policy, err := s.getPolicy(ctx, account, imagePolicy, in.ImageArn)
	if err != nil {
		return nil, err
	}
	return &awsapi.GetImagePolicyResponse{Policy: policy}, nil
}

// buildTags keeps, of a recipe's tags, the "kiln:" ones that ask the build
// for kiln's extensions (kiln:layers, kiln:cache): the image's copy of the
// recipe carries them to the build engine; the user's own tags stay on the
// recipe.
func buildTags(tags map[string]string) map[string]string {
	var out map[string]string
	for k, v := range tags {
		if strings.HasPrefix(k, "kiln:") {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}
