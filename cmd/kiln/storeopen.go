package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/postgres"
	"github.com/kiln-build/kiln/internal/store/sqlite"
)

// storeConfig is where kiln keeps its state: SQLite in the data directory
// (the default), or a PostgreSQL database that several nodes share.
type storeConfig struct {
	url string
}

func (c *storeConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "store", "", "where kiln keeps its state: empty for SQLite in --data-dir, or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…&host=/unix/socket/dir] for a PostgreSQL database several kiln nodes can share (KILN_STORE)")
}

// storeURL is a checked --store value.
type storeURL struct {
	raw      string
	password string // to scrub from any error that might quote it
	redacted string // safe to log
}

// parseStoreURL checks a --store value without connecting. It accepts
// postgres:// and postgresql:// URLs; the message of its error names the
// flag and never the password.
func parseStoreURL(raw string) (storeURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the input; say what is wrong without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return storeURL{}, fmt.Errorf("--store: not a URL: %v", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return storeURL{}, fmt.Errorf("--store: unsupported scheme %q: want postgres://USER@HOST/DATABASE (or leave --store empty for SQLite in --data-dir)", u.Scheme)
	}
	if u.Opaque != "" {
		return storeURL{}, errors.New("--store: want postgres://USER@HOST/DATABASE")
	}
	s := storeURL{raw: raw, redacted: u.Redacted()}
	if u.User != nil {
		s.password, _ = u.User.Password()
	}
	if p := u.Query().Get("password"); p != "" {
		s.password = p
		q := u.Query()
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
		s.redacted = u.Redacted()
	}
	return s, nil
}

// scrub removes the password from err's message, and puts the message on
// one line (pgx lists each address it tried on a line of its own).
func (s storeURL) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if s.password == "" {
		return errors.New(msg)
	}
	msg = strings.ReplaceAll(msg, s.password, "xxxxx")
	msg = strings.ReplaceAll(msg, url.QueryEscape(s.password), "xxxxx")
	msg = strings.ReplaceAll(msg, url.PathEscape(s.password), "xxxxx")
	return errors.New(msg)
}

// openStore opens the store --store names (SQLite in dataDir when empty).
// The returned store is a store.Store and, on both backends, a
// store.Advisories and a store.Notifier.
func openStore(ctx context.Context, cfg storeConfig, dataDir string, log *slog.Logger) (store.Store, error) {
	if cfg.url == "" {
		return sqlite.Open(ctx, filepath.Join(dataDir, "kiln.db"))
	}
	u, err := parseStoreURL(cfg.url)
	if err != nil {
		return nil, err
	}
	st, err := postgres.Open(ctx, u.raw)
	if err != nil {
		return nil, fmt.Errorf("--store %s: %w", u.redacted, u.scrub(err))
	}
	log.Info("store", "backend", "postgres", "url", u.redacted)
	return st, nil
}
