package oci

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/internal/oci/registry"
)

func imageOf(t testing.TB, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// testRegistry serves a fresh embedded registry on loopback and returns
// it and its host:port.
func testRegistry(t *testing.T) (*registry.Registry, string) {
	t.Helper()
	reg, err := registry.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return reg, strings.TrimPrefix(srv.URL, "http://")
}

func digestOf(t testing.TB, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestPushPull(t *testing.T) {
	_, host := testRegistry(t)
	ctx := context.Background()
	img, err := random.Image(2000, 3)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Push(ctx, img, host+"/team/app:1.0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := digestOf(t, img); got != want {
		t.Errorf("Push = %s, want %s", got, want)
	}
	for _, ref := range []string{host + "/team/app:1.0", host + "/team/app@" + got} {
		pulled, err := Pull(ctx, ref, Options{})
		if err != nil {
			t.Fatalf("Pull %s: %v", ref, err)
		}
		if d := digestOf(t, pulled); d != got {
			t.Errorf("Pull %s = %s, want %s", ref, d, got)
		}
	}
	if _, err := Pull(ctx, host+"/team/app:missing", Options{}); err == nil {
		t.Error("Pull of a missing tag succeeded")
	}
}

func TestPullIndexPlatform(t *testing.T) {
	_, host := testRegistry(t)
	amd, _ := random.Image(100, 1)
	arm, _ := random.Image(100, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	ref, err := name.ParseReference(host+"/multi:latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		platform v1.Platform
		want     v1.Image
	}{
		{v1.Platform{}, amd},
		{v1.Platform{OS: "linux", Architecture: "amd64"}, amd},
		{v1.Platform{OS: "linux", Architecture: "arm64"}, arm},
	}
	for _, tt := range tests {
		img, err := Pull(context.Background(), host+"/multi:latest", Options{Platform: tt.platform})
		if err != nil {
			t.Fatalf("Pull %v: %v", tt.platform, err)
		}
		if got, want := digestOf(t, img), digestOf(t, tt.want); got != want {
			t.Errorf("Pull %v = %s, want %s", tt.platform, got, want)
		}
	}
	if _, err := Pull(context.Background(), host+"/multi:latest", Options{Platform: v1.Platform{OS: "linux", Architecture: "s390x"}}); err == nil {
		t.Error("Pull for a platform the index lacks succeeded")
	}
}

func TestPushLocal(t *testing.T) {
	reg, host := testRegistry(t)
	ctx := context.Background()
	img, err := random.Image(3000, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := digestOf(t, img)
	got, err := PushLocal(ctx, reg, "team/local", []string{"1.0", "latest"}, img)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("PushLocal = %s, want %s", got, want)
	}
	for _, tag := range []string{"1.0", "latest"} {
		if d, err := reg.Resolve("team/local", tag); err != nil || d != want {
			t.Errorf("tag %s = %s, %v", tag, d, err)
		}
	}
	// What was pushed in-process pulls over HTTP, and pushing the pulled
	// image again (as a derived build would its parent's layers) reads
	// none of its blobs.
	pulled, err := Pull(ctx, host+"/team/local:1.0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := digestOf(t, pulled); d != want {
		t.Errorf("pulled %s, want %s", d, want)
	}
	layers, _ := pulled.Layers()
	var counted []v1.Layer
	opened := 0
	for _, l := range layers {
		counted = append(counted, &countingLayer{Layer: l, opened: &opened})
	}
	again := imageOf(t, counted...)
	if _, err := PushLocal(ctx, reg, "team/other", nil, again); err != nil {
		t.Fatal(err)
	}
	if opened != 0 {
		t.Errorf("pushing blobs the registry holds opened %d of them", opened)
	}
	if _, err := reg.Resolve("team/other", digestOf(t, again)); err != nil {
		t.Errorf("untagged push not stored by digest: %v", err)
	}
}

type countingLayer struct {
	v1.Layer
	opened *int
}

func (c *countingLayer) Compressed() (io.ReadCloser, error) {
	*c.opened++
	return c.Layer.Compressed()
}

func TestPlainHTTPGuard(t *testing.T) {
	opt := Options{Insecure: []string{"10.1.2.3:5000", "registry.lan"}}
	tests := []struct {
		url     string
		allowed bool
	}{
		{"http://127.0.0.1:5000/v2/", true},
		{"http://127.9.9.9/v2/", true},
		{"http://[::1]:80/v2/", true},
		{"http://localhost:5000/v2/", true},
		{"http://10.1.2.3:5000/v2/", true},
		{"http://registry.lan:443/v2/", true},
		{"http://10.1.2.3:5001/v2/", false},
		{"http://192.168.1.1:5000/v2/", false},
		{"http://example.com/v2/", false},
	}
	reached := false
	g := &httpGuard{base: roundTripFunc(func(*http.Request) (*http.Response, error) {
		reached = true
		return nil, errors.New("reached the network")
	}), allowed: opt.plainHTTPAllowed}
	for _, tt := range tests {
		reached = false
		req, _ := http.NewRequest("GET", tt.url, nil)
		_, err := g.RoundTrip(req)
		if tt.allowed != reached || tt.allowed == errors.Is(err, errPlainHTTP) {
			t.Errorf("%s: reached network %v, err %v; want allowed %v", tt.url, reached, err, tt.allowed)
		}
	}
	// HTTPS goes anywhere.
	req, _ := http.NewRequest("GET", "https://example.com/v2/", nil)
	if _, err := g.RoundTrip(req); errors.Is(err, errPlainHTTP) {
		t.Error("HTTPS refused")
	}
}

// TestPlainHTTPOnlyListed: without loopback's exemption (pushes to a
// registry the operator mapped) plain HTTP goes only to listed hosts,
// loopback ones included.
func TestPlainHTTPOnlyListed(t *testing.T) {
	opt := Options{Insecure: []string{"127.0.0.1:5000", "localhost"}, PlainHTTPOnlyListed: true}
	for _, tt := range []struct {
		host    string
		allowed bool
	}{
		{"127.0.0.1:5000", true},
		{"localhost:6000", true},
		{"127.0.0.1:5001", false},
		{"[::1]:5000", false},
		{"registry.example.com", false},
	} {
		if got := opt.plainHTTPAllowed(tt.host); got != tt.allowed {
			t.Errorf("plainHTTPAllowed(%s) = %v, want %v", tt.host, got, tt.allowed)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
