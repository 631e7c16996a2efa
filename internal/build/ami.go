package build

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/kiln-build/kiln/internal/store"
)

// KindAMI is the store kind of kiln's local machine-image catalogue: one
// row per registered AMI (per region and account a build distributes to).
const KindAMI = "kiln/ami"

func amiKey(id string) string { return "kiln:ami:" + id }

// AMI is one machine image in kiln's local catalogue: EC2's AMI, kept on
// this machine. Several AMIs (regions, accounts) share one disk.
type AMI struct {
	ImageID     string            `json:"imageId"` // ami-<17 hex>
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Region      string            `json:"region"`
	AccountID   string            `json:"accountId"`
	Tags        map[string]string `json:"tags,omitempty"`
	// Image is the Image Builder image build that made (or imported) it.
	Image string `json:"image"`
	// Repository and Digest name the root filesystem as an OCI image in
	// kiln's registry: what builds on this AMI start from.
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	// Disk is the raw disk image, relative to the data directory; it is
	// content-addressed (named by Digest), so AMIs of one build share it.
	Disk string `json:"disk"`
	// Size is the disk's virtual size in bytes.
	Size         int64     `json:"size"`
	CreationDate time.Time `json:"creationDate"`
	// Launchable lists accounts with launch permission besides the owner.
	Launchable []string `json:"launchPermission,omitempty"`
}

// LaunchableBy reports whether account may use the AMI: its owner, an
// account its launch permission names, or anyone when it names "all".
func (a AMI) LaunchableBy(account string) bool {
	return a.AccountID == account || slices.Contains(a.Launchable, account) || slices.Contains(a.Launchable, "all")
}

// NewAMIID returns a fresh EC2-style image id.
func NewAMIID() string {
	b := make([]byte, 9)
	rand.Read(b)
	return "ami-" + hex.EncodeToString(b)[:17]
}

// PutAMI registers (or replaces) an AMI in tx. The catalogue is this
// kiln's: every row is stored under kiln's own region (home), whatever
// region the AMI was distributed to, so one listing sees every AMI.
func PutAMI(ctx context.Context, tx store.Tx, home string, a AMI, now time.Time) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return err
	}
	r := store.Resource{
		ARN: amiKey(a.ImageID), Kind: KindAMI, Account: a.AccountID, Region: home,
		Name: a.ImageID, Doc: doc, Created: now, Updated: now,
	}
	if err := tx.Put(ctx, r); errors.Is(err, store.ErrNotFound) {
		return tx.Insert(ctx, r)
	} else {
		return err
	}
}

// GetAMI returns one AMI by id; store.ErrNotFound when unknown.
func GetAMI(ctx context.Context, tx store.Tx, id string) (AMI, error) {
	r, err := tx.Get(ctx, amiKey(id))
	if err != nil {
		return AMI{}, err
	}
	return decode[AMI](r)
}

// ListAMIs lists the catalogue's AMIs (every region's) the given accounts
// own (all when none); home is kiln's region, as for PutAMI.
func ListAMIs(ctx context.Context, tx store.Tx, home string, owners ...string) ([]AMI, error) {
	rows, err := tx.List(ctx, store.Query{Kind: KindAMI, Region: home, Owners: owners})
	if err != nil {
		return nil, err
	}
	out := make([]AMI, 0, len(rows))
	for _, r := range rows {
		a, err := decode[AMI](r)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// DeleteAMI removes an AMI from the catalogue (the disk stays while
// another AMI uses it).
func DeleteAMI(ctx context.Context, tx store.Tx, id string) error {
	return tx.Delete(ctx, amiKey(id))
}
