package action

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/s3gw"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestWebDownload(t *testing.T) {
	const body = "binary-content"
	var hits atomic.Int32
	var failFirst atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/flaky/tool":
			if failFirst.Add(-1) >= 0 {
				http.Error(w, "busy", http.StatusInternalServerError)
				return
			}
		case "/down":
			http.Error(w, "down", http.StatusBadGateway)
			return
		case "/missing":
			http.NotFound(w, r)
			return
		case "/redirect":
			http.Redirect(w, r, "/files/tool", http.StatusFound)
			return
		}
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	noWait := func(int) time.Duration { return 0 }
	wd := newWebDownload(webDownloadTries, noWait)

	tests := []struct {
		name      string
		op        map[string]any
		existing  string // content already at dest/tool before the run
		failFirst int32
		wantHits  int32
		wantFile  string // expected content of the destination
		wantDest  string // relative to WorkDir; expected output
		wantErr   string
	}{
		{name: "plain", op: m{"source": "/files/tool", "destination": "bin/tool"}, wantHits: 1, wantFile: body, wantDest: "bin/tool"},
		{name: "into folder", op: m{"source": "/files/tool", "destination": "dl/"}, wantHits: 1, wantFile: body, wantDest: "dl/tool"},
		{name: "redirect", op: m{"source": "/redirect", "destination": "tool"}, wantHits: 2, wantFile: body, wantDest: "tool"},
		{name: "checksum ok", op: m{"source": "/files/tool", "destination": "tool", "checksum": strings.ToUpper(sha256Hex(body)), "algorithm": "sha256"}, wantHits: 1, wantFile: body, wantDest: "tool"},
		{name: "checksum mismatch keeps old file", op: m{"source": "/files/tool", "destination": "tool", "checksum": sha256Hex("other"), "algorithm": "SHA256"}, existing: "old", wantHits: 1, wantFile: "old", wantErr: "checksum mismatch"},
		{name: "md5", op: m{"source": "/files/tool", "destination": "tool", "checksum": "2d2b0bd84b43d75eb9ea1e8e16bd4f06", "algorithm": "MD5"}, wantErr: "checksum mismatch", wantHits: 1},
		{name: "retry after 500s", op: m{"source": "/flaky/tool", "destination": "tool"}, failFirst: 2, wantHits: 3, wantFile: body, wantDest: "tool"},
		{name: "gives up after 5 tries", op: m{"source": "/down", "destination": "tool"}, wantHits: 5, wantErr: "502"},
		{name: "404 not retried", op: m{"source": "/missing", "destination": "tool"}, wantHits: 1, wantErr: "404"},
		{name: "overwrite false", op: m{"source": "/files/tool", "destination": "tool", "overwrite": false}, existing: "old", wantHits: 0, wantFile: "old", wantErr: "overwrite is false"},
		{name: "overwrite replaces", op: m{"source": "/files/tool", "destination": "tool"}, existing: "old", wantHits: 1, wantFile: body, wantDest: "tool"},
		{name: "matching file not fetched", op: m{"source": "/files/tool", "destination": "tool", "checksum": sha256Hex("old"), "algorithm": "SHA256"}, existing: "old", wantHits: 0, wantFile: "old", wantDest: "tool"},
		{name: "no file name", op: m{"source": "/", "destination": "dl/"}, wantErr: "no file name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := testEnv(t)
			hits.Store(0)
			failFirst.Store(tt.failFirst)
			op := m{}
			for k, v := range tt.op {
				op[k] = v
			}
			op["source"] = srv.URL + tt.op["source"].(string)
			if tt.existing != "" {
				must(t, os.WriteFile(filepath.Join(env.WorkDir, "tool"), []byte(tt.existing), 0o644))
			}
			res, err := wd.Run(context.Background(), env, ops(op))
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if got := hits.Load(); got != tt.wantHits {
				t.Errorf("server hits = %d, want %d", got, tt.wantHits)
			}
			if tt.wantDest != "" {
				dest := filepath.Join(env.WorkDir, tt.wantDest)
				if got := res.Outputs["destination"]; got != dest {
					t.Errorf("destination output = %v, want %s", got, dest)
				}
			}
			if tt.wantFile != "" {
				name := tt.wantDest
				if name == "" {
					name = "tool"
				}
				got, _ := os.ReadFile(filepath.Join(env.WorkDir, name))
				if string(got) != tt.wantFile {
					t.Errorf("file = %q, want %q", got, tt.wantFile)
				}
			}
			leftovers, _ := filepath.Glob(filepath.Join(env.WorkDir, "*", ".*.part-*"))
			more, _ := filepath.Glob(filepath.Join(env.WorkDir, ".*.part-*"))
			if len(leftovers)+len(more) > 0 {
				t.Errorf("temporary files left behind: %v %v", leftovers, more)
			}
		})
	}

	// Two operations: the destination output lists both paths.
	env, _ := testEnv(t)
	res, err := wd.Run(context.Background(), env, ops(
		m{"source": srv.URL + "/files/a", "destination": "x/"},
		m{"source": srv.URL + "/files/b", "destination": "y/b"},
	))
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(env.WorkDir, "x/a") + "\n" + filepath.Join(env.WorkDir, "y/b")
	if res.Outputs["destination"] != want {
		t.Errorf("destination = %q, want %q", res.Outputs["destination"], want)
	}
}

// startS3 starts a real S3-compatible server (the Versity gateway) and
// points the SDK's default credential chain at its keys only.
func startS3(t *testing.T) (*s3gw.Server, *Env) {
	t.Helper()
	srv := s3gw.Start(t)
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", s3gw.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3gw.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	env, _ := testEnv(t)
	env.S3 = S3Options{Endpoint: srv.URL, Region: "us-east-1", UsePathStyle: true}
	return srv, env
}

func TestS3Download(t *testing.T) {
	srv, _ := startS3(t)
	srv.Put("bkt", "tools/jq", []byte("JQ"))
	srv.Put("bkt", "tree/a.txt", []byte("A"))
	srv.Put("bkt", "tree/sub/", nil)
	srv.Put("bkt", "tree/sub/b.txt", []byte("B"))
	srv.Put("bkt", "tree/deep/c.txt", []byte("C"))
	srv.Put("bkt", "treeish", []byte("not under tree/"))

	tests := []struct {
		name    string
		op      map[string]any
		before  tree
		after   tree
		wantErr string
	}{
		{name: "object", op: m{"source": "s3://bkt/tools/jq", "destination": "jq"}, after: tree{"jq": "JQ"}},
		{name: "object into folder", op: m{"source": "s3://bkt/tools/jq", "destination": "bin/"}, before: tree{"bin/": ""}, after: tree{"bin/": "", "bin/jq": "JQ"}},
		{name: "parent missing", op: m{"source": "s3://bkt/tools/jq", "destination": "no/such/jq"}, wantErr: "does not exist"},
		{name: "overwrite false", op: m{"source": "s3://bkt/tools/jq", "destination": "jq", "overwrite": false}, before: tree{"jq": "old"}, wantErr: `"overwrite" property for "destination" file is set to false`},
		{name: "overwrite", op: m{"source": "s3://bkt/tools/jq", "destination": "jq"}, before: tree{"jq": "old"}, after: tree{"jq": "JQ"}},
		{name: "missing key", op: m{"source": "s3://bkt/nope", "destination": "x"}, wantErr: "NoSuchKey"},
		{name: "prefix", op: m{"source": "s3://bkt/tree/*", "destination": "out"},
			after: tree{"out/": "", "out/a.txt": "A", "out/sub/": "", "out/sub/b.txt": "B", "out/deep/": "", "out/deep/c.txt": "C"}},
		{name: "owner ok", op: m{"source": "s3://bkt/tools/jq", "destination": "jq", "expectedBucketOwner": s3gw.Owner}, after: tree{"jq": "JQ"}},
		{name: "owner mismatch", op: m{"source": "s3://bkt/tools/jq", "destination": "jq", "expectedBucketOwner": "999999999999"}, wantErr: "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, env := startS3Env(t, srv)
			tt.before.write(t, env.WorkDir)
			_, err := mustLookup(t, "S3Download").Run(context.Background(), env, ops(tt.op))
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.after != nil {
				if got := readTree(t, env.WorkDir); !reflect.DeepEqual(got, tt.after) {
					t.Errorf("tree = %v, want %v", got, tt.after)
				}
			}
		})
	}

	t.Run("more than 1000 objects", func(t *testing.T) {
		for i := range maxPrefixObjects + 1 {
			srv.Put("big", fmt.Sprintf("p/%04d", i), []byte("x"))
		}
		_, env := startS3Env(t, srv)
		_, err := mustLookup(t, "S3Download").Run(context.Background(), env, ops(m{"source": "s3://big/p/*", "destination": "out"}))
		if err == nil || !strings.Contains(err.Error(), "more than 1000") {
			t.Fatalf("err = %v", err)
		}
	})
}

// startS3Env returns a fresh Env for an already running server.
func startS3Env(t *testing.T, srv *s3gw.Server) (*s3gw.Server, *Env) {
	env, _ := testEnv(t)
	env.S3 = S3Options{Endpoint: srv.URL, Region: "us-east-1", UsePathStyle: true}
	return srv, env
}

func TestS3Upload(t *testing.T) {
	srv, _ := startS3(t)
	local := tree{"f.txt": "F", "g.log": "G", "dir/": "", "dir/h.txt": "H", "dir/sub/": "", "dir/sub/i.txt": "I"}
	tests := []struct {
		name    string
		op      map[string]any
		want    map[string]string
		wantErr string
	}{
		{name: "file to key", op: m{"source": "f.txt", "destination": "s3://up/a/b.txt"}, want: map[string]string{"a/b.txt": "F"}},
		{name: "file to prefix", op: m{"source": "f.txt", "destination": "s3://up/a/"}, want: map[string]string{"a/f.txt": "F"}},
		{name: "wildcard files only", op: m{"source": "*", "destination": "s3://up/p/"}, want: map[string]string{"p/f.txt": "F", "p/g.log": "G"}},
		{name: "wildcard recurse", op: m{"source": "*", "destination": "s3://up/p/", "recurse": "true"},
			want: map[string]string{"p/f.txt": "F", "p/g.log": "G", "p/dir/h.txt": "H", "p/dir/sub/i.txt": "I"}},
		{name: "pattern", op: m{"source": "*.log", "destination": "s3://up/"}, want: map[string]string{"g.log": "G"}},
		{name: "folder contents", op: m{"source": "dir", "destination": "s3://up/d/", "recurse": true}, want: map[string]string{"d/h.txt": "H", "d/sub/i.txt": "I"}},
		{name: "several need prefix", op: m{"source": "*", "destination": "s3://up/key"}, wantErr: "ending in /"},
		{name: "missing source", op: m{"source": "nope", "destination": "s3://up/k"}, wantErr: "no such file"},
		{name: "missing bucket", op: m{"source": "f.txt", "destination": "s3://nobucket/k"}, wantErr: "NoSuchBucket"},
		{name: "owner mismatch", op: m{"source": "f.txt", "destination": "s3://up/k", "expectedBucketOwner": "999999999999"}, wantErr: "AccessDenied"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A bucket per case, so each sees only its own uploads.
			bucket := fmt.Sprintf("up%d", i)
			srv.CreateBucket(bucket)
			_, env := startS3Env(t, srv)
			local.write(t, env.WorkDir)
			op := m{}
			for k, v := range tt.op {
				op[k] = v
			}
			op["destination"] = strings.Replace(tt.op["destination"].(string), "s3://up/", "s3://"+bucket+"/", 1)
			_, err := mustLookup(t, "S3Upload").Run(context.Background(), env, ops(op))
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			got := map[string]string{}
			for _, k := range srv.Keys(bucket) {
				data, _ := srv.Get(bucket, k)
				got[k] = string(data)
			}
			if tt.want == nil {
				tt.want = map[string]string{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("uploaded %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseS3URL(t *testing.T) {
	tests := []struct {
		in, bucket, key string
		ok              bool
	}{
		{"s3://b/k/x.txt", "b", "k/x.txt", true},
		{"s3://b/p/*", "b", "p/*", true},
		{"s3://b/", "b", "", true},
		{"s3://b", "b", "", true},
		{"s3:///k", "", "", false},
		{"https://b/k", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		b, k, err := parseS3URL(tt.in)
		if (err == nil) != tt.ok || b != tt.bucket || k != tt.key {
			t.Errorf("parseS3URL(%q) = %q, %q, %v; want %q, %q, ok=%v", tt.in, b, k, err, tt.bucket, tt.key, tt.ok)
		}
	}
}

func FuzzParseS3URL(f *testing.F) {
	for _, s := range []string{"s3://b/k", "s3://b/p/*", "s3://", "s3:///x", "http://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, k, err := parseS3URL(s)
		if err != nil {
			return
		}
		if b == "" || strings.Contains(b, "/") || "s3://"+b+"/"+k != s && "s3://"+b != s {
			t.Errorf("parseS3URL(%q) = %q, %q", s, b, k)
		}
	})
}

func TestUploadLogFolder(t *testing.T) {
	srv, env := startS3(t)
	srv.CreateBucket("logs")
	dir := filepath.Join(t.TempDir(), "TOE_2026-01-02_03-04-05_UTC-0_run-1")
	tree{"console.log": "C", "detailedoutput.json": "{}", "sub/": "", "sub/x.log": "X"}.write(t, dir)
	tests := []struct {
		name, bucket, prefix, owner string
		want                        []string
		wantErr                     string
	}{
		{name: "no prefix", bucket: "logs", want: []string{"TOE_2026-01-02_03-04-05_UTC-0_run-1/console.log", "TOE_2026-01-02_03-04-05_UTC-0_run-1/detailedoutput.json", "TOE_2026-01-02_03-04-05_UTC-0_run-1/sub/x.log"}},
		{name: "prefix gets a slash", bucket: "logs", prefix: "runs", want: []string{"runs/TOE_2026-01-02_03-04-05_UTC-0_run-1/console.log"}},
		{name: "missing bucket", bucket: "nobucket", wantErr: "NoSuchBucket"},
		{name: "owner mismatch", bucket: "logs", owner: "999999999999", wantErr: "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := UploadLogFolder(context.Background(), env.S3, dir, tt.bucket, tt.prefix, tt.owner)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			keys := srv.Keys("logs")
			for _, k := range tt.want {
				if !slices.Contains(keys, k) {
					t.Errorf("key %s not uploaded; have %v", k, keys)
				}
			}
		})
	}
}
