package sharedsecret

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kiln-build/kiln/internal/pgtest"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/postgres"
	"github.com/kiln-build/kiln/internal/store/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestLoadOnceAcrossNodes: nodes starting together on one store all get
// the secret the first of them created, and keep it across restarts. On
// PostgreSQL each node has its own connection pool, as separate processes
// would.
func TestLoadOnceAcrossNodes(t *testing.T) {
	t.Parallel()
	const nodes = 4
	tests := []struct {
		name string
		open func(t *testing.T) func() store.Store // a node's store
	}{
		{"SQLite", func(t *testing.T) func() store.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kiln.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return func() store.Store { return st }
		}},
		{"PostgreSQL", func(t *testing.T) func() store.Store {
			url := pgtest.URL(t)
			return func() store.Store {
				st, err := postgres.Open(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			loadOnce(t, tt.open(t), nodes)
		})
	}
}

func loadOnce(t *testing.T, node func() store.Store, nodes int) {
	ctx := context.Background()
	stores := make([]store.Store, nodes)
	for i := range stores {
		stores[i] = node()
	}
	st := stores[0]
	got := make([][]byte, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			b, err := Load(ctx, stores[i], "us-east-1", "token-key", "")
			if err != nil {
				t.Error(err)
			}
			got[i] = b
		})
	}
	wg.Wait()
	for i, b := range got {
		if len(b) != Size || !bytes.Equal(b, got[0]) {
			t.Errorf("node %d got %x, node 0 %x", i, b, got[0])
		}
	}
	again, err := Load(ctx, st, "us-east-1", "token-key", "")
	if err != nil || !bytes.Equal(again, got[0]) {
		t.Errorf("after a restart: %x, %v; want %x", again, err, got[0])
	}
	other, err := Load(ctx, st, "us-east-1", "other", "")
	if err != nil || bytes.Equal(other, got[0]) {
		t.Errorf("another secret = %x, %v; want a different one", other, err)
	}
}

// TestLoadSeedsFromLegacyFile: a data directory's token.key becomes the
// shared secret, so tokens issued before the upgrade stay valid; a file
// too short to be a key is not used.
func TestLoadSeedsFromLegacyFile(t *testing.T) {
	t.Parallel()
	legacy := bytes.Repeat([]byte{7}, 32)
	tests := []struct {
		name    string
		file    []byte // nil: no file
		useFile bool
	}{
		{"Key", legacy, true},
		{"Short", []byte("short"), false},
		{"Missing", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ctx := context.Background()
			st, err := sqlite.Open(ctx, filepath.Join(dir, "kiln.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			path := filepath.Join(dir, "token.key")
			if tt.file != nil {
				if err := os.WriteFile(path, tt.file, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			b, err := Load(ctx, st, "us-east-1", "token-key", path)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(b, tt.file) != tt.useFile || len(b) < Size {
				t.Errorf("secret %x; from the file %v, want %v", b, bytes.Equal(b, tt.file), tt.useFile)
			}
		})
	}
}

// FuzzDecode: a stored record of any content decodes to a secret of at
// least Size bytes or to an error, never a panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `"`))
	f.Add([]byte(`""`))
	f.Add([]byte(`"`))
	f.Add([]byte(`{"a":1}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		b, err := decode(doc)
		if err == nil && len(b) < Size {
			t.Errorf("decode(%q) = %d bytes", doc, len(b))
		}
	})
}
