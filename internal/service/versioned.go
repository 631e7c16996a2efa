package service

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// Components and workflows are build-versioned: every version
// (…/NAME/M.m.p) holds numbered builds (…/M.m.p/1, /2, …), each an
// immutable document. The mechanics they share live here.

// insertBuild stores the next build of a build-versioned resource for
// account. Following the current service (auto-versioning), creating a
// version that exists makes its next build (1.0.0/2) unless data, the new
// build's document, is identical to the latest build's, which is
// ResourceInUseException naming label ("component", "workflow"). doc
// builds the Get shape once the ARN and creation time are known.
func (s *Service) insertBuild(ctx context.Context, tx store.Tx, account, kind, label, name, version, data string, tags map[string]string, doc func(a string, now time.Time) any) (string, error) {
	norm := arn.NormalizeName(name)
	build, err := tx.NextBuild(ctx, account, s.Region, kind, norm, version)
	if err != nil {
		return "", err
	}
	// Build numbers are never reused, so build 1 means this version never
	// had a build: nothing to compare with. Skipping the List matters, as
	// this runs in the store's single writer, one create after another.
	// (When the create is refused below, the whole Update rolls back, the
	// counter included.)
	if build > 1 {
		existing, err := tx.List(ctx, store.Query{
			Kind: kind, Region: s.Region, Owners: []string{account}, Name: norm, Version: version,
		})
		if err != nil {
			return "", err
		}
		if n := len(existing); n > 0 {
			if latest, ok := storedData(existing[n-1].Doc); ok && latest == data {
				return "", awsapi.Errorf(awsapi.ErrCodeResourceInUseException,
					"The %s '%s' version %s already has a build with this document: '%s'.", label, name, version, existing[n-1].ARN)
			}
		}
	}
	a := arn.New(s.Partition, s.Region, account, kind, norm).WithVersion(version).WithBuild(build).String()
	now := s.now()
	raw, err := json.Marshal(doc(a, now))
	if err != nil {
		return "", err
	}
	return a, tx.Insert(ctx, store.Resource{
		ARN: a, Kind: kind, Account: account, Region: s.Region,
		Name: norm, Version: version, Build: build,
		Doc: raw, Tags: tags, Created: now, Updated: now,
	})
}

// storedData is the document (`data` member) of a stored component or
// workflow build; ok is false when the row does not decode.
func storedData(doc []byte) (data string, ok bool) {
	var d struct {
		Data string `json:"data"`
	}
	err := json.Unmarshal(doc, &d)
	return d.Data, err == nil
}

// seedAmazonBuild makes one Amazon-owned catalogue entry visible in this
// region as build 1 of its version (a is that build's ARN, under owner
// "aws"). doc renders the Get shape for a creation date. An existing row
// keeps its creation date and is rewritten only when unchanged, given the
// stored and the freshly rendered document, says it differs; so seeding
// at every start-up is cheap and idempotent.
func (s *Service) seedAmazonBuild(ctx context.Context, tx store.Tx, a arn.ARN, now time.Time, doc func(dateCreated string) any, unchanged func(stored, fresh []byte) bool) error {
	existing, err := tx.Get(ctx, a.String())
	switch {
	case err == nil:
		raw, _ := json.Marshal(doc(formatDateTime(existing.Created)))
		if unchanged(existing.Doc, raw) {
			return nil
		}
		existing.Doc = raw
		existing.Updated = now
		return tx.Put(ctx, existing)
	case errors.Is(err, store.ErrNotFound):
		raw, _ := json.Marshal(doc(formatDateTime(now)))
		return tx.Insert(ctx, store.Resource{
			ARN: a.String(), Kind: a.Type, Account: AmazonAccount, Region: s.Region,
			Name: a.Name, Version: a.Version, Build: 1, Doc: raw,
			Created: now, Updated: now,
		})
	default:
		return err
	}
}

// sameData is seedAmazonBuild's unchanged for components and workflows:
// an entry is rewritten only when its document (`data`) changed.
func sameData(stored, fresh []byte) bool {
	old, ok := storedData(stored)
	now, _ := storedData(fresh)
	return ok && old == now
}

// versionGroup is the listPage.group of a List of build-versioned
// resources: one entry per version (its latest build), or one per name
// with byName.
func versionGroup(byName bool) func(store.Resource) string {
	if byName {
		return func(r store.Resource) string { return r.Account + "/" + r.Name }
	}
	return func(r store.Resource) string { return r.Account + "/" + r.Name + "/" + r.Version }
}

// checkByName refuses the 'version' filter together with byName: an entry
// per name has no one version to match.
func checkByName(byName bool, filters []awsapi.Filter) error {
	if byName {
		for _, f := range filters {
			if f.Name == "version" {
				return invalidRequest("The 'version' filter cannot be used with byName.")
			}
		}
	}
	return nil
}
