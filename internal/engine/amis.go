package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// RegisterAMIs is how an executor publishes the machine images a build
// made: the AMIs go into kiln's catalogue and become the image's
// outputResources in one transaction, so no AMI is ever listed for an
// image that does not name it, or the other way round. Each AMI gets a
// fresh id, the build's image ARN and now as its creation date where the
// executor left them empty. It returns the AMIs as registered. In a
// DistributeImage job the AMIs are added to the image's outputResources
// rather than replacing them, and carry the request's tags over their
// amiTags.
//
// Executors never write the store themselves: the engine owns the records
// a build leaves behind, which is what lets it test, retry and clean them.
func (b *Build) RegisterAMIs(ctx context.Context, amis []ami.AMI) ([]ami.AMI, error) {
	now := b.engine.now()
	out := make([]ami.AMI, len(amis))
	for i, a := range amis {
		if a.ImageID == "" {
			a.ImageID = ami.NewID()
		}
		if a.Image == "" {
			a.Image = b.Image.Arn
		}
		if a.CreationDate.IsZero() {
			a.CreationDate = now
		}
		a.Tags = b.withDistributionTags(a.Tags)
		out[i] = a
	}
	outputs := make([]awsapi.Ami, len(out))
	for i, a := range out {
		outputs[i] = awsapi.Ami{
			Region: a.Region, Image: a.ImageID, Name: a.Name, Description: a.Description, AccountId: a.AccountID,
			State: &awsapi.ImageState{Status: awsapi.ImageStatusAvailable},
		}
	}
	err := b.engine.Store.Update(ctx, func(tx store.Tx) error {
		for _, a := range out {
			if err := ami.Put(ctx, tx, b.engine.Region, a, now); err != nil {
				return err
			}
		}
		return b.updateIn(ctx, tx, func(img *awsapi.Image) {
			if b.Job.Distribution != nil {
				img.OutputResources = &awsapi.OutputResources{Amis: mergeAmis(img.OutputResources, outputs, true)}
				return
			}
			// AMIs registered earlier in the build (a RegisterImage
			// step) stay listed beside the new ones.
			var kept []awsapi.Ami
			if img.OutputResources != nil {
				for _, a := range img.OutputResources.Amis {
					if !slices.ContainsFunc(outputs, func(o awsapi.Ami) bool { return o.Image == a.Image }) && builtAMI(ctx, tx, a.Image, b.Image.Arn) {
						kept = append(kept, a)
					}
				}
			}
			img.OutputResources = &awsapi.OutputResources{Amis: append(kept, outputs...)}
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// builtAMI reports whether the AMI id is in the catalogue as one of the
// image's own: outputs of an interrupted earlier attempt are not.
func builtAMI(ctx context.Context, tx store.Tx, id, image string) bool {
	a, err := ami.Get(ctx, tx, id)
	return err == nil && a.Image == image
}

// UpdateAMI edits an AMI this build registered (ModifyImageAttributes);
// an AMI of any other image is refused, so that a workflow never touches
// what it did not make.
func (b *Build) UpdateAMI(ctx context.Context, id string, edit func(*ami.AMI)) error {
	return b.engine.Store.Update(ctx, func(tx store.Tx) error {
		a, err := ami.Get(ctx, tx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && a.Image != b.Image.Arn) {
			return fmt.Errorf("the AMI %s was not made by this build", id)
		} else if err != nil {
			return err
		}
		edit(&a)
		return ami.Put(ctx, tx, b.engine.Region, a, b.engine.now())
	})
}
