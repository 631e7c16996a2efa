package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

const kindInfrastructure = arn.TypeInfrastructureConfiguration

func (s *Service) infrastructureHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpCreateInfrastructureConfiguration: handle(s.CreateInfrastructureConfiguration),
		awsapi.OpGetInfrastructureConfiguration:    handle(s.GetInfrastructureConfiguration),
		awsapi.OpUpdateInfrastructureConfiguration: handle(s.UpdateInfrastructureConfiguration),
		awsapi.OpListInfrastructureConfigurations:  handle(s.ListInfrastructureConfigurations),
		awsapi.OpDeleteInfrastructureConfiguration: handle(s.DeleteInfrastructureConfiguration),
	}
}

// CreateInfrastructureConfiguration stores a named infrastructure
// configuration. Everything the caller sent is kept as sent: kiln has no
// EC2 to check instance profiles, subnets, security groups or key pairs
// against, so those are stored and used by the builder as they are.
func (s *Service) CreateInfrastructureConfiguration(ctx context.Context, account string, in *awsapi.CreateInfrastructureConfigurationRequest) (*awsapi.CreateInfrastructureConfigurationResponse, error) {
	if err := checkPlacement(in.Placement); err != nil {
		return nil, err
	}
	cfg := awsapi.InfrastructureConfiguration{
		Name:                       in.Name,
		Description:                in.Description,
		InstanceTypes:              in.InstanceTypes,
		InstanceProfileName:        in.InstanceProfileName,
		SecurityGroupIds:           in.SecurityGroupIds,
		SubnetId:                   in.SubnetId,
		Logging:                    in.Logging,
		KeyPair:                    in.KeyPair,
		TerminateInstanceOnFailure: terminateOnFailure(in.TerminateInstanceOnFailure),
		SnsTopicArn:                in.SnsTopicArn,
		ResourceTags:               in.ResourceTags,
		InstanceMetadataOptions:    in.InstanceMetadataOptions,
		Placement:                  in.Placement,
	}
	out := &awsapi.CreateInfrastructureConfigurationResponse{ClientToken: in.ClientToken}
	err := s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpCreateInfrastructureConfiguration, in.ClientToken, in, out, func() error {
			a, err := s.insertNamedConfig(ctx, tx, account, kindInfrastructure, in.Name, in.Tags, func(a string, now time.Time) any {
				cfg.Arn = a
				cfg.DateCreated = formatDateTime(now)
				return cfg
			})
			out.InfrastructureConfigurationArn = a
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// terminateOnFailure applies the documented default of
// terminateInstanceOnFailure (true), so Get shows the value builds use.
func terminateOnFailure(v *bool) *bool {
	if v == nil {
		return ptr(true)
	}
	return v
}

// checkPlacement applies the rules of the newer API's placement member:
// a Dedicated Host target is either a host ID or a host resource group,
// never both. A host target with a tenancy other than `host` is stored as
// given (the reference says the targets "only apply" to host tenancy,
// which reads as ignored rather than refused; UNSURE).
func checkPlacement(p *awsapi.Placement) error {
	if p == nil {
		return nil
	}
	if p.HostId != "" && p.HostResourceGroupArn != "" {
		return invalidRequest("The parameters 'placement.hostId' and 'placement.hostResourceGroupArn' cannot be specified together.")
	}
	return nil
}

// insertNamedConfig stores a new named (unversioned) resource for account:
// the ARN is derived from the normalised name, and a name already taken in
// this account and region is ResourceAlreadyExistsException. doc builds the
// Get shape once the ARN and creation time are known.
func (s *Service) insertNamedConfig(ctx context.Context, tx store.Tx, account, kind, name string, tags map[string]string, doc func(a string, now time.Time) any) (string, error) {
	norm := arn.NormalizeName(name)
	a := arn.New(s.Partition, s.Region, account, kind, norm).String()
	now := s.now()
	raw, err := json.Marshal(doc(a, now))
	if err != nil {
		return "", err
	}
	err = tx.Insert(ctx, store.Resource{
		ARN: a, Kind: kind, Account: account, Region: s.Region, Name: norm,
		Doc: raw, Tags: tags, Created: now, Updated: now,
	})
	if errors.Is(err, store.ErrExists) {
		return "", awsapi.Errorf(awsapi.ErrCodeResourceAlreadyExistsException,
			"The %s '%s' already exists: '%s'.", strings.ReplaceAll(kind, "-", " "), name, a)
	}
	return a, err
}

// replaceNamedConfig is the storage half of an Update: it reads the
// caller's own resource, hands its stored document to replace (which
// writes the new Get shape, keeping name, arn and dateCreated), and stores
// the result. Tags are left alone: Update* calls never change them.
func (s *Service) replaceNamedConfig(ctx context.Context, tx store.Tx, account string, a arn.ARN, label string, replace func(old []byte, now time.Time) (any, error)) error {
	r, err := s.ownedResource(ctx, tx, account, a, label)
	if err != nil {
		return err
	}
	now := s.now()
	doc, err := replace(r.Doc, now)
	if err != nil {
		return err
	}
	if r.Doc, err = json.Marshal(doc); err != nil {
		return err
	}
	r.Updated = now
	return tx.Put(ctx, r)
}

// deleteUnlessPipelineUses deletes the caller's own resource (a
// configuration or a recipe) unless an image pipeline refers to it:
// pipelines keep the ARNs they use in their document. For recipes this is
// the spec's recommendation, mirroring the configurations (UNSURE for AWS).
func (s *Service) deleteUnlessPipelineUses(ctx context.Context, account string, a arn.ARN, label string) error {
	return s.update(ctx, func(tx store.Tx) error {
		r, err := s.ownedResource(ctx, tx, account, a, label)
		if err != nil {
			return err
		}
		if err := s.checkUnused(ctx, tx, account, label, r.ARN, []string{r.ARN}, arn.TypeImagePipeline); err != nil {
			return err
		}
		return tx.Delete(ctx, r.ARN)
	})
}

// parseNamedARN parses the ARN member of a Get/Update/Delete of a named
// resource: the right type and no version.
func (s *Service) parseNamedARN(member, value, kind string) (arn.ARN, error) {
	a, err := s.parseARN(member, value, kind)
	if err != nil {
		return a, err
	}
	if a.Version != "" {
		return a, badValue(member, "The ARN '%s' must not carry a version.", value)
	}
	return a, nil
}

// GetInfrastructureConfiguration returns a visible infrastructure
// configuration.
func (s *Service) GetInfrastructureConfiguration(ctx context.Context, account string, in *awsapi.GetInfrastructureConfigurationRequest) (*awsapi.GetInfrastructureConfigurationResponse, error) {
	a, err := s.parseNamedARN("infrastructureConfigurationArn", in.InfrastructureConfigurationArn, kindInfrastructure)
	if err != nil {
		return nil, err
	}
	cfg, err := getDecoded(ctx, s, account, a, "Infrastructure Configuration", decodeInfrastructure)
	if err != nil {
		return nil, err
	}
	return &awsapi.GetInfrastructureConfigurationResponse{InfrastructureConfiguration: &cfg}, nil
}

func decodeInfrastructure(r store.Resource) (awsapi.InfrastructureConfiguration, error) {
	var c awsapi.InfrastructureConfiguration
	if err := json.Unmarshal(r.Doc, &c); err != nil {
		return c, fmt.Errorf("stored infrastructure configuration %s: %w", r.ARN, err)
	}
	if len(r.Tags) > 0 {
		c.Tags = r.Tags
	}
	return c, nil
}

// UpdateInfrastructureConfiguration replaces every member but name and
// tags; members the request omits are cleared (terminateInstanceOnFailure
// returns to its default, true).
func (s *Service) UpdateInfrastructureConfiguration(ctx context.Context, account string, in *awsapi.UpdateInfrastructureConfigurationRequest) (*awsapi.UpdateInfrastructureConfigurationResponse, error) {
	a, err := s.parseNamedARN("infrastructureConfigurationArn", in.InfrastructureConfigurationArn, kindInfrastructure)
	if err != nil {
		return nil, err
	}
	if err := checkPlacement(in.Placement); err != nil {
		return nil, err
	}
	out := &awsapi.UpdateInfrastructureConfigurationResponse{ClientToken: in.ClientToken, InfrastructureConfigurationArn: a.String()}
	err = s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpUpdateInfrastructureConfiguration, in.ClientToken, in, out, func() error {
			return s.replaceNamedConfig(ctx, tx, account, a, "Infrastructure Configuration", func(old []byte, now time.Time) (any, error) {
				var prev awsapi.InfrastructureConfiguration
				if err := json.Unmarshal(old, &prev); err != nil {
					return nil, err
				}
				return awsapi.InfrastructureConfiguration{
					Arn:                        prev.Arn,
					Name:                       prev.Name,
					Description:                in.Description,
					InstanceTypes:              in.InstanceTypes,
					InstanceProfileName:        in.InstanceProfileName,
					SecurityGroupIds:           in.SecurityGroupIds,
					SubnetId:                   in.SubnetId,
					Logging:                    in.Logging,
					KeyPair:                    in.KeyPair,
					TerminateInstanceOnFailure: terminateOnFailure(in.TerminateInstanceOnFailure),
					SnsTopicArn:                in.SnsTopicArn,
					DateCreated:                prev.DateCreated,
					DateUpdated:                formatDateTime(now),
					ResourceTags:               in.ResourceTags,
					InstanceMetadataOptions:    in.InstanceMetadataOptions,
					Placement:                  in.Placement,
				}, nil
			})
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

var infrastructureFilters = filterFields{
	"name": store.DocField("name"),
}

// ListInfrastructureConfigurations lists the caller's infrastructure
// configurations by name.
func (s *Service) ListInfrastructureConfigurations(ctx context.Context, account string, in *awsapi.ListInfrastructureConfigurationsRequest) (*awsapi.ListInfrastructureConfigurationsResponse, error) {
	match, err := infrastructureFilters.compile(in.Filters)
	if err != nil {
		return nil, err
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{
		op: "ListInfrastructureConfigurations", params: params, maxResults: in.MaxResults, nextToken: in.NextToken,
		query: store.Query{Kind: kindInfrastructure, Region: s.Region, Owners: []string{account}, Where: match},
	}
	list, next, err := listRows(ctx, s, p, func(r store.Resource) (awsapi.InfrastructureConfigurationSummary, error) {
		c, err := decodeInfrastructure(r)
		return awsapi.InfrastructureConfigurationSummary{
			Arn: c.Arn, Name: c.Name, Description: c.Description,
			DateCreated: c.DateCreated, DateUpdated: c.DateUpdated,
			ResourceTags: c.ResourceTags, Tags: c.Tags,
			InstanceTypes: c.InstanceTypes, InstanceProfileName: c.InstanceProfileName,
			Placement: c.Placement,
		}, err
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.ListInfrastructureConfigurationsResponse{InfrastructureConfigurationSummaryList: list, NextToken: next}, nil
}

// DeleteInfrastructureConfiguration deletes an infrastructure
// configuration no image pipeline uses.
func (s *Service) DeleteInfrastructureConfiguration(ctx context.Context, account string, in *awsapi.DeleteInfrastructureConfigurationRequest) (*awsapi.DeleteInfrastructureConfigurationResponse, error) {
	a, err := s.parseNamedARN("infrastructureConfigurationArn", in.InfrastructureConfigurationArn, kindInfrastructure)
	if err != nil {
		return nil, err
	}
	if err := s.deleteUnlessPipelineUses(ctx, account, a, "Infrastructure Configuration"); err != nil {
		return nil, err
	}
	return &awsapi.DeleteInfrastructureConfigurationResponse{InfrastructureConfigurationArn: a.String()}, nil
}
