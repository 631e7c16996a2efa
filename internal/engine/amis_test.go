package engine

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/sqlite"
)

// TestRegisterAMIs: an executor's AMIs land in the catalogue and in the
// image's outputResources together, with the defaults filled in.
func TestRegisterAMIs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kiln.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	const image = "arn:aws:imagebuilder:us-east-1:111111111111:image/app/1.0.0/1"
	doc, _ := json.Marshal(awsapi.Image{Arn: image, Name: "app"})
	err = st.Update(ctx, func(tx store.Tx) error {
		return tx.Insert(ctx, store.Resource{ARN: image, Kind: "image", Account: "111111111111", Region: "us-east-1", Name: "app", Doc: doc, Created: now, Updated: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{Store: st, Region: "us-east-1", Now: func() time.Time { return now }}
	b := &Build{Image: awsapi.Image{Arn: image, Name: "app"}, engine: e}

	given := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got, err := b.RegisterAMIs(ctx, []ami.AMI{
		{Name: "home", Region: "us-east-1", AccountID: "111111111111", Disk: "disks/x.raw"},
		{ImageID: "ami-0000000000000000a", Name: "away", Region: "eu-west-1", AccountID: "222222222222", Disk: "disks/x.raw", CreationDate: given},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0].ImageID) != len("ami-")+17 || got[0].Image != image || !got[0].CreationDate.Equal(now) ||
		got[1].ImageID != "ami-0000000000000000a" || !got[1].CreationDate.Equal(given) {
		t.Fatalf("registered %+v", got)
	}

	var stored []ami.AMI
	var img awsapi.Image
	err = st.View(ctx, func(tx store.Tx) error {
		if stored, err = ami.List(ctx, tx, "us-east-1"); err != nil {
			return err
		}
		r, err := tx.Get(ctx, image)
		if err != nil {
			return err
		}
		return json.Unmarshal(r.Doc, &img)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 {
		t.Errorf("catalogue holds %+v, want both AMIs (every region under kiln's own)", stored)
	}
	if img.OutputResources == nil || len(img.OutputResources.Amis) != 2 ||
		img.OutputResources.Amis[0].Image != got[0].ImageID || img.OutputResources.Amis[1].Region != "eu-west-1" ||
		img.OutputResources.Amis[1].State.Status != awsapi.ImageStatusAvailable {
		t.Errorf("stored image outputResources = %+v", img.OutputResources)
	}
	if b.Image.OutputResources == nil || len(b.Image.OutputResources.Amis) != 2 {
		t.Errorf("the build's own copy of the image was not updated: %+v", b.Image.OutputResources)
	}
}
