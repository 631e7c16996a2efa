package ecr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/store"
)

// KindRepository is the store kind of ECR repository records. The
// registry's content (manifests, tags, blobs) lives in the registry's
// own directory; the record holds what ECR adds: the owner, the tag
// mutability, the policy and the tags.
const KindRepository = "ecr/repository"

// Tag mutability settings.
const (
	Mutable   = "MUTABLE"
	Immutable = "IMMUTABLE"
)

// InternalPrefix starts kiln's own repositories (kiln/machine-images):
// no account owns or may create them.
const InternalPrefix = "kiln/"

// repoNamePattern is ECR's repositoryName pattern.
var repoNamePattern = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// ValidRepositoryName reports whether name is a repository name ECR
// accepts (2 to 256 characters of its pattern).
func ValidRepositoryName(name string) bool {
	return len(name) >= 2 && len(name) <= 256 && repoNamePattern.MatchString(name)
}

// Repository is one ECR repository record.
type Repository struct {
	Name       string    `json:"repositoryName"`
	Account    string    `json:"registryId"`
	Created    time.Time `json:"createdAt"`
	Mutability string    `json:"imageTagMutability"`
	ScanOnPush bool      `json:"scanOnPush"`
	Encryption string    `json:"encryptionType"`
	KMSKey     string    `json:"kmsKey,omitempty"`

	// Policy and Tags live in the store's own columns.
	Policy string            `json:"-"`
	Tags   map[string]string `json:"-"`
}

// ARN returns the repository's ARN in region.
func (r Repository) ARN(region string) string {
	return repositoryARN(region, r.Account, r.Name)
}

func repositoryARN(region, account, name string) string {
	return "arn:aws:ecr:" + region + ":" + account + ":repository/" + name
}

// parseRepositoryARN splits arn:aws:ecr:REGION:ACCOUNT:repository/NAME.
func parseRepositoryARN(s string) (region, account, name string, ok bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != "aws" || parts[2] != "ecr" || !arn.ValidRegion(parts[3]) {
		return "", "", "", false
	}
	name, found := strings.CutPrefix(parts[5], "repository/")
	if !found || !isAccountID(parts[4]) || !ValidRepositoryName(name) {
		return "", "", "", false
	}
	return parts[3], parts[4], name, true
}

// Repos keeps repository records in kiln's store. Names are unique across
// accounts: kiln has one registry host, so a name can mean only one
// repository.
type Repos struct {
	Store  store.Store
	Region string
}

var errRepoNotFound = errors.New("repository not found")

func toRecord(region string, r Repository) (store.Resource, error) {
	doc, err := json.Marshal(r)
	if err != nil {
		return store.Resource{}, err
	}
	return store.Resource{
		ARN: r.ARN(region), Kind: KindRepository, Account: r.Account, Region: region,
		Name: r.Name, Doc: doc, Tags: r.Tags, Policy: r.Policy,
		Created: r.Created, Updated: time.Now().UTC(),
	}, nil
}

func fromRecord(res store.Resource) (Repository, error) {
	var r Repository
	if err := json.Unmarshal(res.Doc, &r); err != nil {
		return Repository{}, fmt.Errorf("ecr: record %s: %w", res.ARN, err)
	}
	r.Policy, r.Tags = res.Policy, res.Tags
	return r, nil
}

// lookup finds the repository called name inside tx.
func (rs *Repos) lookup(ctx context.Context, tx store.Tx, name string) (Repository, error) {
	rows, err := tx.List(ctx, store.Query{Kind: KindRepository, Region: rs.Region, Name: name, Limit: 1})
	if err != nil {
		return Repository{}, err
	}
	if len(rows) == 0 {
		return Repository{}, errRepoNotFound
	}
	return fromRecord(rows[0])
}

// Get returns the repository called name, or errRepoNotFound.
func (rs *Repos) Get(ctx context.Context, name string) (Repository, error) {
	var r Repository
	err := rs.Store.View(ctx, func(tx store.Tx) error {
		var err error
		r, err = rs.lookup(ctx, tx, name)
		return err
	})
	return r, err
}

// errNameTaken is returned by Create when the name is in use.
var errNameTaken = errors.New("repository name taken")

// Create stores a new repository; errNameTaken when the name is in use
// (by any account). The record is durable when Create returns.
func (rs *Repos) Create(ctx context.Context, r Repository) error {
	return rs.Store.Update(ctx, func(tx store.Tx) error {
		if _, err := rs.lookup(ctx, tx, r.Name); err == nil {
			return errNameTaken
		} else if !errors.Is(err, errRepoNotFound) {
			return err
		}
		res, err := toRecord(rs.Region, r)
		if err != nil {
			return err
		}
		return tx.Insert(ctx, res)
	})
}

// Ensure returns the repository called name, creating it for account
// when nobody owns it yet (create-on-push).
func (rs *Repos) Ensure(ctx context.Context, name, account string) (Repository, error) {
	var out Repository
	err := rs.Store.Update(ctx, func(tx store.Tx) error {
		r, err := rs.lookup(ctx, tx, name)
		if err == nil {
			out = r
			return nil
		}
		if !errors.Is(err, errRepoNotFound) {
			return err
		}
		out = Repository{Name: name, Account: account, Created: time.Now().UTC().Truncate(time.Millisecond), Mutability: Mutable, Encryption: "AES256"}
		res, err := toRecord(rs.Region, out)
		if err != nil {
			return err
		}
		return tx.Insert(ctx, res)
	})
	return out, err
}

// Update applies edit to the repository called name, durably.
func (rs *Repos) Update(ctx context.Context, name string, edit func(*Repository) error) (Repository, error) {
	var out Repository
	err := rs.Store.Update(ctx, func(tx store.Tx) error {
		r, err := rs.lookup(ctx, tx, name)
		if err != nil {
			return err
		}
		if err := edit(&r); err != nil {
			return err
		}
		res, err := toRecord(rs.Region, r)
		if err != nil {
			return err
		}
		out = r
		return tx.Put(ctx, res)
	})
	return out, err
}

// Delete removes the record of the repository called name.
func (rs *Repos) Delete(ctx context.Context, r Repository) error {
	return rs.Store.Update(ctx, func(tx store.Tx) error {
		err := tx.Delete(ctx, r.ARN(rs.Region))
		if errors.Is(err, store.ErrNotFound) {
			return errRepoNotFound
		}
		return err
	})
}

// List returns the repositories owned by account, by name.
func (rs *Repos) List(ctx context.Context, account string) ([]Repository, error) {
	var out []Repository
	err := rs.Store.View(ctx, func(tx store.Tx) error {
		rows, err := tx.List(ctx, store.Query{Kind: KindRepository, Region: rs.Region, Owners: []string{account}})
		if err != nil {
			return err
		}
		for _, row := range rows {
			r, err := fromRecord(row)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}
