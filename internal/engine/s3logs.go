package engine

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
)

// LogUploader puts one log file into an S3-compatible bucket.
type LogUploader func(ctx context.Context, bucket, key string, body *os.File) error

// shipLogs copies a build's logs to the bucket its infrastructure
// configuration names (logging.s3Logs), as Image Builder does, under
// PREFIX/NAME/VERSION/BUILD/FILE. Failing to ship logs does not fail the
// build; it is noted in the build log.
func (e *Engine) shipLogs(b *Build, logDir string) {
	infra := b.Image.InfrastructureConfiguration
	if e.UploadLog == nil || infra == nil || infra.Logging == nil || infra.Logging.S3Logs == nil || infra.Logging.S3Logs.S3BucketName == "" {
		return
	}
	s3 := infra.Logging.S3Logs
	a, _ := arn.Parse(b.Image.Arn)
	prefix := path.Join(s3.S3KeyPrefix, a.Name, a.Version, strconv.Itoa(a.Build))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	entries, err := os.ReadDir(logDir)
	if err != nil {
		return
	}
	for _, ent := range entries {
		if !ent.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(logDir, ent.Name()))
		if err != nil {
			continue
		}
		err = e.UploadLog(ctx, s3.S3BucketName, path.Join(prefix, ent.Name()), f)
		f.Close()
		if err != nil {
			e.Log.Warn("shipping a build log to S3", "image", b.Image.Arn, "bucket", s3.S3BucketName, "err", err)
			if b.Log != nil {
				b.Log.Write([]byte("kiln could not ship the logs to s3://" + s3.S3BucketName + ": " + err.Error() + "\n"))
			}
			return
		}
	}
}
