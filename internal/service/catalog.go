package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/catalog"
	"github.com/kiln-build/kiln/internal/store"
)

// SeedCatalog makes the Amazon-owned components visible in this region:
// each is stored as build 1 of its version under owner "aws", replaced
// when the embedded document changed and left alone otherwise, so start-up
// is cheap and idempotent.
func (s *Service) SeedCatalog(ctx context.Context) error {
	comps, err := catalog.Components()
	if err != nil {
		return err
	}
	created := s.now()
	return s.update(ctx, func(tx store.Tx) error {
		for _, c := range comps {
			doc, err := parseComponentDocument("data", c.Name, c.Data)
			if err != nil {
				return fmt.Errorf("catalog component %s: %w", c.Name, err)
			}
			a := arn.New(s.Partition, s.Region, AmazonAccount, kindComponent, c.Name).WithVersion(c.Version).WithBuild(1).String()
			comp := awsapi.Component{
				Arn: a, Name: c.Name, Version: c.Version, Description: c.Description,
				Type: doc.ComponentType(), Platform: c.Platform, SupportedOsVersions: c.SupportedOsVersions,
				Parameters: componentParameters(doc), Owner: amazonOwnerName, Data: c.Data,
				Encrypted: ptr(true), DateCreated: formatDateTime(created),
			}
			existing, err := tx.Get(ctx, a)
			switch {
			case err == nil:
				var old awsapi.Component
				if json.Unmarshal(existing.Doc, &old) == nil && old.Data == c.Data {
					continue
				}
				comp.DateCreated = formatDateTime(existing.Created)
				existing.Doc, _ = json.Marshal(comp)
				existing.Updated = created
				if err := tx.Put(ctx, existing); err != nil {
					return err
				}
			case errors.Is(err, store.ErrNotFound):
				raw, _ := json.Marshal(comp)
				if err := tx.Insert(ctx, store.Resource{
					ARN: a, Kind: kindComponent, Account: AmazonAccount, Region: s.Region,
					Name: c.Name, Version: c.Version, Build: 1, Doc: raw,
					Created: created, Updated: created,
				}); err != nil {
					return err
				}
			default:
				return err
			}
		}
		return nil
	})
}
