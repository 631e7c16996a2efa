package ami

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/internal/blob"
	"github.com/kiln-build/kiln/internal/disk"
	"github.com/kiln-build/kiln/internal/store"
)

// ErrNotFound is the answer for an AMI the caller may not use, whether it
// exists or not: telling the two apart would disclose another account's
// private AMIs.
var ErrNotFound = errors.New("no such AMI")

// ExportFormats are the formats Export writes: the disk as stored (raw)
// and disk.ConvertFormats.
var ExportFormats = append([]string{"raw"}, disk.ConvertFormats...)

// ErrFormat is Export's answer to a format not in ExportFormats.
var ErrFormat = errors.New("format must be one of " + strings.Join(ExportFormats, ", "))

// Catalogue is the catalogue as accounts use it: every operation takes the
// calling account and applies the visibility rule (AMI.LaunchableBy).
type Catalogue struct {
	Store store.Store
	// Home is kiln's own region, under which every row is stored.
	Home string
	// DataDir is kiln's data directory, which AMI.Disk is relative to.
	DataDir string
	// Blobs, when set, is the store shared by every node that holds the
	// disks (see Disks).
	Blobs blob.Store
}

func (c *Catalogue) disks() *Disks { return &Disks{DataDir: c.DataDir, Blobs: c.Blobs} }

// Launchable lists the AMIs account owns or may launch, never nil: its
// own disabled AMIs are listed too (with disabled set), as EC2 lists them
// to their owner.
func (c *Catalogue) Launchable(ctx context.Context, account string) ([]AMI, error) {
	out := []AMI{}
	err := c.Store.View(ctx, func(tx store.Tx) error {
		all, err := List(ctx, tx, c.Home)
		for _, a := range all {
			if a.LaunchableBy(account) || a.AccountID == account {
				out = append(out, a)
			}
		}
		return err
	})
	return out, err
}

// Lookup returns one AMI account may launch; ErrNotFound otherwise.
func (c *Catalogue) Lookup(ctx context.Context, account, id string) (AMI, error) {
	var a AMI
	err := c.Store.View(ctx, func(tx store.Tx) error {
		var err error
		a, err = Get(ctx, tx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !a.LaunchableBy(account)) {
			return ErrNotFound
		}
		return err
	})
	return a, err
}

// Export makes an AMI's disk available in format ("raw" or "" for the disk
// as stored; qcow2, vmdk, vhdx or vhd converted into a temporary file, see
// disk.Convert) and returns its path; release drops what the conversion
// made and must be called once the file has been read. The caller must be
// able to launch the AMI.
func (c *Catalogue) Export(ctx context.Context, account, id, format string) (path string, release func(), err error) {
	if format == "" {
		format = "raw"
	}
	if !slices.Contains(ExportFormats, format) {
		return "", nil, ErrFormat
	}
	a, err := c.Lookup(ctx, account, id)
	if err != nil {
		return "", nil, err
	}
	if path, err = c.disks().Local(ctx, a.Disk); err != nil {
		return "", nil, err
	}
	if format == "raw" {
		return path, func() {}, nil
	}
	tmp, err := os.CreateTemp("", "kiln-export-*."+format)
	if err != nil {
		return "", nil, err
	}
	tmp.Close()
	release = func() { os.Remove(tmp.Name()) }
	if err := disk.Convert(ctx, path, tmp.Name(), format); err != nil {
		release()
		return "", nil, err
	}
	return tmp.Name(), release, nil
}

// Deregister removes an AMI account owns (ErrNotFound for any other,
// including one it may only launch) and then its disk, once no other AMI
// refers to it: several regions and accounts share one disk.
func (c *Catalogue) Deregister(ctx context.Context, account, id string) error {
	var orphan string
	err := c.Store.Update(ctx, func(tx store.Tx) error {
		orphan = ""
		a, err := Get(ctx, tx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && a.AccountID != account) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		orphan, err = Release(ctx, tx, c.Home, a)
		return err
	})
	if err != nil || orphan == "" {
		return err
	}
	// The row is gone whatever happens to the file, so its removal error
	// is not the caller's (see RemoveDisk).
	c.disks().Remove(ctx, orphan)
	return nil
}
