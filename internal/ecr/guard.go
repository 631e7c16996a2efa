package ecr

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/kiln-build/kiln/internal/oci/registry"
	"github.com/kiln-build/kiln/internal/policy"
)

// Guard decides who may do what with kiln's repositories, for the
// registry's HTTP API, for ECR's API and for builds. It implements
// registry.Guard and registry.TagPolicy.
//
// The rules are ECR's: a repository belongs to the account that created
// it (explicitly, or by pushing to a name nobody owns); its owner may do
// anything its policy does not explicitly deny; another account may do
// only what the owner's repository policy allows, with ECR's action
// names. kiln's internal repositories (InternalPrefix) belong to no
// account: kiln's engine reaches them, and Internal decides which
// account may pull what from them.
type Guard struct {
	Repos  *Repos
	Tokens *Tokens
	// Enforce turns the rules on (--auth strict). Off, as in the loopback
	// and open modes where every caller could act as any account anyway,
	// every request is allowed, anonymous registry requests act as
	// DefaultAccount, and pushes still record who created a repository.
	Enforce        bool
	DefaultAccount string
	// Exists reports whether the registry holds content under name; a
	// repository with content but no record (pushed before kiln kept
	// records) belongs to DefaultAccount.
	Exists func(name string) bool
	// Internal, when set, reports whether account may pull a's manifest or
	// blob from an internal repository: kiln passes the owners of the
	// machine images whose root filesystems the repository holds. Nil
	// refuses everyone but kiln.
	Internal func(ctx context.Context, account string, a registry.Access) bool
	// Current, when set, reports whether a token's principal is still one
	// kiln knows: a key removed from the credentials file stops working
	// at the next restart rather than 12 hours later.
	Current func(Identity) bool
}

// Authenticate implements registry.Guard: the password is a token from
// GetAuthorizationToken (the user name is AWS, as for ECR, though any is
// accepted). Under Enforce nothing else is: in particular not the
// long-term secret key, which would otherwise travel with every pull.
func (g *Guard) Authenticate(req *http.Request) (registry.Caller, error) {
	_, password, ok := req.BasicAuth()
	if ok {
		id, err := g.Tokens.Verify(password)
		if err == nil && !id.Kiln && g.Current != nil && !g.Current(id) {
			err = errors.New("the authorization token's principal is no longer known to kiln")
		}
		if err == nil {
			return registry.Caller{Account: id.Account, ARN: id.ARN, Kiln: id.Kiln}, nil
		}
		if g.Enforce {
			return registry.Caller{}, err
		}
	}
	if g.Enforce {
		return registry.Caller{}, errors.New("authentication required: log in with the password from `aws ecr get-login-password`")
	}
	return registry.Caller{Account: g.DefaultAccount, ARN: rootARN(g.DefaultAccount)}, nil
}

func rootARN(account string) string { return "arn:aws:iam::" + account + ":root" }

// ecrActions are the IAM actions a registry access needs, all of them.
func ecrActions(a registry.Access) []string {
	switch a.Action {
	case registry.ActionPull:
		if a.Blob {
			return []string{"ecr:GetDownloadUrlForLayer"}
		}
		return []string{"ecr:BatchGetImage"}
	case registry.ActionPush:
		if a.Reference != "" && !a.Blob {
			return []string{"ecr:PutImage"}
		}
		return []string{"ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"}
	case registry.ActionList:
		return []string{"ecr:ListImages"}
	case registry.ActionDelete:
		return []string{"ecr:BatchDeleteImage"}
	}
	return []string{"ecr:" + string(a.Action)}
}

// Authorize implements registry.Guard.
func (g *Guard) Authorize(ctx context.Context, c registry.Caller, a registry.Access) error {
	if c.Kiln {
		return nil
	}
	if strings.HasPrefix(a.Repository, InternalPrefix) {
		if a.Action == registry.ActionPull && g.Internal != nil && g.Internal(ctx, c.Account, a) {
			return nil
		}
		if !g.Enforce {
			return nil
		}
		return registry.Errorf(registry.ErrDenied, "%s is kiln's internal repository; only the owners of the images it holds may pull them", a.Repository)
	}
	repo, err := g.owner(ctx, a.Repository, a.Action == registry.ActionPush, c.Account)
	if errors.Is(err, errRepoNotFound) {
		return registry.Errorf(registry.ErrNameUnknown, "repository %s is not known", a.Repository)
	}
	if err != nil {
		return err
	}
	if !g.Enforce {
		return nil
	}
	if g.allowed(repo, identityOf(c), ecrActions(a)...) {
		return nil
	}
	if a.Head && a.Blob && g.allowed(repo, identityOf(c), "ecr:BatchCheckLayerAvailability") {
		// Pushers ask whether a layer is there before uploading it: ECR's
		// BatchCheckLayerAvailability, part of the push permissions.
		return nil
	}
	return registry.Errorf(registry.ErrDenied, "User: %s is not authorized to perform: %s on resource: %s",
		c.ARN, strings.Join(ecrActions(a), ", "), repo.ARN(g.Repos.Region))
}

func identityOf(c registry.Caller) Identity {
	return Identity{Account: c.Account, ARN: c.ARN, Kiln: c.Kiln}
}

// owner returns the repository's record. A repository with content but
// no record is adopted by DefaultAccount; with create set, a name nobody
// holds becomes account's repository.
func (g *Guard) owner(ctx context.Context, name string, create bool, account string) (Repository, error) {
	r, err := g.Repos.Get(ctx, name)
	if !errors.Is(err, errRepoNotFound) {
		return r, err
	}
	switch {
	case g.Exists != nil && g.Exists(name):
		return g.Repos.Ensure(ctx, name, g.DefaultAccount)
	case create:
		return g.Repos.Ensure(ctx, name, account)
	}
	return Repository{}, errRepoNotFound
}

// allowed reports whether id may do every one of actions on repo: the
// owner unless the policy denies it, anyone else only when the policy
// allows each action and denies none.
func (g *Guard) allowed(repo Repository, id Identity, actions ...string) bool {
	if id.Kiln {
		return true
	}
	var pol *policy.Policy
	if repo.Policy != "" {
		// A stored policy was parsed when it was set; one that no longer
		// parses grants nothing and denies nothing.
		pol, _ = parsePolicy(repo.Policy)
	}
	for _, action := range actions {
		d := policy.NotApplicable
		if pol != nil {
			d = pol.Evaluate(policy.Request{
				PrincipalAccount: id.Account, PrincipalARN: id.ARN, Action: action,
				Resource: repo.ARN(g.Repos.Region), ResourceAccount: repo.Account,
			})
		}
		if d == policy.Deny || (d != policy.Allow && repo.Account != id.Account) {
			return false
		}
	}
	return true
}

// Visible implements registry.Guard: a caller sees its own repositories
// and those whose policy lets it pull or describe them.
func (g *Guard) Visible(ctx context.Context, c registry.Caller, name string) bool {
	if c.Kiln || !g.Enforce {
		return true
	}
	if strings.HasPrefix(name, InternalPrefix) {
		return false
	}
	repo, err := g.owner(ctx, name, false, "")
	if err != nil {
		return false
	}
	return g.visibleTo(repo, identityOf(c))
}

func (g *Guard) visibleTo(repo Repository, id Identity) bool {
	for _, a := range []string{"ecr:DescribeRepositories", "ecr:BatchGetImage", "ecr:ListImages"} {
		if g.allowed(repo, id, a) {
			return true
		}
	}
	return false
}

// Immutable implements registry.TagPolicy.
func (g *Guard) Immutable(ctx context.Context, name string) bool {
	r, err := g.Repos.Get(ctx, name)
	return err == nil && r.Mutability == Immutable
}

// AuthorizeBuild checks that an Image Builder build owned by account may
// do action on repository, creating the repository for account on a
// first push. Builds run inside kiln, so this is the check their
// in-process pushes go through instead of HTTP's. With dryRun nothing is
// created: a push to a name nobody holds passes, as it would create the
// repository.
func (g *Guard) AuthorizeBuild(ctx context.Context, account, repository string, action registry.Action, dryRun bool) error {
	if dryRun && action == registry.ActionPush && !strings.HasPrefix(repository, InternalPrefix) {
		if _, err := g.owner(ctx, repository, false, ""); errors.Is(err, errRepoNotFound) {
			return nil
		}
	}
	c := registry.Caller{Account: account, ARN: rootARN(account)}
	a := registry.Access{Repository: repository, Action: action}
	if action == registry.ActionPush {
		// A build both uploads layers and puts the manifest.
		if err := g.Authorize(ctx, c, a); err != nil {
			return err
		}
		a.Reference = "latest"
	}
	return g.Authorize(ctx, c, a)
}

// Adopt gives every repository the registry holds without a record to
// DefaultAccount: repositories pushed before kiln kept records (or in a
// data directory from an older kiln) get an owner at start-up, so they
// show in DescribeRepositories and nobody can claim them by pushing.
// kiln's internal repositories stay ownerless.
func (g *Guard) Adopt(ctx context.Context, names []string) error {
	for _, name := range names {
		if strings.HasPrefix(name, InternalPrefix) {
			continue
		}
		if _, err := g.Repos.Ensure(ctx, name, g.DefaultAccount); err != nil {
			return err
		}
	}
	return nil
}
