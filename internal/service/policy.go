package service

import (
	"context"
	"encoding/json"
	"regexp"
	"sort"
	"strings"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// policyDocument is the subset of an IAM resource policy kiln interprets.
// Image Builder accepts policies that grant other accounts read and use
// of a resource; kiln records which principals an Allow statement names
// and shows the resource to them (owner filter Shared).
type policyDocument struct {
	Version   string            `json:"Version"`
	Statement policyStatementsT `json:"Statement"`
}

type policyStatement struct {
	Sid       string          `json:"Sid"`
	Effect    string          `json:"Effect"`
	Principal json.RawMessage `json:"Principal"`
	Action    stringOrList    `json:"Action"`
	Resource  stringOrList    `json:"Resource"`
}

// policyStatementsT accepts a single statement object or a list, as IAM does.
type policyStatementsT []policyStatement

func (p *policyStatementsT) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var one policyStatement
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*p = policyStatementsT{one}
		return nil
	}
	var many []policyStatement
	err := json.Unmarshal(b, &many)
	*p = many
	return err
}

type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var one string
		err := json.Unmarshal(b, &one)
		*s = stringOrList{one}
		return err
	}
	var many []string
	err := json.Unmarshal(b, &many)
	*s = many
	return err
}

var (
	accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)
	rootARNPattern   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}):(?:root|user/.+|role/.+)$`)
)

// parsePolicy validates a resource policy and returns the principals its
// Allow statements grant (12-digit accounts, or "*").
func parsePolicy(policy string) ([]string, error) {
	var doc policyDocument
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return nil, badValue("policy", "The policy is not valid JSON: %v", err)
	}
	if len(doc.Statement) == 0 {
		return nil, badValue("policy", "The policy must contain at least one Statement.")
	}
	granted := map[string]bool{}
	for i, st := range doc.Statement {
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return nil, badValue("policy", "Statement %d: Effect must be Allow or Deny.", i)
		}
		if len(st.Action) == 0 {
			return nil, badValue("policy", "Statement %d: Action is required.", i)
		}
		for _, a := range st.Action {
			if !strings.HasPrefix(a, "imagebuilder:") {
				return nil, badValue("policy", "Statement %d: the action '%s' is not an imagebuilder action.", i, a)
			}
		}
		principals, err := policyPrincipals(st.Principal)
		if err != nil {
			return nil, badValue("policy", "Statement %d: %v", i, err)
		}
		if st.Effect == "Allow" {
			for _, p := range principals {
				granted[p] = true
			}
		}
	}
	out := make([]string, 0, len(granted))
	for p := range granted {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

type policyError string

func (e policyError) Error() string { return string(e) }

func policyPrincipals(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, policyError("Principal is required")
	}
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star == "*" {
			return []string{"*"}, nil
		}
		return nil, policyError("Principal must be \"*\" or an object with AWS principals")
	}
	var obj struct {
		AWS stringOrList `json:"AWS"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || len(obj.AWS) == 0 {
		return nil, policyError("Principal must name AWS principals")
	}
	var out []string
	for _, p := range obj.AWS {
		switch {
		case p == "*":
			out = append(out, "*")
		case accountIDPattern.MatchString(p):
			out = append(out, p)
		case rootARNPattern.MatchString(p):
			out = append(out, rootARNPattern.FindStringSubmatch(p)[1])
		default:
			return nil, policyError("the principal '" + p + "' is not an account ID or IAM ARN")
		}
	}
	return out, nil
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
	principals, err := parsePolicy(policy)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		r, err := s.ownedResource(ctx, tx, account, a, t.label)
		if err != nil {
			return err
		}
		r.Policy = policy
		r.SharedWith = principals
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
