package caller

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// BucketOwners says which accounts may use which S3 buckets through kiln's
// own S3 credentials (the --s3-endpoint's), for s3:// documents, disk
// imports and shipped build logs. Image Builder uses the caller's own IAM
// permissions there; kiln has one set of credentials for every account, so
// without this rule any account could read or write any object those
// credentials reach — another account's shipped build logs among them.
type BucketOwners struct {
	// Owners maps a bucket to the accounts that may use it.
	Owners map[string][]string
	// Unlisted makes buckets missing from Owners usable by every account:
	// right when kiln serves one trusted account (loopback mode), wrong on
	// a shared server.
	Unlisted bool
}

// ErrBucketRefused is the error of a refused bucket; its text names no
// owner.
var ErrBucketRefused = errors.New("kiln does not let this account use that bucket through its S3 credentials (kiln serve --s3-bucket-owner)")

// ParseBucketOwner parses one --s3-bucket-owner value, BUCKET=ACCOUNT.
func (b *BucketOwners) ParseBucketOwner(v string) error {
	bucket, account, ok := strings.Cut(v, "=")
	if !ok || bucket == "" || len(account) != 12 || strings.Trim(account, "0123456789") != "" {
		return fmt.Errorf("--s3-bucket-owner %q: want BUCKET=ACCOUNT (a 12-digit account ID)", v)
	}
	if b.Owners == nil {
		b.Owners = map[string][]string{}
	}
	b.Owners[bucket] = append(b.Owners[bucket], account)
	return nil
}

// Check reports whether the account ctx carries may use bucket. Work with
// no account in its context is refused unless every bucket is open.
func (b *BucketOwners) Check(ctx context.Context, bucket string) error {
	if b == nil {
		return nil
	}
	owners, listed := b.Owners[bucket]
	if !listed {
		if b.Unlisted {
			return nil
		}
		return ErrBucketRefused
	}
	account, ok := Account(ctx)
	if !ok {
		return ErrBucketRefused
	}
	for _, o := range owners {
		if o == account {
			return nil
		}
	}
	return ErrBucketRefused
}
