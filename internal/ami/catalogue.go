// Package ami is kiln's machine-image catalogue: the AMI records (EC2's
// AMIs, kept on this machine), who may see and launch them, where their
// disks live, and the operations kiln offers on them beyond the Image
// Builder API: listing what an account may launch, exporting a disk as raw,
// qcow2, vmdk, vhdx or vhd, and deregistering with the cleanup of a disk no AMI uses any
// more.
//
// It sits below the build engine, the service and the HTTP endpoints, all
// of which use it, and imports none of them: the engine records AMIs
// through it on an executor's behalf (build.Build.RegisterAMIs), so the
// record format and its rules have exactly one home.
package ami

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/store"
)

// Kind is the store kind of the catalogue: one row per registered AMI
// (per region and account a build distributes to).
const Kind = "kiln/ami"

func key(id string) string { return "kiln:ami:" + id }

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
	// content-addressed (named by Digest, see DiskPath), so AMIs of one
	// build share it.
	Disk string `json:"disk"`
	// Size is the disk's virtual size in bytes.
	Size int64 `json:"size"`
	// Architecture is EC2's name for the CPU the image's programs are
	// built for, "x86_64" or "arm64", read from the root filesystem's own
	// binaries (package rootarch); "" for AMIs registered before kiln
	// recorded it.
	Architecture string    `json:"architecture,omitempty"`
	CreationDate time.Time `json:"creationDate"`
	// Launchable lists accounts with launch permission besides the owner.
	Launchable []string `json:"launchPermission,omitempty"`
	// DeprecationTime is when the AMI was (or will be) deprecated, as
	// EC2's DeprecationTime: a lifecycle rule or state update sets it;
	// a deprecated AMI still launches.
	DeprecationTime *time.Time `json:"deprecationTime,omitempty"`
	// Disabled is EC2's disabled state: the AMI launches for nobody, its
	// owner included, until it is enabled again; only the owner still
	// lists it (and may deregister it).
	Disabled bool `json:"disabled,omitempty"`
	// LastLaunched is when an instance was last launched from the AMI
	// (zero: never, as far as kiln knows); lifecycle exclusion rules
	// read it.
	LastLaunched time.Time `json:"lastLaunched,omitzero"`
}

// LaunchableBy reports whether account may use the AMI: its owner, an
// account its launch permission names, or anyone when it names "all";
// nobody while it is disabled. It is the one visibility rule: what an
// account may launch it may also list, export and build on; only the
// owner deregisters (and lists its disabled AMIs).
func (a AMI) LaunchableBy(account string) bool {
	if a.Disabled {
		return false
	}
	return a.AccountID == account || slices.Contains(a.Launchable, account) || slices.Contains(a.Launchable, "all")
}

// Public reports whether every account may launch the AMI.
func (a AMI) Public() bool { return slices.Contains(a.Launchable, "all") }

// NewID returns a fresh EC2-style image id.
func NewID() string {
	b := make([]byte, 9)
	rand.Read(b)
	return "ami-" + hex.EncodeToString(b)[:17]
}

// DiskPath is where the disk of the root filesystem with this manifest
// digest lives, relative to the data directory. Disks are named by
// content so that every AMI of one build, and every rebuild of the same
// content, shares one file.
func DiskPath(digest string) string {
	return filepath.Join("disks", strings.ReplaceAll(digest, ":", "-")+".raw")
}

// Put registers (or replaces) an AMI in tx. The catalogue is this kiln's:
// every row is stored under kiln's own region (home), whatever region the
// AMI was distributed to, so one listing sees every AMI.
func Put(ctx context.Context, tx store.Tx, home string, a AMI, now time.Time) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return err
	}
	r := store.Resource{
		ARN: key(a.ImageID), Kind: Kind, Account: a.AccountID, Region: home,
		Name: a.ImageID, Doc: doc, Created: now, Updated: now,
	}
	if err := tx.Put(ctx, r); errors.Is(err, store.ErrNotFound) {
		return tx.Insert(ctx, r)
	} else {
		return err
	}
}

// Get returns one AMI by id; store.ErrNotFound when unknown.
func Get(ctx context.Context, tx store.Tx, id string) (AMI, error) {
	r, err := tx.Get(ctx, key(id))
	if err != nil {
		return AMI{}, err
	}
	return decode(r)
}

// List lists the catalogue's AMIs (every region's) the given accounts own
// (all when none); home is kiln's region, as for Put.
func List(ctx context.Context, tx store.Tx, home string, owners ...string) ([]AMI, error) {
	rows, err := tx.List(ctx, store.Query{Kind: Kind, Region: home, Owners: owners})
	if err != nil {
		return nil, err
	}
	out := make([]AMI, 0, len(rows))
	for _, r := range rows {
		a, err := decode(r)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Delete removes an AMI's row from the catalogue and nothing else; see
// Catalogue.Deregister for the disk.
func Delete(ctx context.Context, tx store.Tx, id string) error {
	return tx.Delete(ctx, key(id))
}

// Release removes an AMI's row in tx and returns its disk (relative to
// the data directory) when no other AMI uses it any more, "" otherwise:
// the caller removes that file once tx has committed (RemoveDisk), so a
// rolled-back transaction never loses a disk.
func Release(ctx context.Context, tx store.Tx, home string, a AMI) (orphan string, err error) {
	if err := Delete(ctx, tx, a.ImageID); err != nil {
		return "", err
	}
	all, err := List(ctx, tx, home)
	if err != nil {
		return "", err
	}
	for _, other := range all {
		if other.Disk == a.Disk {
			return "", nil
		}
	}
	return a.Disk, nil
}

// RemoveDisk removes a disk Release returned. The row is gone whatever
// happens to the file; a disk left behind costs space, not correctness.
func RemoveDisk(dataDir, rel string) error {
	if rel == "" || filepath.IsAbs(rel) || strings.HasPrefix(filepath.Clean(rel), "..") {
		return fmt.Errorf("disk path %q is not inside the data directory", rel)
	}
	err := os.Remove(filepath.Join(dataDir, rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func decode(r store.Resource) (AMI, error) {
	var a AMI
	if err := json.Unmarshal(r.Doc, &a); err != nil {
		return a, fmt.Errorf("stored %s %s: %w", r.Kind, r.ARN, err)
	}
	return a, nil
}
