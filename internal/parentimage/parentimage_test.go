package parentimage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestLookup(t *testing.T) {
	for _, tt := range []struct {
		name, repo, tag, branch, to, err string
	}{
		{name: "debian-12", repo: "library/debian", tag: "12", to: "parents/debian:12"},
		{name: "ubuntu-24.04", repo: "library/ubuntu", tag: "24.04", to: "parents/ubuntu:24.04"},
		{name: "alpine-3", repo: "library/alpine", tag: "3", branch: "latest-stable", to: "parents/alpine:3"},
		{name: "alpine-3.20", repo: "library/alpine", tag: "3.20", branch: "v3.20", to: "parents/alpine:3.20"},
		{name: "alpine-3.", err: "known are debian-12, ubuntu-24.04, alpine-3, alpine-3.NN"},
		{name: "alpine-3.20/../x", err: "unknown parent image"},
		{name: "Debian-12", err: "unknown parent image"},
		{name: "", err: "unknown parent image"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Lookup(tt.name)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || d.Repository != tt.repo || d.Tag != tt.tag || d.AlpineBranch != tt.branch || d.To != tt.to {
				t.Errorf("Lookup = %+v, %v", d, err)
			}
		})
	}
}

func TestSourceReference(t *testing.T) {
	debian, _ := Lookup("debian-12")
	for _, tt := range []struct {
		registry, want, err string
	}{
		{"", "index.docker.io/library/debian:12", ""},
		{"127.0.0.1:5000", "127.0.0.1:5000/library/debian:12", ""},
		{"mirror.example.com/docker-hub/", "mirror.example.com/docker-hub/library/debian:12", ""},
		{"http://127.0.0.1:5000", "", "without a scheme"},
		{"Mirror.example.com/UPPER", "", "does not make an image reference"},
	} {
		got, err := SourceReference(debian, tt.registry)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("SourceReference(%q) = %q, %v; want %q, %q", tt.registry, got, err, tt.want, tt.err)
		}
	}
}

func TestTarget(t *testing.T) {
	k := Kiln{Endpoint: &url.URL{Scheme: "http", Host: "127.0.0.1:8080"}}
	for _, tt := range []struct {
		to, want, err string
	}{
		{"parents/debian:12", "127.0.0.1:8080/parents/debian:12", ""},
		{"base", "127.0.0.1:8080/base:12", ""},
		{"team/base:bookworm", "127.0.0.1:8080/team/base:bookworm", ""},
		{"Base", "", "is not a repository[:tag]"},
		{"base:bad tag", "", "is not a repository[:tag]"},
		{"", "", "is not a repository[:tag]"},
	} {
		got, err := k.Target(tt.to, "12")
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("Target(%q) = %q, %v; want %q, %q", tt.to, got, err, tt.want, tt.err)
		}
	}
}

const releases = `---
-
  title: "Mini root filesystem"
  flavor: alpine-minirootfs
  file: alpine-minirootfs-3.20.3-aarch64.tar.gz
  arch: aarch64
  version: 3.20.3
  size: 3
  sha256: 0000000000000000000000000000000000000000000000000000000000000000
-
  flavor: alpine-minirootfs
  file: alpine-minirootfs-3.20.3-x86_64.tar.gz
  arch: x86_64
  version: 3.20.3
  date: 2024-09-06
  time: 10:23:44
  size: 3622501
  sha256: 1111111111111111111111111111111111111111111111111111111111111111
`

func TestMinirootfs(t *testing.T) {
	good := "1111111111111111111111111111111111111111111111111111111111111111"
	entry := func(file, sum string, size int) string {
		return "- flavor: alpine-minirootfs\n  arch: x86_64\n  file: " + file + "\n  sha256: " + sum + "\n  size: " + strconv.Itoa(size) + "\n"
	}
	for _, tt := range []struct {
		name, yaml, arch, file, err string
	}{
		{"picks the arch", releases, "x86_64", "alpine-minirootfs-3.20.3-x86_64.tar.gz", ""},
		{"other arch", releases, "aarch64", "alpine-minirootfs-3.20.3-aarch64.tar.gz", ""},
		{"missing arch", releases, "s390x", "", "no alpine-minirootfs for s390x"},
		{"a path, not a name", entry("../../../etc/passwd.tar.gz", good, 1), "x86_64", "", "not a plain .tar.gz name"},
		{"a URL", entry("https://evil.example/x.tar.gz", good, 1), "x86_64", "", "not a plain .tar.gz name"},
		{"not a tarball", entry("alpine.iso", good, 1), "x86_64", "", "not a plain .tar.gz name"},
		{"short sha256", entry("a.tar.gz", "abc", 1), "x86_64", "", "not 64 lowercase hex digits"},
		{"upper-case sha256", entry("a.tar.gz", strings.ToUpper(strings.Repeat("ab", 32)), 1), "x86_64", "", "not 64 lowercase hex digits"},
		{"negative size", entry("a.tar.gz", good, -1), "x86_64", "", "is negative"},
		{"not a list", "flavor: alpine-minirootfs\n", "x86_64", "", "latest-releases.yaml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rels, err := ParseAlpineReleases([]byte(tt.yaml))
			var rel AlpineRelease
			if err == nil {
				rel, err = Minirootfs(rels, tt.arch)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || rel.File != tt.file {
				t.Errorf("got %+v, %v; want %s", rel, err, tt.file)
			}
		})
	}
}

// FuzzMinirootfs: no yaml makes the parser panic, and whatever
// Minirootfs accepts names a plain tarball in the releases directory with
// a well-formed sha256.
func FuzzMinirootfs(f *testing.F) {
	f.Add([]byte(releases), "x86_64")
	f.Add([]byte("- {flavor: alpine-minirootfs, arch: x86_64, file: a.tar.gz, sha256: x}"), "x86_64")
	f.Add([]byte("[[[["), "aarch64")
	f.Fuzz(func(t *testing.T, data []byte, arch string) {
		rels, err := ParseAlpineReleases(data)
		if err != nil {
			return
		}
		rel, err := Minirootfs(rels, arch)
		if err != nil {
			return
		}
		if strings.ContainsAny(rel.File, "/\\") || rel.File == ".." || !strings.HasSuffix(rel.File, ".tar.gz") || len(rel.SHA256) != 64 || rel.Size < 0 {
			t.Errorf("accepted %+v", rel)
		}
	})
}

func TestAlpineArch(t *testing.T) {
	for _, tt := range []struct{ platform, want string }{
		{"linux/amd64", "x86_64"}, {"linux/arm64", "aarch64"}, {"linux/arm64/v8", "aarch64"},
		{"linux/arm/v7", "armv7"}, {"linux/386", "x86"}, {"linux/riscv64", "riscv64"}, {"linux/mips64", ""},
	} {
		p, _ := v1.ParsePlatform(tt.platform)
		got, err := alpineArch(*p)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("alpineArch(%s) = %q, %v; want %q", tt.platform, got, err, tt.want)
		}
	}
}

func TestMirrorBase(t *testing.T) {
	for _, tt := range []struct {
		mirror   string
		insecure bool
		want     string
		err      string
	}{
		{"https://dl-cdn.alpinelinux.org/alpine/", false, "https://dl-cdn.alpinelinux.org/alpine", ""},
		{"http://127.0.0.1:9000/alpine", true, "http://127.0.0.1:9000/alpine", ""},
		{"http://127.0.0.1:9000/alpine", false, "", "only to loopback with --insecure"},
		{"http://mirror.example/alpine", true, "", "only to loopback with --insecure"},
		{"ftp://mirror.example/alpine", false, "", "is not an http(s) URL"},
		{"mirror.example/alpine", false, "", "is not an http(s) URL"},
	} {
		f := &Fetcher{Insecure: tt.insecure}
		u, err := f.mirrorBase(tt.mirror)
		got := ""
		if u != nil {
			got = u.String()
		}
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("mirrorBase(%q, %v) = %q, %v; want %q, %q", tt.mirror, tt.insecure, got, err, tt.want, tt.err)
		}
	}
}

// TestSaveVerified: a blob is kept only when its length and sha256 are
// what the source published, and never beyond the size limit.
func TestSaveVerified(t *testing.T) {
	data := []byte("a layer's bytes")
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])
	for _, tt := range []struct {
		name  string
		body  []byte
		size  int64
		sum   string
		limit int64
		err   string
	}{
		{"exact", data, int64(len(data)), good, 0, ""},
		{"size unknown", data, 0, good, 0, ""},
		{"wrong sha256", data, int64(len(data)), strings.Repeat("0", 64), 0, "sha256 is " + good},
		{"shorter than said", data[:4], int64(len(data)), good, 0, "received 4 bytes, the source said 15"},
		{"longer than said", append(data, 'x'), int64(len(data)), good, 0, "received 16 bytes, the source said 15"},
		{"said over the limit", data, int64(len(data)), good, 8, "over the limit of 8 B"},
		{"streams over the limit", data, 0, good, 8, "over the limit of 8 B"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &Fetcher{MaxBlobSize: tt.limit}
			path := filepath.Join(t.TempDir(), "blob")
			err := f.saveVerified(&watchdog{}, bytes.NewReader(tt.body), path, "blob", tt.size, tt.sum)
			_, statErr := os.Stat(path)
			if tt.err == "" {
				if err != nil || statErr != nil {
					t.Fatalf("err %v, file %v", err, statErr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err %v, want one containing %q", err, tt.err)
			}
			if statErr == nil {
				t.Errorf("a refused blob was kept")
			}
		})
	}
}
