package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStepCache(t *testing.T) {
	c := &StepCache{Dir: t.TempDir()}
	key := strings.Repeat("ab", 32)
	want := CachedLayer{Repository: "team/app", Digest: "sha256:" + strings.Repeat("1", 64), DiffID: "sha256:" + strings.Repeat("2", 64), Size: 42}
	if _, ok := c.Get(key); ok {
		t.Fatal("an empty cache has an entry")
	}
	if err := c.Put(key, want); err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Get(key); !ok || got != want {
		t.Fatalf("Get = %+v %v, want %+v", got, ok, want)
	}
	for _, bad := range []string{"", "../" + key[3:], strings.ToUpper(key), key + "0", strings.Repeat("z", 64)} {
		if err := c.Put(bad, want); err == nil {
			t.Errorf("Put accepted key %q", bad)
		}
		if _, ok := c.Get(bad); ok {
			t.Errorf("Get found key %q", bad)
		}
	}
}

// FuzzStepCacheGet checks that a damaged entry is a miss, never a panic
// or a half-filled layer.
func FuzzStepCacheGet(f *testing.F) {
	f.Add([]byte(`{"repository":"a","digest":"sha256:1","diffID":"sha256:2","size":1}`))
	f.Add([]byte(`{"digest":""}`))
	f.Add([]byte("not json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &StepCache{Dir: t.TempDir()}
		key := strings.Repeat("cd", 32)
		p := filepath.Join(c.Dir, key[:2], key)
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, data, 0o600)
		if cl, ok := c.Get(key); ok && (cl.Digest == "" || cl.DiffID == "") {
			t.Fatalf("Get returned an incomplete entry %+v", cl)
		}
	})
}
