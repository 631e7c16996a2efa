package blob

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/s3gw"
)

// TestBlobStoreRefusals: kiln serve does not start on a blob store it
// cannot use, and says which flag is wrong.
func TestBlobStoreRefusals(t *testing.T) {
	t.Parallel()
	gw := s3gw.Start(t)
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"not an s3 URL", []string{"--blob-store", "https://example/bucket"}, gw.Env(), "--blob-store"},
		{"bad bucket name", []string{"--blob-store", "s3://Bad_Bucket", "--s3-endpoint", gw.Endpoint}, gw.Env(), "not a valid S3 bucket name"},
		{"bad endpoint", []string{"--blob-store", "s3://" + gw.Bucket, "--s3-endpoint", "ftp://x"}, gw.Env(), "--s3-endpoint"},
		{"no such bucket", []string{"--blob-store", "s3://absent-bucket", "--s3-endpoint", gw.Endpoint}, gw.Env(), "--blob-store s3://absent-bucket"},
		{"wrong secret", []string{"--blob-store", "s3://" + gw.Bucket, "--s3-endpoint", gw.Endpoint},
			[]string{"AWS_ACCESS_KEY_ID=" + gw.Access, "AWS_SECRET_ACCESS_KEY=wrong", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true"}, "--blob-store"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(kilntest.Binary(t), append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)...)
			cmd.Env = append(os.Environ(), tc.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("kiln serve started:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("kiln serve said:\n%s\nwant it to name %q", out, tc.want)
			}
		})
	}
}
