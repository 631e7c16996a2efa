// Package service holds the Image Builder rules: validation beyond the
// wire shapes, ARNs and versions, idempotency, visibility between accounts,
// dependencies between resources. One file per resource family; the shared
// mechanics have their own files (idempotency.go, pagination.go, filter.go
// for List filters as store conditions, tags.go, policy.go), except the
// visibility rule between accounts, which is here.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// AmazonAccount is the owner segment of Amazon-managed ARNs.
const AmazonAccount = "aws"

// amazonOwnerName is what Get and List show as `owner` for Amazon-managed
// resources. The real string is undocumented and clients treat it as
// opaque text; "Amazon" matches the Ownership filter value that selects
// them.
const amazonOwnerName = "Amazon"

// Service implements the Image Builder operations on top of a Store.
type Service struct {
	Store     store.Store
	Partition string // "aws"
	Region    string
	// Fetch reads a document named by a `uri` member (s3:// or https://).
	Fetch DocumentFetcher
	// TokenKey signs pagination tokens so they cannot be forged or reused
	// with other parameters.
	TokenKey []byte
	Log      *slog.Logger
	Now      func() time.Time
	// Builds, when set, is told when a build was queued, so it starts at
	// once rather than at the engine's next poll.
	Builds interface{ Wake() }
	// Schedules, when set, is told when a pipeline was created, updated
	// or deleted (after the change committed), so the scheduler re-reads
	// the schedules at once rather than at its next refresh.
	Schedules interface{ Wake() }
	// ParentImages maps Amazon-owned parent image names (debian-12-x86)
	// to AMIs in kiln's catalogue, so recipes written for AWS build here.
	ParentImages map[string]string
	// ImportAllowed checks a file:// import path; nil refuses them all.
	ImportAllowed func(path string) error
	// LifecycleArtifacts removes the disks and registry images lifecycle
	// actions delete (lifecycle_execution.go).
	LifecycleArtifacts LifecycleArtifacts
	// ContainerRegions are regions besides Region whose container
	// distributions kiln carries out: those kiln serve --registry-for
	// maps to another registry.
	ContainerRegions []string
	// ContainerParentPlatforms returns the platforms of a container
	// parent image in kiln's registry (nil: unknown), so CreateImage
	// refuses an architecture the parent has no image of.
	ContainerParentPlatforms func(ctx context.Context, ref string) ([]v1.Platform, error)

	// versions caches rendered ListComponents entries by build ARN (see
	// componentVersion); component builds are immutable.
	versions sync.Map
	// versionsJSON is versions encoded (see componentVersionJSON).
	versionsJSON sync.Map
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// formatDateTime renders the `DateTime` string shape: ISO-8601 UTC with
// milliseconds, as the service does.
func formatDateTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// Visible reports whether account may read r: its own resources,
// Amazon-managed ones, and those whose resource policy allows it the
// kind's Get action (imagebuilder:GetComponent, ...). Reading a resource
// and using it (a shared component in a recipe, a shared image as a
// parent) are the same grant, as in Image Builder. Other readers of the
// store (kiln's catalogue endpoint) apply the same rule through it.
func Visible(r store.Resource, account string) bool { return visible(r, account) }

func visible(r store.Resource, account string) bool {
	if r.Account == account || r.Account == AmazonAccount {
		return true
	}
	return policyAllows(r, account, policyActions[r.Kind].get)
}

// LogsReadable reports whether account may read the build logs (and the
// workflow and step executions) of image r: only the image's owner. A
// resource policy shares an image's use, not the owner's build output,
// which may print secrets of the build; kiln itself reads logs without
// this check.
func LogsReadable(r store.Resource, account string) bool { return r.Account == account }

// ownerName is the `owner` member for a resource owned by account.
func ownerName(account string) string {
	if account == AmazonAccount {
		return amazonOwnerName
	}
	return account
}

func notFound(format string, args ...any) error {
	return awsapi.Errorf(awsapi.ErrCodeResourceNotFoundException, format, args...)
}

func badValue(member, format string, args ...any) error {
	return awsapi.Errorf(awsapi.ErrCodeInvalidParameterValueException,
		"The value supplied for parameter '%s' is not valid. %s", member, fmt.Sprintf(format, args...))
}

func invalidRequest(format string, args ...any) error {
	return awsapi.Errorf(awsapi.ErrCodeInvalidRequestException, format, args...)
}

// parseARN parses a member holding an Image Builder ARN of one of the
// given types and in this service's region.
func (s *Service) parseARN(member, value string, types ...string) (arn.ARN, error) {
	a, err := arn.Parse(value)
	if err != nil {
		return arn.ARN{}, badValue(member, "%v", err)
	}
	ok := len(types) == 0
	for _, t := range types {
		ok = ok || a.Type == t
	}
	if !ok {
		return arn.ARN{}, badValue(member, "the ARN %q is not a %s ARN", value, types[0])
	}
	return a, nil
}

// getVisible reads one resource by its concrete ARN for account,
// answering ResourceNotFoundException for resources the account may not
// see, exactly as for ones that do not exist.
func (s *Service) getVisible(ctx context.Context, tx store.Tx, account string, a arn.ARN, label string) (store.Resource, error) {
	if a.Region != s.Region {
		return store.Resource{}, notFound("The resource %s '%s' does not exist.", label, a)
	}
	r, err := tx.Get(ctx, a.String())
	if errors.Is(err, store.ErrNotFound) || (err == nil && !visible(r, account)) {
		return store.Resource{}, notFound("The resource %s '%s' does not exist.", label, a)
	}
	return r, err
}

// getDecoded reads the resource at a that account may see (as getVisible)
// in a read transaction and decodes it with decode.
func getDecoded[T any](ctx context.Context, s *Service, account string, a arn.ARN, label string, decode func(store.Resource) (T, error)) (T, error) {
	var v T
	err := s.view(ctx, func(tx store.Tx) error {
		r, err := s.getVisible(ctx, tx, account, a, label)
		if err != nil {
			return err
		}
		v, err = decode(r)
		return err
	})
	return v, err
}

// resolve finds the resource an ARN names for account: a build ARN names
// itself; a version ARN, with or without `x` wildcards, names the highest
// matching build the account can see.
func (s *Service) resolve(ctx context.Context, tx store.Tx, account string, a arn.ARN, label string) (store.Resource, error) {
	if a.Build > 0 || !arn.BuildVersioned(a.Type) {
		return s.getVisible(ctx, tx, account, a, label)
	}
	filter, hasVersion := a.Filter()
	if a.Region != s.Region {
		return store.Resource{}, notFound("The resource %s '%s' does not exist.", label, a)
	}
	where := versionedWhere(account, filter, hasVersion)
	if a.Type == kindImage {
		where = append(where, notDeleted) // a lifecycle action's DELETED builds
	}
	rows, err := tx.List(ctx, store.Query{
		Kind:   a.Type,
		Region: s.Region,
		Owners: []string{a.Account},
		Name:   a.Name,
		Where:  where,
	})
	if err != nil {
		return store.Resource{}, err
	}
	if len(rows) == 0 {
		return store.Resource{}, notFound("The resource %s '%s' does not exist.", label, a)
	}
	return rows[len(rows)-1], nil
}

// withTx runs fn in a read-write transaction, mapping store errors.
func (s *Service) update(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, fn)
}

func (s *Service) view(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.View(ctx, fn)
}
