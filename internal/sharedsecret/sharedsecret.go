// Package sharedsecret keeps the secrets every kiln node must hold alike in
// the store they share. The key that signs pagination tokens and registry
// passwords is one: with several nodes behind one address, a nextToken or
// a `docker login` password one node issued is presented to another, which
// must accept it. A key in one node's data directory would make every
// such request fail at random.
//
// A secret is a store record of its own kind, created once: the first node
// to start inserts it, and a node racing it loses the insert (ErrExists)
// and reads the winner's. A data directory that already has the secret in
// a file (kiln before nodes, or a store being moved to PostgreSQL) seeds
// the record with it, so tokens issued before the upgrade stay valid.
package sharedsecret

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/kiln-build/kiln/internal/store"
)

// Kind is the store kind of the secrets' records. No API operation lists
// it.
const Kind = "kiln/secret"

// Size is the length of a new secret, and the least a stored one may have.
const Size = 32

func key(name string) string { return "kiln:secret:" + name }

// Load returns the secret called name from st, creating it when absent:
// from the file legacyPath when that holds one (ignored when "" or
// missing), else random. Every node calling Load with the same name gets
// the same bytes.
func Load(ctx context.Context, st store.Store, region, name, legacyPath string) ([]byte, error) {
	if b, err := get(ctx, st, name); err == nil || !errors.Is(err, store.ErrNotFound) {
		return b, err
	}
	secret, err := seed(legacyPath)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	r := store.Resource{
		ARN: key(name), Kind: Kind, Account: "aws", Region: region, Name: name,
		Doc: []byte(`"` + base64.StdEncoding.EncodeToString(secret) + `"`), Created: now, Updated: now,
	}
	err = st.Update(ctx, func(tx store.Tx) error { return tx.Insert(ctx, r) })
	if errors.Is(err, store.ErrExists) {
		// Another node created it first: use theirs.
		return get(ctx, st, name)
	}
	if err != nil {
		return nil, fmt.Errorf("storing the shared secret %s: %w", name, err)
	}
	return secret, nil
}

func get(ctx context.Context, st store.Store, name string) ([]byte, error) {
	var r store.Resource
	err := st.View(ctx, func(tx store.Tx) error {
		var err error
		r, err = tx.Get(ctx, key(name))
		return err
	})
	if err != nil {
		return nil, err
	}
	return decode(r.Doc)
}

// decode reads a stored secret: a JSON string of standard base64, at
// least Size bytes long.
func decode(doc []byte) ([]byte, error) {
	if len(doc) < 2 || doc[0] != '"' || doc[len(doc)-1] != '"' {
		return nil, errors.New("the stored shared secret is not a JSON string")
	}
	b, err := base64.StdEncoding.DecodeString(string(doc[1 : len(doc)-1]))
	if err != nil {
		return nil, fmt.Errorf("the stored shared secret: %w", err)
	}
	if len(b) < Size {
		return nil, fmt.Errorf("the stored shared secret has %d bytes, want at least %d", len(b), Size)
	}
	return b, nil
}

// seed is the secret a new record starts with: the legacy file's, or new.
func seed(legacyPath string) ([]byte, error) {
	if legacyPath != "" {
		b, err := os.ReadFile(legacyPath)
		switch {
		case err == nil && len(b) >= Size:
			return b, nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	b := make([]byte, Size)
	rand.Read(b)
	return b, nil
}
