package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/blob"
	"github.com/kiln-build/kiln/internal/s3gw"
)

// stores returns each implementation, the S3 one on a real gateway.
func stores(t *testing.T) map[string]blob.Store {
	local, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	gw := s3gw.Start(t)
	return map[string]blob.Store{
		"local": local,
		"s3":    blob.NewS3(gw.Client(), gw.Bucket, "pre/fix"),
	}
}

// failingReader yields some bytes and then an error, as a digest check
// that fails at the end of the content does.
type failingReader struct {
	r   io.Reader
	err error
}

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestStores(t *testing.T) {
	ctx := context.Background()
	big := make([]byte, blob.PartSize*2+12345) // three parts on S3
	rand.Read(big)
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			cases := []struct {
				key  string
				body []byte
			}{
				{"a/empty", nil},
				{"a/small", []byte("hello\n")},
				{"a/b/big", big},
				{"b/exactly-one-part", big[:blob.PartSize]},
			}
			for _, c := range cases {
				n, err := s.Put(ctx, c.key, bytes.NewReader(c.body))
				if err != nil || n != int64(len(c.body)) {
					t.Fatalf("Put %s = %d, %v", c.key, n, err)
				}
				got, err := blob.ReadAll(ctx, s, c.key, 1<<30)
				if err != nil || !bytes.Equal(got, c.body) {
					t.Fatalf("ReadAll %s: %d bytes, %v (want %d)", c.key, len(got), err, len(c.body))
				}
				info, err := s.Stat(ctx, c.key)
				if err != nil || info.Size != int64(len(c.body)) {
					t.Fatalf("Stat %s = %+v, %v", c.key, info, err)
				}
			}

			// A reader that fails stores nothing, small or multipart.
			for _, size := range []int{10, len(big)} {
				_, err := s.Put(ctx, "a/failed", failingReader{bytes.NewReader(big[:size]), errors.New("digest mismatch")})
				if err == nil || !strings.Contains(err.Error(), "digest mismatch") {
					t.Fatalf("Put of a failing reader of %d bytes: %v", size, err)
				}
				if ok, err := blob.Exists(ctx, s, "a/failed"); ok || err != nil {
					t.Fatalf("a failed Put of %d bytes left an object (%v)", size, err)
				}
			}

			// Seek and ranged reads.
			o, err := s.Open(ctx, "a/b/big")
			if err != nil {
				t.Fatal(err)
			}
			if o.Size() != int64(len(big)) {
				t.Fatalf("Size = %d", o.Size())
			}
			if end, _ := o.Seek(0, io.SeekEnd); end != int64(len(big)) {
				t.Fatalf("Seek end = %d", end)
			}
			o.Seek(blob.PartSize-3, io.SeekStart)
			buf := make([]byte, 10)
			if _, err := io.ReadFull(o, buf); err != nil || !bytes.Equal(buf, big[blob.PartSize-3:blob.PartSize+7]) {
				t.Fatalf("ranged read: %v", err)
			}
			o.Close()

			var keys []string
			if err := s.List(ctx, "a/", func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
				t.Fatal(err)
			}
			if strings.Join(keys, " ") != "a/b/big a/empty a/small" {
				t.Fatalf("List a/ = %q", keys)
			}
			keys = nil
			s.List(ctx, "a/e", func(i blob.Info) error { keys = append(keys, i.Key); return nil })
			if strings.Join(keys, " ") != "a/empty" {
				t.Fatalf("List a/e = %q", keys)
			}

			if err := s.Move(ctx, "a/small", "c/moved"); err != nil {
				t.Fatal(err)
			}
			if got, _ := blob.ReadAll(ctx, s, "c/moved", 100); string(got) != "hello\n" {
				t.Fatalf("moved object holds %q", got)
			}
			if _, err := s.Stat(ctx, "a/small"); !errors.Is(err, blob.ErrNotExist) {
				t.Fatalf("Stat of a moved object: %v", err)
			}
			if _, err := s.Open(ctx, "nothing/here"); !errors.Is(err, blob.ErrNotExist) {
				t.Fatalf("Open of a missing object: %v", err)
			}
			if err := s.Delete(ctx, "c/moved"); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "c/moved"); err != nil {
				t.Fatalf("second Delete: %v", err)
			}
			if _, err := blob.ReadAll(ctx, s, "a/b/big", 100); err == nil {
				t.Fatal("ReadAll ignored its limit")
			}
			for _, bad := range []string{"", "/abs", "a//b", "a/../b", "./a"} {
				if _, err := s.Put(ctx, bad, strings.NewReader("x")); err == nil {
					t.Errorf("Put %q accepted", bad)
				}
			}
		})
	}
}

func TestListManyPages(t *testing.T) {
	// More keys than one ListObjectsV2 page (1,000) holds.
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			const n = 1100
			for i := range n {
				if _, err := s.Put(ctx, "many/"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+"/"+itoa(i), strings.NewReader("")); err != nil {
					t.Fatal(err)
				}
			}
			count, prev := 0, ""
			err := s.List(ctx, "many/", func(i blob.Info) error {
				if i.Key <= prev {
					t.Fatalf("List out of order: %q after %q", i.Key, prev)
				}
				prev = i.Key
				count++
				return nil
			})
			if err != nil || count != n {
				t.Fatalf("List = %d keys, %v", count, err)
			}
		})
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{digits[i%10]}, b...)
	}
	return string(b)
}

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		in, bucket, prefix string
		ok                 bool
	}{
		{"s3://kiln", "kiln", "", true},
		{"s3://kiln-data/prod/", "kiln-data", "prod", true},
		{"s3://kiln.data/a/b", "kiln.data", "a/b", true},
		{"s3://Kiln", "", "", false},
		{"s3://ab", "", "", false},
		{"https://kiln", "", "", false},
		{"s3://kiln/a/../b", "", "", false},
		{"s3://-kiln", "", "", false},
	} {
		b, p, err := blob.ParseURL(c.in)
		if (err == nil) != c.ok || b != c.bucket || p != c.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %v", c.in, b, p, err)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"s3://kiln", "s3://kiln/a/b/", "s3://a..b/c", "s3:///x", "s3://kiln//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, p, err := blob.ParseURL(s)
		if err != nil {
			return
		}
		if p != "" && !blob.ValidKey(p) {
			t.Fatalf("ParseURL(%q) gave invalid prefix %q", s, p)
		}
		if len(b) < 3 || strings.ContainsAny(b, "/ ") {
			t.Fatalf("ParseURL(%q) gave bucket %q", s, b)
		}
	})
}

func FuzzValidKey(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../a", "a//b", "/a", "a/./b", ".tmp/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if !blob.ValidKey(key) {
			return
		}
		for _, part := range strings.Split(key, "/") {
			if part == "" || part == "." || part == ".." {
				t.Fatalf("ValidKey accepted %q", key)
			}
		}
	})
}
