package service

import (
	"context"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/store"
)

// TestParentAMI resolves image recipes' parentImage values to AMIs in
// kiln's catalogue: ids, operator-mapped Amazon names, and refusals.
func TestParentAMI(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	s := newWorkflowTestService(t, now)
	s.ParentImages = map[string]string{"debian-12-x86": "ami-00000000000000001"}
	ctx := context.Background()
	amis := []ami.AMI{
		{ImageID: "ami-00000000000000001", Region: "us-east-1", AccountID: "111111111111", Repository: "kiln/machine-images", Digest: "sha256:aa", Launchable: []string{"all"}},
		{ImageID: "ami-00000000000000002", Region: "us-east-1", AccountID: "111111111111", Repository: "kiln/machine-images", Digest: "sha256:bb"},
		{ImageID: "ami-00000000000000003", Region: "eu-west-1", AccountID: "222222222222", Repository: "kiln/machine-images", Digest: "sha256:cc"},
	}
	err := s.Store.Update(ctx, func(tx store.Tx) error {
		for _, a := range amis {
			if err := ami.Put(ctx, tx, s.Region, a, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, account, parent, want, code string
	}{
		{name: "own AMI", account: "111111111111", parent: "ami-00000000000000002", want: "sha256:bb"},
		{name: "public AMI of another account", account: "222222222222", parent: "ami-00000000000000001", want: "sha256:aa"},
		{name: "private AMI of another account", account: "222222222222", parent: "ami-00000000000000002", code: "InvalidParameterValueException"},
		{name: "AMI in another region", account: "222222222222", parent: "ami-00000000000000003", code: "InvalidParameterValueException"},
		{name: "unknown AMI", account: "111111111111", parent: "ami-0000000000000000f", code: "InvalidParameterValueException"},
		{name: "mapped Amazon name", account: "222222222222", parent: "arn:aws:imagebuilder:us-east-1:aws:image/debian-12-x86/x.x.x", want: "sha256:aa"},
		{name: "unmapped Amazon name", account: "222222222222", parent: "arn:aws:imagebuilder:us-east-1:aws:image/ubuntu-server-24-lts-x86/x.x.x", code: "InvalidParameterValueException"},
		{name: "image ARN with no image", account: "111111111111", parent: "arn:aws:imagebuilder:us-east-1:111111111111:image/nothing/x.x.x", code: "InvalidParameterValueException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got ami.AMI
			err := s.Store.View(ctx, func(tx store.Tx) (err error) {
				got, err = s.parentAMI(ctx, tx, tc.account, tc.parent)
				return err
			})
			if code := errCode(err); code != tc.code {
				t.Fatalf("error %v, want code %q", err, tc.code)
			}
			if tc.code == "" && got.Digest != tc.want {
				t.Errorf("resolved to %+v, want digest %s", got, tc.want)
			}
		})
	}
}
