package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

const kindImageRecipe = arn.TypeImageRecipe

func (s *Service) recipeHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpCreateImageRecipe:    handle(s.CreateImageRecipe),
		awsapi.OpGetImageRecipe:       handle(s.GetImageRecipe),
		awsapi.OpListImageRecipes:     handle(s.ListImageRecipes),
		awsapi.OpDeleteImageRecipe:    handle(s.DeleteImageRecipe),
		awsapi.OpPutImageRecipePolicy: handle(s.PutImageRecipePolicy),
		awsapi.OpGetImageRecipePolicy: handle(s.GetImageRecipePolicy),
	}
}

// maxRecipeComponents is the documented quota of components (build and
// test together) in one image or container recipe.
const maxRecipeComponents = 20

// CreateImageRecipe stores a new image recipe version. Everything the
// client sent is stored as sent — component ARNs keep their wildcards and
// parentImage its text, because each build resolves them afresh — and is
// checked now: the components exist, are visible, usable and of the
// recipe's platform, their parameters are ones they declare; the parent
// image exists (or is an AMI ID or an Amazon-owned name).
func (s *Service) CreateImageRecipe(ctx context.Context, account string, in *awsapi.CreateImageRecipeRequest) (*awsapi.CreateImageRecipeResponse, error) {
	version, err := parseSemanticVersion(in.SemanticVersion)
	if err != nil {
		return nil, err
	}
	if err := checkComponentCount(in.Components); err != nil {
		return nil, err
	}
	if err := checkBlockDeviceMappings("blockDeviceMappings", in.BlockDeviceMappings); err != nil {
		return nil, err
	}
	recipe := awsapi.ImageRecipe{
		Type:                            awsapi.ImageTypeAmi,
		Name:                            in.Name,
		Description:                     in.Description,
		Owner:                           account,
		Version:                         version.String(),
		Components:                      in.Components,
		ParentImage:                     in.ParentImage,
		BlockDeviceMappings:             in.BlockDeviceMappings,
		WorkingDirectory:                in.WorkingDirectory,
		AdditionalInstanceConfiguration: in.AdditionalInstanceConfiguration,
		AmiTags:                         in.AmiTags,
	}
	out := &awsapi.CreateImageRecipeResponse{ClientToken: in.ClientToken}
	err = s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpCreateImageRecipe, in.ClientToken, in, out, func() error {
			parent, err := s.resolveParentImage(ctx, tx, account, "parentImage", in.ParentImage, false)
			if err != nil {
				return err
			}
			recipe.Platform = parent.Platform
			if err := s.checkRecipeComponents(ctx, tx, account, in.Components, parent.Platform, parent.OsVersion); err != nil {
				return err
			}
			a, err := s.insertRecipe(ctx, tx, account, kindImageRecipe, "ImageRecipe", in.Name, recipe.Version, in.Tags,
				func(a string, now time.Time) any {
					recipe.Arn = a
					recipe.DateCreated = formatDateTime(now)
					return recipe
				})
			out.ImageRecipeArn = a
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	out.LatestVersionReferences = latestVersionReferences(out.ImageRecipeArn)
	return out, nil
}

func checkComponentCount(comps []awsapi.ComponentConfiguration) error {
	if len(comps) > maxRecipeComponents {
		return awsapi.Errorf(awsapi.ErrCodeServiceQuotaExceededException,
			"A recipe can include at most %d components; %d were given.", maxRecipeComponents, len(comps))
	}
	return nil
}

// insertRecipe stores a new recipe version (image or container recipe)
// for account. A name+version already taken is
// ResourceAlreadyExistsException with the service's message. doc builds
// the Get shape once the ARN and creation time are known.
func (s *Service) insertRecipe(ctx context.Context, tx store.Tx, account, kind, label, name, version string, tags map[string]string, doc func(a string, now time.Time) any) (string, error) {
	norm := arn.NormalizeName(name)
	a := arn.New(s.Partition, s.Region, account, kind, norm).WithVersion(version).String()
	now := s.now()
	raw, err := json.Marshal(doc(a, now))
	if err != nil {
		return "", err
	}
	err = tx.Insert(ctx, store.Resource{
		ARN: a, Kind: kind, Account: account, Region: s.Region, Name: norm, Version: version,
		Doc: raw, Tags: tags, Created: now, Updated: now,
	})
	if errors.Is(err, store.ErrExists) {
		return "", awsapi.Errorf(awsapi.ErrCodeResourceAlreadyExistsException, "The following resource '%s' already exists: '%s'.", label, a)
	}
	return a, err
}

// parentImage is what a recipe learns from its parent image.
type parentImage struct {
	Platform  string
	OsVersion string // "" when unknown
}

var (
	amiIDPattern = regexp.MustCompile(`^ami-[0-9a-f]{8}(?:[0-9a-f]{9})?$`)
)

// resolveParentImage checks a recipe's parentImage and says what platform
// (and, when known, OS version) it has:
//
//   - an Image Builder image ARN (version, `x` wildcard or build ARN) of
//     the caller's own or a shared image must name an AVAILABLE image the
//     caller can see — a failed or still-building image is no base;
//   - an Amazon-owned image ARN (owner "aws") is accepted whether or not
//     kiln's catalogue holds the name: what Amazon-owned names build from
//     is the operator's mapping, and recipes written for AWS should store
//     unchanged. The platform comes from the catalogue entry, or else
//     from the name (windows-… is Windows, macos-… macOS, others Linux);
//   - an AMI ID (ami-…) is accepted as Linux and not checked: kiln has no
//     EC2 account to look it up in;
//   - with allowReference (container recipes), any other value must be a
//     well-formed OCI image reference (docker.io/library/debian:12,
//     HOST:PORT/repo@sha256:…), taken as Linux.
//
// Other forms Image Builder knows (ssm: parameters, Marketplace product
// IDs) are InvalidParameterValueException.
func (s *Service) resolveParentImage(ctx context.Context, tx store.Tx, account, member, value string, allowReference bool) (parentImage, error) {
	linux := parentImage{Platform: awsapi.PlatformLinux}
	switch {
	case strings.HasPrefix(value, "arn:"):
		a, err := s.parseARN(member, value, kindImage)
		if err != nil {
			return parentImage{}, err
		}
		img, found, err := s.usableImage(ctx, tx, account, a)
		if err != nil {
			return parentImage{}, err
		}
		if found {
			return parentImage{Platform: img.Platform, OsVersion: img.OsVersion}, nil
		}
		if a.Account != AmazonAccount || a.Region != s.Region {
			return parentImage{}, notFound("The value supplied for parameter '%s' is not valid. The image '%s' does not exist or is not AVAILABLE.", member, value)
		}
		return parentImage{Platform: platformFromImageName(a.Name)}, nil
	case amiIDPattern.MatchString(value):
		return linux, nil
	case allowReference && validImageReference(value):
		return linux, nil
	}
	if allowReference {
		return parentImage{}, badValue(member, "%s must be an Image Builder image ARN, an AMI ID or a container image reference such as 'debian:12'.", member)
	}
	return parentImage{}, badValue(member, "%s must be an Image Builder image ARN or an AMI ID (ami-…).", member)
}

// usableImage finds the AVAILABLE image an image ARN names for account:
// the build itself for a build ARN, else the highest matching visible
// AVAILABLE build. found is false when there is none.
func (s *Service) usableImage(ctx context.Context, tx store.Tx, account string, a arn.ARN) (awsapi.Image, bool, error) {
	if a.Region != s.Region {
		return awsapi.Image{}, false, nil
	}
	filter, hasVersion := a.Filter()
	rows, err := tx.List(ctx, store.Query{
		Kind: kindImage, Region: s.Region, Owners: []string{a.Account}, Name: a.Name,
		Where: latestAvailableWhere(account, a.Build, filter, hasVersion),
	})
	if err != nil || len(rows) == 0 {
		return awsapi.Image{}, false, err
	}
	img, err := decodeImage(rows[len(rows)-1])
	return img, err == nil, err
}

// platformFromImageName guesses an Amazon-owned image's platform from its
// name, the way the names are built (windows-server-2022-…, macos-…).
func platformFromImageName(name string) string {
	switch {
	case strings.HasPrefix(name, "windows-"):
		return awsapi.PlatformWindows
	case strings.HasPrefix(name, "macos-") || strings.HasPrefix(name, "mac-"):
		return awsapi.PlatformMacOS
	}
	return awsapi.PlatformLinux
}

// checkRecipeComponents applies the rules a recipe's components must meet:
// each ARN names a component the caller can see (a version or wildcard ARN
// must resolve to one), no component appears twice, none is deprecated or
// disabled, each has the recipe's platform and supports its OS version
// (when both are known, as a string prefix), and the parameters set are
// ones the component declares, with every parameter that has no default
// given a value.
func (s *Service) checkRecipeComponents(ctx context.Context, tx store.Tx, account string, comps []awsapi.ComponentConfiguration, platform, osVersion string) error {
	seen := map[string]int{}
	for i, cc := range comps {
		member := fmt.Sprintf("components[%d].componentArn", i)
		a, err := s.parseARN(member, cc.ComponentArn, kindComponent)
		if err != nil {
			return err
		}
		r, err := s.resolve(ctx, tx, account, a, "Component")
		if err != nil {
			return err
		}
		key := r.Account + "/" + r.Name
		if j, dup := seen[key]; dup {
			return invalidRequest("The component '%s' is included twice: components[%d] and components[%d]. A recipe can include each component once.", r.Name, j, i)
		}
		seen[key] = i
		comp, err := decodeComponent(r)
		if err != nil {
			return err
		}
		if comp.State != nil && (comp.State.Status == awsapi.ComponentStatusDeprecated || comp.State.Status == awsapi.ComponentStatusDisabled) {
			return invalidRequest("The component '%s' (%s) is %s and cannot be added to a recipe.", r.ARN, member, comp.State.Status)
		}
		if comp.Platform != platform {
			return invalidRequest("The component '%s' (%s) is for platform %s, but the recipe's platform is %s.", r.ARN, member, comp.Platform, platform)
		}
		if osVersion != "" && len(comp.SupportedOsVersions) > 0 && !supportsOS(comp.SupportedOsVersions, osVersion) {
			return invalidRequest("The component '%s' (%s) supports %s, not the parent image's OS version '%s'.",
				r.ARN, member, strings.Join(comp.SupportedOsVersions, ", "), osVersion)
		}
		if err := checkComponentParameters(fmt.Sprintf("components[%d].parameters", i), comp.Parameters, cc.Parameters); err != nil {
			return err
		}
	}
	return nil
}

func supportsOS(supported []string, osVersion string) bool {
	for _, v := range supported {
		if strings.HasPrefix(osVersion, v) {
			return true
		}
	}
	return false
}

// checkComponentParameters checks the parameters a recipe sets against
// those the component declares. CloudTrail records of CreateImageRecipe
// show the service answering an undeclared name with this message shape
// under InvalidParameterCombinationException, which neither recipe
// operation declares; kiln keeps the message and answers
// InvalidParameterValueException, which every operation may answer, so
// that clients generated from the model can type the error. It uses the
// same code for a parameter set twice or one without default left
// unset. Whether Image Builder checks missing required values at create
// time or only at build time is not documented (UNSURE); checking now
// fails early, where the user can still fix the recipe.
func checkComponentParameters(member string, declared []awsapi.ComponentParameterDetail, given []awsapi.ComponentParameter) error {
	bad := func(format string, args ...any) error {
		return badValue(member, format, args...)
	}
	known := map[string]awsapi.ComponentParameterDetail{}
	for _, d := range declared {
		known[d.Name] = d
	}
	set := map[string]bool{}
	var unknown, twice, missing []string
	for _, p := range given {
		if _, ok := known[p.Name]; !ok {
			unknown = append(unknown, p.Name)
		}
		if set[p.Name] {
			twice = append(twice, p.Name)
		}
		set[p.Name] = true
	}
	for _, d := range declared {
		if len(d.DefaultValue) == 0 && !set[d.Name] {
			missing = append(missing, d.Name)
		}
	}
	switch {
	case len(unknown) > 0:
		return bad("The following parameters are not defined in the provided component: %s", strings.Join(unknown, ", "))
	case len(twice) > 0:
		return bad("The following parameters are set more than once: %s", strings.Join(twice, ", "))
	case len(missing) > 0:
		return bad("The following parameters of the provided component have no default value and must be set: %s", strings.Join(missing, ", "))
	}
	return nil
}

// checkBlockDeviceMappings applies EC2's rules between EBS members that
// the model's per-member constraints cannot express: throughput is a gp3
// setting, and provisioned IOPS exist only for io1, io2 and gp3. A mapping
// without volumeType takes its type from the snapshot at build time, so it
// is not judged here.
func checkBlockDeviceMappings(member string, mappings []awsapi.InstanceBlockDeviceMapping) error {
	for i, m := range mappings {
		if m.Ebs == nil || m.Ebs.VolumeType == "" {
			continue
		}
		path := fmt.Sprintf("%s[%d].ebs", member, i)
		vt := m.Ebs.VolumeType
		if m.Ebs.Throughput != nil && vt != awsapi.EbsVolumeTypeGp3 {
			return badValue(path+".throughput", "throughput is valid only for gp3 volumes, not %s.", vt)
		}
		if m.Ebs.Iops != nil && vt != awsapi.EbsVolumeTypeIo1 && vt != awsapi.EbsVolumeTypeIo2 && vt != awsapi.EbsVolumeTypeGp3 {
			return badValue(path+".iops", "iops is valid only for io1, io2 and gp3 volumes, not %s.", vt)
		}
	}
	return nil
}

// GetImageRecipe returns a recipe version as it was created.
func (s *Service) GetImageRecipe(ctx context.Context, account string, in *awsapi.GetImageRecipeRequest) (*awsapi.GetImageRecipeResponse, error) {
	a, err := s.parseARN("imageRecipeArn", in.ImageRecipeArn, kindImageRecipe)
	if err != nil {
		return nil, err
	}
	recipe, err := getDecoded(ctx, s, account, a, "ImageRecipe", decodeImageRecipe)
	if err != nil {
		return nil, err
	}
	return &awsapi.GetImageRecipeResponse{ImageRecipe: &recipe, LatestVersionReferences: latestVersionReferences(recipe.Arn)}, nil
}

func decodeImageRecipe(r store.Resource) (awsapi.ImageRecipe, error) {
	var recipe awsapi.ImageRecipe
	if err := json.Unmarshal(r.Doc, &recipe); err != nil {
		return recipe, fmt.Errorf("stored image recipe %s: %w", r.ARN, err)
	}
	recipe.Owner = ownerName(r.Account)
	if len(r.Tags) > 0 {
		recipe.Tags = r.Tags
	}
	return recipe, nil
}

var imageRecipeFilters = filterFields{
	"name":        store.DocField("name"),
	"parentImage": store.DocField("parentImage"),
	"platform":    store.DocField("platform"),
}

// ListImageRecipes lists recipe versions by name, then version.
func (s *Service) ListImageRecipes(ctx context.Context, account string, in *awsapi.ListImageRecipesRequest) (*awsapi.ListImageRecipesResponse, error) {
	match, err := imageRecipeFilters.compile(in.Filters)
	if err != nil {
		return nil, err
	}
	q := store.Query{Kind: kindImageRecipe, Region: s.Region}
	ownerQuery(&q, in.Owner, account)
	if len(in.Filters) > 0 {
		q.Where = append(q.Where, match...)
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{op: awsapi.OpListImageRecipes, params: params, maxResults: in.MaxResults, nextToken: in.NextToken, query: q}
	list, next, err := listRows(ctx, s, p, func(r store.Resource) (awsapi.ImageRecipeSummary, error) {
		recipe, err := decodeImageRecipe(r)
		return awsapi.ImageRecipeSummary{
			Arn: recipe.Arn, Name: recipe.Name, Platform: recipe.Platform, Owner: recipe.Owner,
			ParentImage: recipe.ParentImage, DateCreated: recipe.DateCreated, Tags: recipe.Tags,
		}, err
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.ListImageRecipesResponse{ImageRecipeSummaryList: list, NextToken: next}, nil
}

// DeleteImageRecipe deletes the caller's recipe version unless an image
// pipeline uses it. Images already built from it keep their own copy.
func (s *Service) DeleteImageRecipe(ctx context.Context, account string, in *awsapi.DeleteImageRecipeRequest) (*awsapi.DeleteImageRecipeResponse, error) {
	a, err := s.parseARN("imageRecipeArn", in.ImageRecipeArn, kindImageRecipe)
	if err != nil {
		return nil, err
	}
	if err := s.deleteUnlessPipelineUses(ctx, account, a, "ImageRecipe"); err != nil {
		return nil, err
	}
	return &awsapi.DeleteImageRecipeResponse{ImageRecipeArn: a.String()}, nil
}

// PutImageRecipePolicy implements the operation.
func (s *Service) PutImageRecipePolicy(ctx context.Context, account string, in *awsapi.PutImageRecipePolicyRequest) (*awsapi.PutImageRecipePolicyResponse, error) {
	if err := s.putPolicy(ctx, account, imageRecipePolicy, in.ImageRecipeArn, in.Policy); err != nil {
		return nil, err
	}
	return &awsapi.PutImageRecipePolicyResponse{ImageRecipeArn: in.ImageRecipeArn}, nil
}

// GetImageRecipePolicy implements the operation.
func (s *Service) GetImageRecipePolicy(ctx context.Context, account string, in *awsapi.GetImageRecipePolicyRequest) (*awsapi.GetImageRecipePolicyResponse, error) {
	policy, err := s.getPolicy(ctx, account, imageRecipePolicy, in.ImageRecipeArn)
	if err != nil {
		return nil, err
	}
	return &awsapi.GetImageRecipePolicyResponse{Policy: policy}, nil
}
