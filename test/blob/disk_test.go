package blob

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/s3gw"
)

// TestMachineDiskInBucket imports a machine image on a node whose blob
// store is a bucket: its disk is stored in the bucket (its data, not its
// holes), and once the node's own copy is gone `kiln ami export` writes
// the same disk, fetched back from the bucket.
func TestMachineDiskInBucket(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	gw := s3gw.Start(t)
	dir := t.TempDir()
	tarball := kilntest.BootableRootTarball(t, dir)
	srv := nodes(t, gw, "disks", 1, "--allow-import-dir", dir)[0]
	client := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	infra, err := client.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"),
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.ImportDiskImage(ctx, &imagebuilder.ImportDiskImageInput{
		Name: aws.String("imported"), SemanticVersion: aws.String("1.0.0"), Platform: aws.String("Linux"),
		OsVersion: aws.String("Debian 12"), InfrastructureConfigurationArn: infra.InfrastructureConfigurationArn,
		Uri: aws.String("file://" + tarball),
	})
	if err != nil {
		t.Fatal(err)
	}
	var img *types.Image
	for deadline := time.Now().Add(4 * time.Minute); img == nil; time.Sleep(300 * time.Millisecond) {
		got, err := client.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: out.ImageBuildVersionArn})
		if err == nil && got.Image.State != nil {
			switch got.Image.State.Status {
			case types.ImageStatusAvailable, types.ImageStatusFailed, types.ImageStatusCancelled:
				img = got.Image
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the import did not finish; server log:\n%s", srv.Log())
		}
	}
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("import is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), srv.Log())
	}
	amiID := aws.ToString(img.OutputResources.Amis[0].Image)

	var inBucket []string
	filepath.WalkDir(filepath.Join(gw.Dir, gw.Bucket, "disks", "disks"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ".raw") {
			inBucket = append(inBucket, p)
		}
		return nil
	})
	if len(inBucket) != 1 {
		t.Fatalf("disks in the bucket: %q", inBucket)
	}
	export := func() string {
		t.Helper()
		exported := filepath.Join(t.TempDir(), "disk.raw")
		cmd := exec.Command(kilntest.Binary(t), "ami", "export", "--endpoint", srv.URL, amiID, "--format", "raw", "--output", exported)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+kilntest.DefaultCreds.AccessKeyID,
			"AWS_SECRET_ACCESS_KEY="+kilntest.DefaultCreds.SecretAccessKey, "AWS_REGION=us-east-1")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kiln ami export: %v\n%s", err, b)
		}
		return exported
	}
	// The node's own disk, set aside (sparse, so instantly), then gone.
	built, _ := filepath.Glob(filepath.Join(srv.DataDir, "disks", "*.raw"))
	if len(built) != 1 {
		t.Fatalf("disks in the data directory: %q", built)
	}
	aside := filepath.Join(t.TempDir(), "built.raw")
	if b, err := exec.Command("cp", "--sparse=always", built[0], aside).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, b)
	}
	if err := os.RemoveAll(filepath.Join(srv.DataDir, "disks")); err != nil {
		t.Fatal(err)
	}
	fetched := export()
	if a, b := dataSum(t, aside), dataSum(t, fetched); !bytes.Equal(a, b) {
		t.Error("the disk fetched back from the bucket differs from the one the node built")
	}
	// The bucket holds the disk's data, not its holes.
	if fi, err := os.Stat(inBucket[0]); err != nil || fi.Size() >= 1<<30 {
		t.Errorf("the bucket's copy of the 8 GiB sparse disk holds %d bytes", fi.Size())
	}
}

// dataSum hashes a disk's non-zero 64 KiB blocks with their offsets,
// reading only its data extents: two sparse copies of one disk hash the
// same however their holes fall, and 8 GiB of holes cost nothing.
func dataSum(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	h := sha256.New()
	const block = 64 << 10
	buf := make([]byte, block)
	zero := make([]byte, block)
	for off := int64(0); off < fi.Size(); {
		start, err := f.Seek(off, 3) // SEEK_DATA
		if err != nil {
			break
		}
		end, err := f.Seek(start, 4) // SEEK_HOLE
		if err != nil {
			end = fi.Size()
		}
		for b := start / block * block; b < end; b += block {
			n, _ := f.ReadAt(buf, b)
			if !bytes.Equal(buf[:n], zero[:n]) {
				fmt.Fprintf(h, "%d:", b)
				h.Write(buf[:n])
			}
		}
		off = (end + block - 1) / block * block
	}
	return h.Sum(nil)
}
