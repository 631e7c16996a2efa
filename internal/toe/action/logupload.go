package action

import (
	"context"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
)

// UploadLogFolder copies a finished run's log folder (TOE_<date>_<id>)
// to s3://bucket/<prefix><folder name>/<file>, which is what awstoe's
// --log-s3-bucket-name, --log-s3-key-prefix and --log-s3-bucket-owner ask
// for. It goes through opts like S3Upload does, so kiln toe can send the
// logs to the S3-compatible endpoint it was given. A prefix without a
// trailing "/" gets one. owner, when set, is the expected bucket owner.
func UploadLogFolder(ctx context.Context, opts S3Options, dir, bucket, prefix, owner string) error {
	client, err := newS3Client(ctx, opts)
	if err != nil {
		return err
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	base := prefix + filepath.Base(dir) + "/"
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		return putFile(ctx, client, bucket, base+path.Clean(filepath.ToSlash(rel)), p, optionalString(owner))
	})
}
