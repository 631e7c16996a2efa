package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

const kindDistribution = arn.TypeDistributionConfiguration

// distributionTimeoutMinutes is the DistributionConfiguration's
// timeoutMinutes. The output requires it but no request sets it; 720 (the
// maximum) is what the service is seen to return.
const distributionTimeoutMinutes = 720

func (s *Service) distributionHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpCreateDistributionConfiguration: handle(s.CreateDistributionConfiguration),
		awsapi.OpGetDistributionConfiguration:    handle(s.GetDistributionConfiguration),
		awsapi.OpUpdateDistributionConfiguration: handle(s.UpdateDistributionConfiguration),
		awsapi.OpListDistributionConfigurations:  handle(s.ListDistributionConfigurations),
		awsapi.OpDeleteDistributionConfiguration: handle(s.DeleteDistributionConfiguration),
	}
}

// CreateDistributionConfiguration stores a named distribution
// configuration after checking the per-region rules the model's shapes
// cannot express.
func (s *Service) CreateDistributionConfiguration(ctx context.Context, account string, in *awsapi.CreateDistributionConfigurationRequest) (*awsapi.CreateDistributionConfigurationResponse, error) {
	if err := checkDistributions(account, in.Distributions); err != nil {
		return nil, err
	}
	out := &awsapi.CreateDistributionConfigurationResponse{ClientToken: in.ClientToken}
	err := s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpCreateDistributionConfiguration, in.ClientToken, in, out, func() error {
			a, err := s.insertNamedConfig(ctx, tx, account, kindDistribution, in.Name, in.Tags, func(a string, now time.Time) any {
				return awsapi.DistributionConfiguration{
					Arn: a, Name: in.Name, Description: in.Description, Distributions: in.Distributions,
					TimeoutMinutes: ptr(int32(distributionTimeoutMinutes)), DateCreated: formatDateTime(now),
				}
			})
			out.DistributionConfigurationArn = a
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// amiNameVariables are the placeholders an AMI name may carry, expanded
// when the image is distributed.
var amiNameVariables = map[string]bool{
	"imagebuilder:buildDate":    true,
	"imagebuilder:buildVersion": true,
}

// parseAmiNameTemplate checks an AMI name's `{{ variable }}` placeholders
// and returns the variables it uses, in order. Every `{{` must be closed by
// `}}` around one known variable (spaces inside the braces are optional);
// a brace outside a placeholder is refused, since EC2 does not allow
// braces in AMI names and it would fail only at distribution time.
func parseAmiNameTemplate(name string) ([]string, error) {
	var vars []string
	rest := name
	for {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			return vars, nil
		}
		if !strings.HasPrefix(rest[i:], "{{") {
			return nil, fmt.Errorf("the brace at %q is not part of a {{ variable }} placeholder", amiNameExcerpt(rest[i:]))
		}
		body, after, ok := strings.Cut(rest[i+2:], "}}")
		if !ok {
			return nil, fmt.Errorf("the placeholder %q is not closed with }}", amiNameExcerpt(rest[i:]))
		}
		v := strings.TrimSpace(body)
		if !amiNameVariables[v] {
			return nil, fmt.Errorf("the placeholder {{%s}} names an unknown variable %q; known variables are imagebuilder:buildDate and imagebuilder:buildVersion", body, v)
		}
		vars = append(vars, v)
		rest = after
	}
}

func amiNameExcerpt(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// checkDistributions applies the rules beyond the shapes: at least one
// distribution, one per region, valid region names, AMI name templates,
// launch permission groups, fast-launch launch templates and SSM
// parameter accounts.
func checkDistributions(account string, dists []awsapi.Distribution) error {
	if len(dists) == 0 {
		return badValue("distributions", "At least one distribution is required.")
	}
	seen := map[string]int{}
	for i, d := range dists {
		at := func(member string) string { return fmt.Sprintf("distributions[%d].%s", i, member) }
		if !arn.ValidRegion(d.Region) {
			return badValue(at("region"), "'%s' is not a valid region name.", d.Region)
		}
		if j, dup := seen[d.Region]; dup {
			return badValue(at("region"), "The region '%s' is already used by distributions[%d]; a distribution configuration has one distribution per region.", d.Region, j)
		}
		seen[d.Region] = i
		targets := []string{account}
		if ami := d.AmiDistributionConfiguration; ami != nil {
			if ami.Name != "" {
				if _, err := parseAmiNameTemplate(ami.Name); err != nil {
					return badValue(at("amiDistributionConfiguration.name"), "%v.", err)
				}
			}
			if lp := ami.LaunchPermission; lp != nil {
				for k, g := range lp.UserGroups {
					if g != "all" {
						return badValue(at(fmt.Sprintf("amiDistributionConfiguration.launchPermission.userGroups[%d]", k)),
							"The only launch permission group is 'all', got '%s'.", g)
					}
				}
			}
			if len(ami.TargetAccountIds) > 0 {
				targets = ami.TargetAccountIds
			}
		}
		for k, fl := range d.FastLaunchConfigurations {
			if lt := fl.LaunchTemplate; lt != nil && lt.LaunchTemplateId != "" && lt.LaunchTemplateName != "" {
				return awsapi.Errorf(awsapi.ErrCodeInvalidParameterCombinationException,
					"The parameters '%s' and '%s' cannot be specified together.",
					at(fmt.Sprintf("fastLaunchConfigurations[%d].launchTemplate.launchTemplateId", k)),
					at(fmt.Sprintf("fastLaunchConfigurations[%d].launchTemplate.launchTemplateName", k)))
			}
		}
		params := map[string]bool{}
		for k, p := range d.SsmParameterConfigurations {
			member := at(fmt.Sprintf("ssmParameterConfigurations[%d]", k))
			if p.AmiAccountId != "" && !slices.Contains(targets, p.AmiAccountId) {
				return badValue(member+".amiAccountId",
					"The account '%s' is not a target account of the distribution to %s.", p.AmiAccountId, d.Region)
			}
			key := p.AmiAccountId + "/" + p.ParameterName
			if params[key] {
				return badValue(member+".parameterName", "The parameter '%s' is already configured for this account and region.", p.ParameterName)
			}
			params[key] = true
		}
	}
	return nil
}

// GetDistributionConfiguration returns a visible distribution
// configuration.
func (s *Service) GetDistributionConfiguration(ctx context.Context, account string, in *awsapi.GetDistributionConfigurationRequest) (*awsapi.GetDistributionConfigurationResponse, error) {
	a, err := s.parseNamedARN("distributionConfigurationArn", in.DistributionConfigurationArn, kindDistribution)
	if err != nil {
		return nil, err
	}
	cfg, err := getDecoded(ctx, s, account, a, "Distribution Configuration", decodeDistribution)
	if err != nil {
		return nil, err
	}
	return &awsapi.GetDistributionConfigurationResponse{DistributionConfiguration: &cfg}, nil
}

func decodeDistribution(r store.Resource) (awsapi.DistributionConfiguration, error) {
	var c awsapi.DistributionConfiguration
	if err := json.Unmarshal(r.Doc, &c); err != nil {
		return c, fmt.Errorf("stored distribution configuration %s: %w", r.ARN, err)
	}
	if len(r.Tags) > 0 {
		c.Tags = r.Tags
	}
	return c, nil
}

// UpdateDistributionConfiguration replaces the distributions and the
// description (cleared when omitted).
func (s *Service) UpdateDistributionConfiguration(ctx context.Context, account string, in *awsapi.UpdateDistributionConfigurationRequest) (*awsapi.UpdateDistributionConfigurationResponse, error) {
	a, err := s.parseNamedARN("distributionConfigurationArn", in.DistributionConfigurationArn, kindDistribution)
	if err != nil {
		return nil, err
	}
	if err := checkDistributions(account, in.Distributions); err != nil {
		return nil, err
	}
	out := &awsapi.UpdateDistributionConfigurationResponse{ClientToken: in.ClientToken, DistributionConfigurationArn: a.String()}
	err = s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpUpdateDistributionConfiguration, in.ClientToken, in, out, func() error {
			return s.replaceNamedConfig(ctx, tx, account, a, "Distribution Configuration", func(old []byte, now time.Time) (any, error) {
				var prev awsapi.DistributionConfiguration
				if err := json.Unmarshal(old, &prev); err != nil {
					return nil, err
				}
				return awsapi.DistributionConfiguration{
					Arn: prev.Arn, Name: prev.Name, Description: in.Description, Distributions: in.Distributions,
					TimeoutMinutes: ptr(int32(distributionTimeoutMinutes)),
					DateCreated:    prev.DateCreated, DateUpdated: formatDateTime(now),
				}, nil
			})
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

var distributionFilters = filterFields{
	"name": store.DocField("name"),
}

// ListDistributionConfigurations lists the caller's distribution
// configurations by name; each summary lists its regions.
func (s *Service) ListDistributionConfigurations(ctx context.Context, account string, in *awsapi.ListDistributionConfigurationsRequest) (*awsapi.ListDistributionConfigurationsResponse, error) {
	match, err := distributionFilters.compile(in.Filters)
	if err != nil {
		return nil, err
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{
		op: "ListDistributionConfigurations", params: params, maxResults: in.MaxResults, nextToken: in.NextToken,
		query: store.Query{Kind: kindDistribution, Region: s.Region, Owners: []string{account}, Where: match},
	}
	list, next, err := listRows(ctx, s, p, func(r store.Resource) (awsapi.DistributionConfigurationSummary, error) {
		c, err := decodeDistribution(r)
		regions := make([]string, len(c.Distributions))
		for i, d := range c.Distributions {
			regions[i] = d.Region
		}
		return awsapi.DistributionConfigurationSummary{
			Arn: c.Arn, Name: c.Name, Description: c.Description,
			DateCreated: c.DateCreated, DateUpdated: c.DateUpdated, Tags: c.Tags, Regions: regions,
		}, err
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.ListDistributionConfigurationsResponse{DistributionConfigurationSummaryList: list, NextToken: next}, nil
}

// DeleteDistributionConfiguration deletes a distribution configuration no
// image pipeline uses.
func (s *Service) DeleteDistributionConfiguration(ctx context.Context, account string, in *awsapi.DeleteDistributionConfigurationRequest) (*awsapi.DeleteDistributionConfigurationResponse, error) {
	a, err := s.parseNamedARN("distributionConfigurationArn", in.DistributionConfigurationArn, kindDistribution)
	if err != nil {
		return nil, err
	}
	if err := s.deleteUnlessPipelineUses(ctx, account, a, "Distribution Configuration"); err != nil {
		return nil, err
	}
	return &awsapi.DeleteDistributionConfigurationResponse{DistributionConfigurationArn: a.String()}, nil
}
