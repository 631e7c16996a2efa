package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/postgres"
	"github.com/kiln-build/kiln/internal/store/sqlite"
)

// migrateBatch is how many records one transaction of the target takes.
const migrateBatch = 500

func migrateMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kiln migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "./kiln-data", "the SQLite data directory to copy from (stop the kiln serving it first)")
	storeURL := fs.String("store", "", "postgres://… database to copy kiln's state into (required)")
	blobStore := fs.String("blob-store", "", "s3://BUCKET[/PREFIX] to copy registry blobs, disks and logs into (optional)")
	s3Endpoint := fs.String("s3-endpoint", os.Getenv("KILN_S3_ENDPOINT"), "endpoint URL of an S3-compatible --blob-store (path-style), as for kiln serve (KILN_S3_ENDPOINT)")
	force := fs.Bool("force", false, "copy into a database that already holds state, replacing resources with the same ARN (a re-run of an interrupted migration)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: kiln migrate --data-dir DIR --store postgres://… [--blob-store s3://BUCKET[/PREFIX] [--s3-endpoint URL]] [--force]")
		fmt.Fprintln(stderr, "\nCopies a SQLite data directory's state (resources, tags, policies, idempotency tokens,")
		fmt.Fprintln(stderr, "build counters, the vulnerability database) into PostgreSQL, so that `kiln serve --store`")
		fmt.Fprintln(stderr, "nodes carry on from it. Running it again is safe.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kiln migrate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := migrate(ctx, *dataDir, *storeURL, *blobStore, *s3Endpoint, *force, stdout, log); err != nil {
		fmt.Fprintln(stderr, "kiln migrate:", err)
		return 1
	}
	return 0
}

func migrate(ctx context.Context, dataDir, rawURL, blobStore, s3Endpoint string, force bool, stdout io.Writer, log *slog.Logger) error {
	if rawURL == "" {
		return errors.New("--store postgres://… is required")
	}
	u, err := parseStoreURL(rawURL)
	if err != nil {
		return err
	}
	dataDir, err = filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	dbPath := filepath.Join(dataDir, "kiln.db")
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("--data-dir %s: no kiln.db there: %w", dataDir, err)
	}
	src, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, u.raw)
	if err != nil {
		return fmt.Errorf("--store %s: %w", u.redacted, u.scrub(err))
	}
	defer dst.Close()
	if !force {
		empty, err := dst.Empty(ctx)
		if err != nil {
			return fmt.Errorf("--store %s: %w", u.redacted, u.scrub(err))
		}
		if !empty {
			return fmt.Errorf("--store %s already holds kiln state; --force copies into it anyway, replacing resources with the same ARN", u.redacted)
		}
	}

	counts := map[string]int{}
	batch := make([]store.Record, 0, migrateBatch)
	load := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := dst.Load(ctx, batch); err != nil {
			return fmt.Errorf("--store %s: %w", u.redacted, u.scrub(err))
		}
		batch = batch[:0]
		return nil
	}
	err = src.Dump(ctx, func(rec store.Record) error {
		switch {
		case rec.Resource != nil:
			counts["resources"]++
		case rec.Token != nil:
			counts["tokens"]++
		case rec.Counter != nil:
			counts["build counters"]++
		case rec.Advisory != nil:
			counts["advisories"]++
		}
		batch = append(batch, rec)
		if len(batch) == migrateBatch {
			return load()
		}
		return nil
	})
	if err == nil {
		err = load()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %d resources, %d idempotency tokens, %d build counters and %d advisories from %s into %s\n",
		counts["resources"], counts["tokens"], counts["build counters"], counts["advisories"], dbPath, u.redacted)
	if blobStore != "" {
		if err := copyDataDirToBlobStore(ctx, dataDir, blobStore, s3Endpoint, log); err != nil {
			return fmt.Errorf("--blob-store %s: %w", blobStore, err)
		}
	}
	return nil
}
