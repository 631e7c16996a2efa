package caller

import (
	"context"
	"errors"
	"testing"
)

func TestBucketOwners(t *testing.T) {
	var owners BucketOwners
	for _, v := range []string{"alice-logs=111111111111", "shared=111111111111", "shared=222222222222"} {
		if err := owners.ParseBucketOwner(v); err != nil {
			t.Fatal(err)
		}
	}
	alice := WithAccount(context.Background(), "111111111111")
	bob := WithAccount(context.Background(), "222222222222")
	nobody := context.Background()
	for _, tc := range []struct {
		name     string
		unlisted bool
		ctx      context.Context
		bucket   string
		ok       bool
	}{
		{"owner", false, alice, "alice-logs", true},
		{"another account", false, bob, "alice-logs", false},
		{"no account", false, nobody, "alice-logs", false},
		{"shared bucket, first", false, alice, "shared", true},
		{"shared bucket, second", false, bob, "shared", true},
		{"unlisted, shared server", false, alice, "other", false},
		{"unlisted, one trusted account", true, bob, "other", true},
		{"listed buckets stay theirs when unlisted ones are open", true, bob, "alice-logs", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := owners
			o.Unlisted = tc.unlisted
			err := o.Check(tc.ctx, tc.bucket)
			if (err == nil) != tc.ok {
				t.Fatalf("Check = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBucketRefused) {
				t.Fatalf("err = %v, want ErrBucketRefused", err)
			}
		})
	}
	if err := (*BucketOwners)(nil).Check(bob, "x"); err != nil {
		t.Errorf("no rule: %v", err)
	}
}

func TestParseBucketOwner(t *testing.T) {
	for _, v := range []string{"", "bucket", "=111111111111", "b=1111", "b=11111111111x", "b=1111111111111"} {
		var o BucketOwners
		if err := o.ParseBucketOwner(v); err == nil {
			t.Errorf("ParseBucketOwner(%q) accepted", v)
		}
	}
}

func FuzzParseBucketOwner(f *testing.F) {
	f.Add("logs=111111111111")
	f.Add("a=b=c")
	f.Fuzz(func(t *testing.T, v string) {
		var o BucketOwners
		if o.ParseBucketOwner(v) == nil && len(o.Owners) != 1 {
			t.Fatalf("%q parsed into %v", v, o.Owners)
		}
	})
}
