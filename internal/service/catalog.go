package service

import (
	"context"
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
			a := arn.New(s.Partition, s.Region, AmazonAccount, kindComponent, c.Name).WithVersion(c.Version).WithBuild(1)
			err = s.seedAmazonBuild(ctx, tx, a, created, func(dateCreated string) any {
				return awsapi.Component{
					Arn: a.String(), Name: c.Name, Version: c.Version, Description: c.Description,
					Type: doc.ComponentType(), Platform: c.Platform, SupportedOsVersions: c.SupportedOsVersions,
					Parameters: componentParameters(doc), Owner: amazonOwnerName, Data: c.Data,
					Encrypted: ptr(true), DateCreated: dateCreated,
				}
			}, sameData)
			if err != nil {
				return err
			}
		}
		return nil
	})
}
