package service

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/semver"
	"github.com/kiln-build/kiln/internal/store"
)

const kindLifecyclePolicy = arn.TypeLifecyclePolicy

func (s *Service) lifecycleHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpCreateLifecyclePolicy: handle(s.CreateLifecyclePolicy),
		awsapi.OpGetLifecyclePolicy:    handle(s.GetLifecyclePolicy),
		awsapi.OpUpdateLifecyclePolicy: handle(s.UpdateLifecyclePolicy),
		awsapi.OpListLifecyclePolicies: handle(s.ListLifecyclePolicies),
		awsapi.OpDeleteLifecyclePolicy: handle(s.DeleteLifecyclePolicy),
	}
}

// lifecycleTimestamp is a lifecycle policy date: the DateTimeTimestamp
// shape (epoch seconds on the wire), kept to milliseconds like the
// DateTime strings elsewhere.
func lifecycleTimestamp(t time.Time) *awsapi.Timestamp {
	return &awsapi.Timestamp{Time: t.UTC().Truncate(time.Millisecond)}
}

// lifecycleStatus applies the default status, ENABLED (UNSURE: the model
// does not say; the console creates policies enabled).
func lifecycleStatus(s string) string {
	if s == "" {
		return awsapi.LifecyclePolicyStatusEnabled
	}
	return s
}

// CreateLifecyclePolicy stores a lifecycle policy. Running it (kiln
// serve's periodic loop, `kiln lifecycle run`) is lifecycle_execution.go's.
func (s *Service) CreateLifecyclePolicy(ctx context.Context, account string, in *awsapi.CreateLifecyclePolicyRequest) (*awsapi.CreateLifecyclePolicyResponse, error) {
	if err := checkLifecyclePolicy(in.ResourceType, in.PolicyDetails, in.ResourceSelection); err != nil {
		return nil, err
	}
	out := &awsapi.CreateLifecyclePolicyResponse{ClientToken: in.ClientToken}
	err := s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpCreateLifecyclePolicy, in.ClientToken, in, out, func() error {
			a, err := s.insertNamedConfig(ctx, tx, account, kindLifecyclePolicy, in.Name, in.Tags, func(a string, now time.Time) any {
				return awsapi.LifecyclePolicy{
					Arn: a, Name: in.Name, Description: in.Description, Status: lifecycleStatus(in.Status),
					ExecutionRole: in.ExecutionRole, ResourceType: in.ResourceType,
					PolicyDetails: in.PolicyDetails, ResourceSelection: in.ResourceSelection,
					DateCreated: lifecycleTimestamp(now),
				}
			})
			out.LifecyclePolicyArn = a
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkLifecyclePolicy applies the rules of a policy document beyond its
// shapes (the shapes already bound rule counts 1–3, recipe counts 1–50,
// filter values 1–1000, retainAtLeast 1–10, lastLaunched 1–365 and the
// enums):
//
//   - resourceSelection names recipes or a tag map, not both and not
//     neither (InvalidRequestException: the spec recommends
//     InvalidParameterCombinationException, which CreateLifecyclePolicy
//     does not declare); recipe versions are M.m.p or trailing `x` wildcards;
//     a recipe is listed once;
//   - at most one rule per action type (UNSURE, the spec's "sensible"
//     rule: two rules of one type could only conflict);
//   - container images can only be deleted: DEPRECATE and DISABLE, the
//     `amis`/`snapshots` resources and AMI exclusion rules are for
//     AMI_IMAGE; `containers` is for CONTAINER_IMAGE;
//   - an AGE filter needs a unit; COUNT takes neither a unit nor
//     retainAtLeast, and only DELETE rules may count (UNSURE);
//   - AMI exclusion regions are region names.
func checkLifecyclePolicy(resourceType string, details []awsapi.LifecyclePolicyDetail, sel *awsapi.LifecyclePolicyResourceSelection) error {
	if sel == nil || (len(sel.Recipes) == 0) == (len(sel.TagMap) == 0) {
		return invalidRequest("The resourceSelection must specify exactly one of 'recipes' and 'tagMap'.")
	}
	recipes := map[string]bool{}
	for i, r := range sel.Recipes {
		member := fmt.Sprintf("resourceSelection.recipes[%d]", i)
		f, err := semver.ParseFilter(r.SemanticVersion)
		if err != nil {
			return badValue(member+".semanticVersion", "%v", err)
		}
		key := arn.NormalizeName(r.Name) + "/" + f.String()
		if recipes[key] {
			return badValue(member, "The recipe '%s' version '%s' is selected twice.", r.Name, r.SemanticVersion)
		}
		recipes[key] = true
	}
	container := resourceType == awsapi.LifecyclePolicyResourceTypeContainerImage
	actions := map[string]int{}
	for i, d := range details {
		at := func(member string) string { return fmt.Sprintf("policyDetails[%d].%s", i, member) }
		if d.Action == nil || d.Filter == nil { // required by the shape; kept for direct callers
			return badValue(fmt.Sprintf("policyDetails[%d]", i), "A rule needs an action and a filter.")
		}
		typ := d.Action.Type
		if j, dup := actions[typ]; dup {
			return badValue(at("action.type"), "policyDetails[%d] already has a %s rule; a policy has at most one rule per action type.", j, typ)
		}
		actions[typ] = i
		if container && typ != awsapi.LifecyclePolicyDetailActionTypeDelete {
			return badValue(at("action.type"), "The action %s applies only to AMI_IMAGE policies; container images can only be deleted.", typ)
		}
		if inc := d.Action.IncludeResources; inc != nil {
			if container && (deref(inc.Amis) || deref(inc.Snapshots)) {
				return badValue(at("action.includeResources"), "'amis' and 'snapshots' apply only to AMI_IMAGE policies.")
			}
			if !container && deref(inc.Containers) {
				return badValue(at("action.includeResources.containers"), "'containers' applies only to CONTAINER_IMAGE policies.")
			}
		}
		switch f := d.Filter; f.Type {
		case awsapi.LifecyclePolicyDetailFilterTypeAge:
			if f.Unit == "" {
				return badValue(at("filter.unit"), "An AGE filter needs a unit (DAYS, WEEKS, MONTHS or YEARS).")
			}
		case awsapi.LifecyclePolicyDetailFilterTypeCount:
			if f.Unit != "" {
				return badValue(at("filter.unit"), "A COUNT filter takes no unit.")
			}
			if f.RetainAtLeast != nil {
				return badValue(at("filter.retainAtLeast"), "retainAtLeast applies only to AGE filters.")
			}
			if typ != awsapi.LifecyclePolicyDetailActionTypeDelete {
				return badValue(at("filter.type"), "A COUNT filter applies only to DELETE rules.")
			}
		}
		if ex := d.ExclusionRules; ex != nil && ex.Amis != nil {
			if container {
				return badValue(at("exclusionRules.amis"), "AMI exclusion rules apply only to AMI_IMAGE policies.")
			}
			for k, r := range ex.Amis.Regions {
				if !arn.ValidRegion(r) {
					return badValue(at(fmt.Sprintf("exclusionRules.amis.regions[%d]", k)), "'%s' is not a valid region name.", r)
				}
			}
		}
	}
	return nil
}

// GetLifecyclePolicy returns a visible lifecycle policy.
func (s *Service) GetLifecyclePolicy(ctx context.Context, account string, in *awsapi.GetLifecyclePolicyRequest) (*awsapi.GetLifecyclePolicyResponse, error) {
	a, err := s.parseNamedARN("lifecyclePolicyArn", in.LifecyclePolicyArn, kindLifecyclePolicy)
	if err != nil {
		return nil, err
	}
	p, err := getDecoded(ctx, s, account, a, "Lifecycle Policy", decodeLifecyclePolicy)
	if err != nil {
		return nil, err
	}
	return &awsapi.GetLifecyclePolicyResponse{LifecyclePolicy: &p}, nil
}

func decodeLifecyclePolicy(r store.Resource) (awsapi.LifecyclePolicy, error) {
	var p awsapi.LifecyclePolicy
	if err := json.Unmarshal(r.Doc, &p); err != nil {
		return p, fmt.Errorf("stored lifecycle policy %s: %w", r.ARN, err)
	}
	if len(r.Tags) > 0 {
		p.Tags = r.Tags
	}
	return p, nil
}

// UpdateLifecyclePolicy replaces every member but name and tags; an
// omitted description is cleared and an omitted status returns to ENABLED.
// dateLastRun, which executions set, is kept.
func (s *Service) UpdateLifecyclePolicy(ctx context.Context, account string, in *awsapi.UpdateLifecyclePolicyRequest) (*awsapi.UpdateLifecyclePolicyResponse, error) {
	a, err := s.parseNamedARN("lifecyclePolicyArn", in.LifecyclePolicyArn, kindLifecyclePolicy)
	if err != nil {
		return nil, err
	}
	if err := checkLifecyclePolicy(in.ResourceType, in.PolicyDetails, in.ResourceSelection); err != nil {
		return nil, err
	}
	out := &awsapi.UpdateLifecyclePolicyResponse{LifecyclePolicyArn: a.String()}
	err = s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpUpdateLifecyclePolicy, in.ClientToken, in, out, func() error {
			return s.replaceNamedConfig(ctx, tx, account, a, "Lifecycle Policy", func(old []byte, now time.Time) (any, error) {
				var prev awsapi.LifecyclePolicy
				if err := json.Unmarshal(old, &prev); err != nil {
					return nil, err
				}
				return awsapi.LifecyclePolicy{
					Arn: prev.Arn, Name: prev.Name, Description: in.Description, Status: lifecycleStatus(in.Status),
					ExecutionRole: in.ExecutionRole, ResourceType: in.ResourceType,
					PolicyDetails: in.PolicyDetails, ResourceSelection: in.ResourceSelection,
					DateCreated: prev.DateCreated, DateUpdated: lifecycleTimestamp(now), DateLastRun: prev.DateLastRun,
				}, nil
			})
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lifecycleFilters accepts the filter names as the reference spells them
// (Name, Status) and in the lower case every other List uses.
var lifecycleFilters = filterFields{
	"Name":   store.DocField("name"),
	"name":   store.DocField("name"),
	"Status": store.DocField("status"),
	"status": store.DocField("status"),
}

// ListLifecyclePolicies lists the caller's lifecycle policies by name.
func (s *Service) ListLifecyclePolicies(ctx context.Context, account string, in *awsapi.ListLifecyclePoliciesRequest) (*awsapi.ListLifecyclePoliciesResponse, error) {
	match, err := lifecycleFilters.compile(in.Filters)
	if err != nil {
		return nil, err
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{
		op: "ListLifecyclePolicies", params: params, maxResults: in.MaxResults, nextToken: in.NextToken,
		query: store.Query{Kind: kindLifecyclePolicy, Region: s.Region, Owners: []string{account}, Where: match},
	}
	list, next, err := listRows(ctx, s, p, func(r store.Resource) (awsapi.LifecyclePolicySummary, error) {
		p, err := decodeLifecyclePolicy(r)
		return awsapi.LifecyclePolicySummary{
			Arn: p.Arn, Name: p.Name, Description: p.Description, Status: p.Status,
			ExecutionRole: p.ExecutionRole, ResourceType: p.ResourceType,
			DateCreated: p.DateCreated, DateUpdated: p.DateUpdated, DateLastRun: p.DateLastRun, Tags: p.Tags,
		}, err
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.ListLifecyclePoliciesResponse{LifecyclePolicySummaryList: list, NextToken: next}, nil
}

// DeleteLifecyclePolicy deletes the caller's lifecycle policy, unless an
// execution of it is in progress (ResourceDependencyException). Its past
// executions stay listed under its ARN.
func (s *Service) DeleteLifecyclePolicy(ctx context.Context, account string, in *awsapi.DeleteLifecyclePolicyRequest) (*awsapi.DeleteLifecyclePolicyResponse, error) {
	a, err := s.parseNamedARN("lifecyclePolicyArn", in.LifecyclePolicyArn, kindLifecyclePolicy)
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, func(tx store.Tx) error {
		r, err := s.ownedResource(ctx, tx, account, a, "Lifecycle Policy")
		if err != nil {
			return err
		}
		if id, err := s.activeLifecycleExecution(ctx, tx, account, r.ARN, s.now()); err != nil {
			return err
		} else if id != "" {
			return awsapi.Errorf(awsapi.ErrCodeResourceDependencyException,
				"The lifecycle policy '%s' has the execution '%s' in progress; wait for it or cancel it with CancelLifecycleExecution.", a, id)
		}
		return tx.Delete(ctx, r.ARN)
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.DeleteLifecyclePolicyResponse{LifecyclePolicyArn: a.String()}, nil
}
