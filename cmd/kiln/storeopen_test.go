package main

import (
	"errors"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

func TestParseStoreURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw      string
		wantErr  string // substring; "" for success
		redacted string
	}{
		{raw: "postgres://kiln@127.0.0.1:5432/kiln", redacted: "postgres://kiln@127.0.0.1:5432/kiln"},
		{raw: "postgresql://kiln:s3cret@db/kiln?sslmode=disable", redacted: "postgresql://kiln:xxxxx@db/kiln?sslmode=disable"},
		{raw: "postgres://kiln@/kiln?host=/run/postgresql&password=s3cret", redacted: "postgres://kiln@/kiln?host=%2Frun%2Fpostgresql&password=xxxxx"},
		{raw: "mysql://kiln:s3cret@db/kiln", wantErr: `unsupported scheme "mysql"`},
		{raw: "/var/lib/kiln/kiln.db", wantErr: `unsupported scheme ""`},
		{raw: "postgres:kiln", wantErr: "want postgres://"},
		{raw: "postgres://kiln:s3cret@db:port/kiln", wantErr: "not a URL"},
		{raw: "postgres://%zz:s3cret@db/kiln", wantErr: "not a URL"},
	}
	for _, tt := range tests {
		u, err := parseStoreURL(tt.raw)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseStoreURL(%q) = %v, want an error containing %q", tt.raw, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("parseStoreURL(%q): the error %q shows the password", tt.raw, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseStoreURL(%q): %v", tt.raw, err)
			continue
		}
		if u.redacted != tt.redacted {
			t.Errorf("parseStoreURL(%q).redacted = %q, want %q", tt.raw, u.redacted, tt.redacted)
		}
		if got := u.scrub(errors.New("failed: s3cret")); u.password != "" && strings.Contains(got.Error(), "s3cret") {
			t.Errorf("scrub left the password in %q", got)
		}
	}
}

// FuzzParseStoreURL checks that whatever --store holds, parsing never
// panics, accepts only postgres URLs, and that the form it logs carries no
// password.
func FuzzParseStoreURL(f *testing.F) {
	f.Add("postgres://kiln:pw@127.0.0.1:5432/kiln?sslmode=disable")
	f.Add("postgresql://u:p@/db?host=/tmp&password=q")
	f.Add("mysql://x")
	f.Add("postgres://%zz")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := parseStoreURL(raw)
		if err != nil {
			return
		}
		logged, err := url.Parse(u.redacted)
		if err != nil {
			t.Fatalf("redacted form %q of %q does not parse: %v", u.redacted, raw, err)
		}
		if logged.Scheme != "postgres" && logged.Scheme != "postgresql" {
			t.Errorf("accepted scheme %q", logged.Scheme)
		}
		if p, ok := logged.User.Password(); ok && p != "xxxxx" {
			t.Errorf("redacted form %q has password %q", u.redacted, p)
		}
		if p := logged.Query().Get("password"); p != "" && p != "xxxxx" {
			t.Errorf("redacted form %q has password %q", u.redacted, p)
		}
	})
}

// TestMigrateRefusals checks what `kiln migrate` refuses before it touches
// either store.
func TestMigrateRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, dataDir, url, want string
	}{
		{name: "NoStore", dataDir: dir, want: "--store postgres://… is required"},
		{name: "NotPostgres", dataDir: dir, url: "sqlite:///x", want: `--store: unsupported scheme "sqlite"`},
		{name: "NoDatabase", dataDir: dir, url: "postgres://k:pw@127.0.0.1:1/k", want: "no kiln.db there"},
	}
	for _, tt := range tests {
		err := migrate(t.Context(), tt.dataDir, tt.url, "", "", false, io.Discard, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
