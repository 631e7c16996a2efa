package service

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/store"
)

func (s *Service) machineImageHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpImportDiskImage: handle(s.ImportDiskImage),
		awsapi.OpImportVmImage:   handle(s.ImportVmImage),
	}
}

// parentAMI resolves an image recipe's parentImage to the AMI a build
// starts from: an AMI id in kiln's catalogue the account owns or may
// launch; an image ARN (with `x` wildcards) whose latest AVAILABLE build
// has an AMI in this region; or an Amazon-owned image name the operator
// mapped to an AMI (kiln serve --parent-image NAME=AMI-ID).
func (s *Service) parentAMI(ctx context.Context, tx store.Tx, account, parent string) (ami.AMI, error) {
	id := parent
	if strings.HasPrefix(parent, "arn:") {
		a, err := s.parseARN("parentImage", parent, kindImage)
		if err != nil {
			return ami.AMI{}, err
		}
		if mapped, ok := s.ParentImages[a.Name]; ok && a.Account == AmazonAccount {
			id = mapped
		} else {
			img, found, err := s.usableImage(ctx, tx, account, a)
			if err != nil {
				return ami.AMI{}, err
			}
			if !found {
				if a.Account == AmazonAccount {
					return ami.AMI{}, badValue("parentImage", "The Amazon-owned image '%s' has no content in kiln; map it to an imported AMI with kiln serve --parent-image %s=AMI-ID.", a.Name, a.Name)
				}
				return ami.AMI{}, badValue("parentImage", "The image '%s' does not exist or is not AVAILABLE.", parent)
			}
			id = ""
			owner, _ := arn.Parse(img.Arn)
			if img.OutputResources != nil {
				for _, ami := range img.OutputResources.Amis {
					if ami.Region == s.Region && (ami.AccountId == "" || ami.AccountId == account || ami.AccountId == owner.Account) {
						id = ami.Image
						break
					}
				}
			}
			if id == "" {
				return ami.AMI{}, badValue("parentImage", "The image '%s' has no AMI in %s.", img.Arn, s.Region)
			}
		}
	}
	m, err := ami.Get(ctx, tx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (m.Region != s.Region || !m.LaunchableBy(account))) {
		return ami.AMI{}, badValue("parentImage", "The AMI '%s' does not exist in kiln's catalogue for this account and region.", id)
	}
	return m, err
}

// ImportDiskImage imports a disk image (raw or qcow2) or a root
// filesystem tarball as a machine image, from file:// (under a directory
// the operator allows with --allow-import-dir), https:// or s3:// (the
// --s3-endpoint). Like Image Builder it returns at once; the import runs
// as a build job and the image ends AVAILABLE with its AMI, or FAILED.
func (s *Service) ImportDiskImage(ctx context.Context, account string, in *awsapi.ImportDiskImageRequest) (*awsapi.ImportDiskImageResponse, error) {
	u, err := url.Parse(in.Uri)
	if err != nil || u.Path == "" && u.Host == "" {
		return nil, badValue("uri", "The URI '%s' is not valid.", in.Uri)
	}
	switch u.Scheme {
	case "file":
		if s.ImportAllowed == nil {
			return nil, badValue("uri", "file:// imports are not allowed: start kiln serve with --allow-import-dir DIR.")
		}
		if err := s.ImportAllowed(u.Path); err != nil {
			return nil, badValue("uri", "%v", err)
		}
	case "https", "s3":
	default:
		return nil, badValue("uri", "The URI scheme '%s' is not supported: use file://, https:// or s3://.", u.Scheme)
	}
	if in.Platform != awsapi.PlatformLinux {
		return nil, badValue("platform", "kiln imports Linux images only.")
	}
	out := &awsapi.ImportDiskImageResponse{ClientToken: in.ClientToken}
	err = s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpImportDiskImage, in.ClientToken, in, out, func() error {
			infra, err := s.reference(ctx, tx, account, "infrastructureConfigurationArn", in.InfrastructureConfigurationArn,
				"infrastructure configuration", arn.TypeInfrastructureConfiguration)
			if err != nil {
				return err
			}
			ic, err := decodeInfrastructure(infra)
			if err != nil {
				return err
			}
			ic.Tags = nil
			n, err := tx.NextBuild(ctx, account, s.Region, kindImage, arn.NormalizeName(in.Name), in.SemanticVersion)
			if err != nil {
				return err
			}
			a := arn.New(s.Partition, s.Region, account, kindImage, in.Name).WithVersion(in.SemanticVersion).WithBuild(n)
			if err := a.Validate(); err != nil {
				return badValue("name", "%v", err)
			}
			now := s.now()
			img := awsapi.Image{
				Arn: a.String(), Type: awsapi.ImageTypeAmi, Name: in.Name, Version: in.SemanticVersion,
				Platform: in.Platform, OsVersion: in.OsVersion, EnhancedImageMetadataEnabled: ptr(true),
				State: &awsapi.ImageState{Status: awsapi.ImageStatusPending}, InfrastructureConfiguration: &ic,
				DateCreated: formatDateTime(now), BuildType: awsapi.BuildTypeImportIso, ImageSource: awsapi.ImageSourceImported,
				ExecutionRole: in.ExecutionRole, LoggingConfiguration: in.LoggingConfiguration,
			}
			doc, err := json.Marshal(img)
			if err != nil {
				return err
			}
			row := store.Resource{
				ARN: img.Arn, Kind: kindImage, Account: account, Region: s.Region, Name: a.Name,
				Version: in.SemanticVersion, Build: n, Doc: doc, Tags: in.Tags, Created: now, Updated: now,
			}
			if err := tx.Insert(ctx, row); err != nil {
				return err
			}
			out.ImageBuildVersionArn = img.Arn
			return engine.Enqueue(ctx, tx, row, engine.Spec{Import: &engine.ImportSpec{URI: in.Uri}}, now)
		})
	})
	if err != nil {
		return nil, err
	}
	s.wakeBuilds()
	return out, nil
}

// ImportVmImage wraps the result of an EC2 VM Import task, which kiln has
// no equivalent of; disk images are imported with ImportDiskImage. The
// refusal is a ClientException: the operation declares no
// InvalidRequestException.
func (s *Service) ImportVmImage(ctx context.Context, account string, in *awsapi.ImportVmImageRequest) (*awsapi.ImportVmImageResponse, error) {
	return nil, awsapi.Errorf(awsapi.ErrCodeClientException, "kiln has no EC2 VM Import tasks, so '%s' cannot be imported; import the disk image itself with ImportDiskImage.", in.VmImportTaskId)
}
