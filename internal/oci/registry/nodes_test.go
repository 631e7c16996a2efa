package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kiln-build/kiln/internal/blob"
	"github.com/kiln-build/kiln/internal/s3gw"
)

// TestTwoNodesOneBucket runs two registries on one S3 bucket (a real
// S3-compatible gateway) and sends each request of one chunked push to
// whichever node comes next: POST on one, the PATCHes alternating, the
// closing PUT and the manifest on the other. Every pull from either node
// returns the content at once.
func TestTwoNodesOneBucket(t *testing.T) {
	gw := s3gw.Start(t)
	var nodes []*httptest.Server
	for range 2 {
		r := NewOnStore(blob.NewS3(gw.Client(), gw.Bucket, "registry"))
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		nodes = append(nodes, srv)
	}
	layer := make([]byte, blob.PartSize+4096) // a multipart blob at the end
	rand.Read(layer)
	chunks := [][]byte{layer[:1000], layer[1000:blob.PartSize], layer[blob.PartSize:]}

	do := func(node int, method, path string, body []byte, hdr ...string) *http.Response {
		t.Helper()
		url := path
		if path[0] == '/' {
			url = nodes[node].URL + path
		}
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := do(0, "POST", "/v2/team/app/blobs/uploads/", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST = %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	off := 0
	for i, c := range chunks {
		resp := do(i%2, "PATCH", loc, c, "Content-Type", "application/octet-stream",
			"Content-Range", fmt.Sprintf("%d-%d", off, off+len(c)-1))
		if resp.StatusCode != http.StatusAccepted {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("PATCH %d on node %d = %s %s", i, i%2, resp.Status, b)
		}
		off += len(c)
		loc = resp.Header.Get("Location")
		// The other node sees the session's progress at once.
		st := do((i+1)%2, "GET", loc, nil)
		if got := st.Header.Get("Range"); got != fmt.Sprintf("0-%d", off-1) {
			t.Fatalf("after chunk %d the other node reports Range %q", i, got)
		}
	}
	sep := "?"
	if bytes.ContainsRune([]byte(loc), '?') {
		sep = "&"
	}
	if resp := do(1, "PUT", loc+sep+"digest="+digestOf(layer), nil); resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("PUT = %s %s", resp.Status, b)
	}
	img := makeImage(t, "nodes", MediaTypeOCIManifest)
	if resp := do(0, "POST", "/v2/team/app/blobs/uploads/?digest="+digestOf(img.config), img.config); resp.StatusCode != http.StatusCreated {
		t.Fatalf("monolithic POST = %s", resp.Status)
	}
	if resp := do(1, "POST", "/v2/team/app/blobs/uploads/?digest="+digestOf(img.layer), img.layer); resp.StatusCode != http.StatusCreated {
		t.Fatalf("monolithic POST = %s", resp.Status)
	}
	if resp := do(0, "PUT", "/v2/team/app/manifests/v1", img.manifest, "Content-Type", MediaTypeOCIManifest); resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("manifest PUT = %s %s", resp.Status, b)
	}
	for node := range 2 {
		resp := do(node, "GET", "/v2/team/app/blobs/"+digestOf(layer), nil)
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, layer) {
			t.Fatalf("node %d: GET blob = %s, %d bytes", node, resp.Status, len(got))
		}
		resp = do(node, "GET", "/v2/team/app/blobs/"+digestOf(layer), nil, "Range", "bytes=10-19")
		got, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, layer[10:20]) {
			t.Fatalf("node %d: ranged GET = %s %q", node, resp.Status, got)
		}
		resp = do(node, "GET", "/v2/team/app/manifests/v1", nil, "Accept", MediaTypeOCIManifest)
		got, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, img.manifest) {
			t.Fatalf("node %d: GET manifest = %s", node, resp.Status)
		}
		resp = do(node, "GET", "/v2/team/app/tags/list", nil)
		got, _ = io.ReadAll(resp.Body)
		if !bytes.Contains(got, []byte(`"v1"`)) {
			t.Fatalf("node %d: tags = %s", node, got)
		}
	}
	// The session's parts are gone once the blob is committed.
	n := 0
	blob.NewS3(gw.Client(), gw.Bucket, "registry").List(context.Background(), "uploads/", func(blob.Info) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d upload objects left in the bucket", n)
	}
}
