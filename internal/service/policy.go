package service

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/policy"
	"github.com/kiln-build/kiln/internal/store"
)

// A resource policy (Put*Policy) grants other accounts actions on one
// component, image, image recipe or container recipe. kiln parses it with
// internal/policy, which refuses anything it cannot evaluate, and decides
// every cross-account read or use by evaluating it: an explicit Deny
// wins, Resource must match the resource's ARN, and conditions on
// aws:PrincipalAccount, aws:PrincipalArn and aws:ResourceAccount hold.
//
// The store's SharedWith column keeps the accounts an Allow statement
// names (or "*"); it is only an index that narrows which rows are
// evaluated, never the decision itself.

// policyActions are the actions a policy on each kind may grant and kiln
// checks: Get* to read or use the resource (in a recipe, as a parent),
// List* to see it listed under owner Shared. They are the actions of
// AWS's default RAM permissions for Image Builder resources.
var policyActions = map[string]struct{ get, list string }{
	kindComponent:       {"imagebuilder:GetComponent", "imagebuilder:ListComponents"},
	kindImage:           {"imagebuilder:GetImage", "imagebuilder:ListImages"},
	kindImageRecipe:     {"imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"},
	kindContainerRecipe: {"imagebuilder:GetContainerRecipe", "imagebuilder:ListContainerRecipes"},
}

// parsePolicy validates a resource policy for an Image Builder resource:
// only imagebuilder actions (or "*"), everything else as internal/policy
// accepts. Errors are InvalidParameterValueException naming the element.
func parsePolicy(doc string) (*policy.Policy, error) {
	p, err := policy.ParseWith(doc, policy.Options{Services: []string{"imagebuilder"}})
	if err != nil {
		return nil, badValue("policy", "%v", err)
	}
	return p, nil
}

// parsedPolicies caches parsed stored policies by their text, so listing
// many shared rows does not re-parse the same document. It is cleared
// when it grows past maxParsedPolicies: documents are few in practice,
// and the bound keeps a flood of distinct ones from growing memory.
var (
	parsedPoliciesMu  sync.Mutex
	parsedPolicies    = map[string]*policy.Policy{}
	maxParsedPolicies = 1024
)

// storedPolicy parses a stored policy. One stored before kiln evaluated
// policies may no longer parse (it used an element kiln now refuses); it
// then grants nothing, failing closed.
func storedPolicy(doc string) *policy.Policy {
	parsedPoliciesMu.Lock()
	defer parsedPoliciesMu.Unlock()
	if p, ok := parsedPolicies[doc]; ok {
		return p
	}
	p, err := parsePolicy(doc)
	if err != nil {
		p = nil
	}
	if len(parsedPolicies) >= maxParsedPolicies {
		clear(parsedPolicies)
	}
	parsedPolicies[doc] = p
	return p
}

// policyAllows reports whether r's resource policy allows account the
// action: the only way another account reaches r.
func policyAllows(r store.Resource, account, action string) bool {
	if r.Policy == "" || action == "" || account == r.Account {
		return false
	}
	if !slices.Contains(r.SharedWith, account) && !slices.Contains(r.SharedWith, "*") {
		return false
	}
	p := storedPolicy(r.Policy)
	if p == nil {
		return false
	}
	partition := "aws"
	if parts := strings.SplitN(r.ARN, ":", 3); len(parts) == 3 {
		partition = parts[1]
	}
	return p.Evaluate(policy.Request{
		PrincipalAccount: account,
		// kiln's callers are whole accounts (the credentials file maps
		// keys to accounts), so each acts as its account's root.
		PrincipalARN:    "arn:" + partition + ":iam::" + account + ":root",
		Action:          action,
		Resource:        r.ARN,
		ResourceAccount: r.Account,
	}) == policy.Allow
}

// sharedListable reports whether account may see r listed under owner
// Shared.
func sharedListable(r store.Resource, account string) bool {
	return policyAllows(r, account, policyActions[r.Kind].list)
}

// policyTarget names a kind of resource that carries resource policies:
// the request member holding its ARN, its ARN type, and its label in
// messages.
type policyTarget struct{ member, kind, label string }

var (
	componentPolicy       = policyTarget{"componentArn", kindComponent, "Component"}
	imageRecipePolicy     = policyTarget{"imageRecipeArn", kindImageRecipe, "ImageRecipe"}
	containerRecipePolicy = policyTarget{"containerRecipeArn", kindContainerRecipe, "ContainerRecipe"}
	imagePolicy           = policyTarget{"imageArn", kindImage, "Image"}
)

// putPolicy attaches a resource policy to the resource resourceARN names,
// which the caller must own.
func (s *Service) putPolicy(ctx context.Context, account string, t policyTarget, resourceARN, policy string) error {
	a, err := s.parseARN(t.member, resourceARN, t.kind)
	if err != nil {
		return err
	}
	parsed, err := parsePolicy(policy)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		r, err := s.ownedResource(ctx, tx, account, a, t.label)
		if err != nil {
			return err
		}
		r.Policy = policy
		r.SharedWith = parsed.Principals()
		r.Updated = s.now()
		return tx.Put(ctx, r)
	})
}

// getPolicy returns the policy of the resource resourceARN names; none
// attached is not found.
func (s *Service) getPolicy(ctx context.Context, account string, t policyTarget, resourceARN string) (string, error) {
	a, err := s.parseARN(t.member, resourceARN, t.kind)
	if err != nil {
		return "", err
	}
	var policy string
	err = s.view(ctx, func(tx store.Tx) error {
		r, err := s.getVisible(ctx, tx, account, a, t.label)
		if err != nil {
			return err
		}
		if r.Policy == "" {
			return notFound("The %s '%s' has no resource policy.", t.label, a)
		}
		policy = r.Policy
		return nil
	})
	return policy, err
}

// PutComponentPolicy implements the operation.
func (s *Service) PutComponentPolicy(ctx context.Context, account string, in *awsapi.PutComponentPolicyRequest) (*awsapi.PutComponentPolicyResponse, error) {
	if err := s.putPolicy(ctx, account, componentPolicy, in.ComponentArn, in.Policy); err != nil {
		return nil, err
	}
	return &awsapi.PutComponentPolicyResponse{ComponentArn: in.ComponentArn}, nil
}

// GetComponentPolicy implements the operation.
func (s *Service) GetComponentPolicy(ctx context.Context, account string, in *awsapi.GetComponentPolicyRequest) (*awsapi.GetComponentPolicyResponse, error) {
	policy, err := s.getPolicy(ctx, account, componentPolicy, in.ComponentArn)
	if err != nil {
		return nil, err
	}
	return &awsapi.GetComponentPolicyResponse{Policy: policy}, nil
}
