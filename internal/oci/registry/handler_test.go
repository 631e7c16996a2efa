package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// do sends one request to the handler and returns the recorded answer.
func do(t *testing.T, h http.Handler, method, target string, body []byte, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if body == nil {
		req = httptest.NewRequest(method, target, nil)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Errors) == 0 {
		return ""
	}
	return body.Errors[0].Code
}

func TestHandlerTable(t *testing.T) {
	r := newTestRegistry(t)
	img := makeImage(t, "h", MediaTypeDockerManifest)
	md := img.push(t, r, "team/app", "1.0.0")
	layer := digestOf(img.layer)
	missing := digestOf([]byte("missing"))

	tests := []struct {
		name       string
		method     string
		target     string
		body       []byte
		headers    []string
		wantStatus int
		wantCode   string
		wantHeader map[string]string
		wantBody   string
	}{
		{name: "base", method: "GET", target: "/v2/", wantStatus: 200,
			wantHeader: map[string]string{"Docker-Distribution-API-Version": "registry/2.0"}},
		{name: "base without slash", method: "GET", target: "/v2", wantStatus: 200},
		{name: "manifest by tag", method: "GET", target: "/v2/team/app/manifests/1.0.0", wantStatus: 200,
			wantHeader: map[string]string{"Content-Type": MediaTypeDockerManifest, "Docker-Content-Digest": md},
			wantBody:   string(img.manifest)},
		{name: "manifest HEAD by digest", method: "HEAD", target: "/v2/team/app/manifests/" + md, wantStatus: 200,
			wantHeader: map[string]string{"Content-Length": itoa(len(img.manifest)), "Docker-Content-Digest": md}},
		{name: "unknown tag", method: "GET", target: "/v2/team/app/manifests/2.0.0", wantStatus: 404, wantCode: "MANIFEST_UNKNOWN"},
		{name: "unknown manifest digest", method: "GET", target: "/v2/team/app/manifests/" + missing, wantStatus: 404, wantCode: "MANIFEST_UNKNOWN"},
		{name: "bad name", method: "GET", target: "/v2/Team/App/manifests/1.0.0", wantStatus: 400, wantCode: "NAME_INVALID"},
		{name: "blob", method: "GET", target: "/v2/team/app/blobs/" + layer, wantStatus: 200,
			wantHeader: map[string]string{"Docker-Content-Digest": layer, "Content-Length": itoa(len(img.layer))},
			wantBody:   string(img.layer)},
		{name: "blob range", method: "GET", target: "/v2/team/app/blobs/" + layer, headers: []string{"Range", "bytes=0-4"},
			wantStatus: 206, wantBody: string(img.layer[:5])},
		{name: "blob HEAD", method: "HEAD", target: "/v2/team/app/blobs/" + layer, wantStatus: 200,
			wantHeader: map[string]string{"Content-Length": itoa(len(img.layer))}},
		{name: "unknown blob", method: "GET", target: "/v2/team/app/blobs/" + missing, wantStatus: 404, wantCode: "BLOB_UNKNOWN"},
		{name: "blob of another repository", method: "GET", target: "/v2/other/blobs/" + layer, wantStatus: 404, wantCode: "BLOB_UNKNOWN"},
		{name: "bad digest", method: "GET", target: "/v2/team/app/blobs/sha256:zz", wantStatus: 400, wantCode: "DIGEST_INVALID"},
		{name: "tags", method: "GET", target: "/v2/team/app/tags/list", wantStatus: 200,
			wantBody: `{"name":"team/app","tags":["1.0.0"]}`},
		{name: "tags of unknown repository", method: "GET", target: "/v2/nope/tags/list", wantStatus: 404, wantCode: "NAME_UNKNOWN"},
		{name: "catalog", method: "GET", target: "/v2/_catalog", wantStatus: 200, wantBody: `{"repositories":["team/app"]}`},
		{name: "bad page size", method: "GET", target: "/v2/_catalog?n=x", wantStatus: 400, wantCode: "PAGINATION_NUMBER_INVALID"},
		{name: "monolithic upload with wrong digest", method: "POST", target: "/v2/team/app/blobs/uploads/?digest=" + missing,
			body: []byte("not missing"), wantStatus: 400, wantCode: "DIGEST_INVALID"},
		{name: "manifest missing blobs", method: "PUT", target: "/v2/team/app/manifests/x",
			body: makeImage(t, "other", MediaTypeOCIManifest).manifest, headers: []string{"Content-Type", MediaTypeOCIManifest},
			wantStatus: 400, wantCode: "MANIFEST_BLOB_UNKNOWN"},
		{name: "unknown upload", method: "GET", target: "/v2/team/app/blobs/uploads/00000000-0000-4000-8000-000000000000", wantStatus: 404, wantCode: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload id that is a path", method: "PATCH", target: "/v2/team/app/blobs/uploads/..", wantStatus: 404, wantCode: "BLOB_UPLOAD_UNKNOWN"},
		{name: "method not allowed", method: "POST", target: "/v2/team/app/manifests/1.0.0", wantStatus: 405, wantCode: "UNSUPPORTED"},
		{name: "referrers of a manifest without any", method: "GET", target: "/v2/team/app/referrers/" + md, wantStatus: 200,
			wantHeader: map[string]string{"Content-Type": MediaTypeOCIIndex},
			wantBody:   `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`},
		{name: "referrers of a bad digest", method: "GET", target: "/v2/team/app/referrers/sha256:x", wantStatus: 400, wantCode: "DIGEST_INVALID"},
		{name: "not an endpoint", method: "GET", target: "/v2/team", wantStatus: 404, wantCode: "UNSUPPORTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, r, tt.method, tt.target, tt.body, tt.headers...)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantCode != "" {
				if got := errorCode(t, rec); got != tt.wantCode {
					t.Errorf("code %q, want %q; body %s", got, tt.wantCode, rec.Body)
				}
			}
			for k, v := range tt.wantHeader {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body %q, want %q", rec.Body, tt.wantBody)
			}
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestChunkedUploadFlow walks the resumable protocol step by step, as
// docker and skopeo do: POST, PATCH chunks, GET status, PUT ?digest=.
func TestChunkedUploadFlow(t *testing.T) {
	r := newTestRegistry(t)
	content := bytes.Repeat([]byte("abcdefgh"), 100) // 800 bytes
	d := digestOf(content)

	rec := do(t, r, "POST", "/v2/x/y/blobs/uploads/", nil)
	if rec.Code != 202 || rec.Header().Get("Range") != "0-0" {
		t.Fatalf("POST: %d %v", rec.Code, rec.Header())
	}
	loc := rec.Header().Get("Location")
	if !strings.HasPrefix(loc, "/v2/x/y/blobs/uploads/") {
		t.Fatalf("Location %q", loc)
	}

	steps := []struct {
		method, target string
		body           []byte
		headers        []string
		wantStatus     int
		wantRange      string
	}{
		{"PATCH", loc, content[:300], []string{"Content-Range", "0-299"}, 202, "0-299"},
		{"PATCH", loc, content[:10], []string{"Content-Range", "0-9"}, 416, ""}, // out of order
		{"GET", loc, nil, nil, 204, "0-299"},
		{"PATCH", loc, content[300:600], nil, 202, "0-599"}, // streamed, no Content-Range
		{"PUT", loc + "?digest=" + d, content[600:], []string{"Content-Range", "600-799"}, 201, ""},
		{"GET", loc, nil, nil, 404, ""}, // spent
	}
	for i, s := range steps {
		rec := do(t, r, s.method, s.target, s.body, s.headers...)
		if rec.Code != s.wantStatus {
			t.Fatalf("step %d %s: status %d, want %d: %s", i, s.method, rec.Code, s.wantStatus, rec.Body)
		}
		if s.wantRange != "" && rec.Header().Get("Range") != s.wantRange {
			t.Errorf("step %d: Range %q, want %q", i, rec.Header().Get("Range"), s.wantRange)
		}
	}
	rec = do(t, r, "GET", "/v2/x/y/blobs/"+d, nil)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), content) {
		t.Fatalf("GET blob: %d, %d bytes", rec.Code, rec.Body.Len())
	}

	// Mount into another repository, then delete it there only.
	rec = do(t, r, "POST", "/v2/z/blobs/uploads/?mount="+d+"&from=x/y", nil)
	if rec.Code != 201 || rec.Header().Get("Location") != "/v2/z/blobs/"+d {
		t.Fatalf("mount: %d %v", rec.Code, rec.Header())
	}
	// A mount whose source lacks the blob becomes an upload session.
	rec = do(t, r, "POST", "/v2/w/blobs/uploads/?mount="+d+"&from=nope", nil)
	if rec.Code != 202 {
		t.Fatalf("impossible mount: %d", rec.Code)
	}
	if rec := do(t, r, "DELETE", rec.Header().Get("Location"), nil); rec.Code != 204 {
		t.Fatalf("cancel upload: %d", rec.Code)
	}
	if rec := do(t, r, "DELETE", "/v2/z/blobs/"+d, nil); rec.Code != 202 {
		t.Fatalf("delete blob: %d", rec.Code)
	}
	if rec := do(t, r, "HEAD", "/v2/z/blobs/"+d, nil); rec.Code != 404 {
		t.Fatalf("deleted blob still there: %d", rec.Code)
	}
	if rec := do(t, r, "HEAD", "/v2/x/y/blobs/"+d, nil); rec.Code != 200 {
		t.Fatalf("delete reached another repository: %d", rec.Code)
	}
}

func TestManifestPushOverHTTP(t *testing.T) {
	r := newTestRegistry(t)
	img := makeImage(t, "m", MediaTypeOCIManifest)
	for _, b := range [][]byte{img.config, img.layer} {
		rec := do(t, r, "POST", "/v2/app/blobs/uploads/?digest="+digestOf(b), b)
		if rec.Code != 201 {
			t.Fatalf("monolithic upload: %d %s", rec.Code, rec.Body)
		}
	}
	// No Content-Type: the body's mediaType decides.
	rec := do(t, r, "PUT", "/v2/app/manifests/v1", img.manifest)
	if rec.Code != 201 || rec.Header().Get("Docker-Content-Digest") != digestOf(img.manifest) {
		t.Fatalf("PUT manifest: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = do(t, r, "GET", "/v2/app/manifests/v1", nil, "Accept", MediaTypeDockerManifest)
	if rec.Header().Get("Content-Type") != MediaTypeOCIManifest || !bytes.Equal(rec.Body.Bytes(), img.manifest) {
		t.Fatalf("GET manifest: %v", rec.Header())
	}
	if rec := do(t, r, "DELETE", "/v2/app/manifests/v1", nil); rec.Code != 202 {
		t.Fatalf("untag: %d", rec.Code)
	}
	if rec := do(t, r, "GET", "/v2/app/manifests/"+digestOf(img.manifest), nil); rec.Code != 200 {
		t.Fatalf("untagging removed the manifest: %d", rec.Code)
	}
}

func TestTagPagination(t *testing.T) {
	r := newTestRegistry(t)
	img := makeImage(t, "p", MediaTypeOCIManifest)
	for _, tag := range []string{"c", "a", "e", "b", "d"} {
		img.push(t, r, "repo", tag)
	}
	tests := []struct {
		query    string
		wantTags string
		wantLink string
	}{
		{"", `["a","b","c","d","e"]`, ""},
		{"?n=2", `["a","b"]`, `</v2/repo/tags/list?last=b&n=2>; rel="next"`},
		{"?n=2&last=b", `["c","d"]`, `</v2/repo/tags/list?last=d&n=2>; rel="next"`},
		{"?n=2&last=d", `["e"]`, ""},
		{"?last=e", `[]`, ""},
		{"?n=0", `[]`, ""},
		{"?n=5", `["a","b","c","d","e"]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec := do(t, r, "GET", "/v2/repo/tags/list"+tt.query, nil)
			var got struct{ Tags json.RawMessage }
			json.Unmarshal(rec.Body.Bytes(), &got)
			if string(got.Tags) != tt.wantTags || rec.Header().Get("Link") != tt.wantLink {
				t.Errorf("tags %s link %q, want %s %q", got.Tags, rec.Header().Get("Link"), tt.wantTags, tt.wantLink)
			}
		})
	}
}

func TestAuthenticateHook(t *testing.T) {
	r := newTestRegistry(t)
	r.Authenticate = BasicAuth(func(user, pass string) bool { return user == "AKID" && pass == "SECRET" })
	srv := httptest.NewServer(r)
	defer srv.Close()

	tests := []struct {
		name       string
		user, pass string
		want       int
	}{
		{"no credentials", "", "", 401},
		{"wrong secret", "AKID", "nope", 401},
		{"right", "AKID", "SECRET", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/v2/", nil)
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="kiln"` {
				t.Errorf("challenge %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestReferrers attaches an artifact (an SBOM, say) to an image through
// its subject field and lists it with the referrers API.
func TestReferrers(t *testing.T) {
	r := newTestRegistry(t)
	img := makeImage(t, "subject", MediaTypeOCIManifest)
	subject := img.push(t, r, "app", "v1")

	emptyConfig := []byte("{}")
	sbom := []byte(`{"spdxVersion":"SPDX-2.3"}`)
	for _, b := range [][]byte{emptyConfig, sbom} {
		if rec := do(t, r, "POST", "/v2/app/blobs/uploads/?digest="+digestOf(b), b); rec.Code != 201 {
			t.Fatalf("upload: %d", rec.Code)
		}
	}
	artifact := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":"application/spdx+json",`+
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":%q,"size":2},`+
		`"layers":[{"mediaType":"application/spdx+json","digest":%q,"size":%d}],`+
		`"subject":{"mediaType":%q,"digest":%q,"size":%d},"annotations":{"org.example":"yes"}}`,
		MediaTypeOCIManifest, digestOf(emptyConfig), digestOf(sbom), len(sbom), MediaTypeOCIManifest, subject, len(img.manifest))
	ad := digestOf([]byte(artifact))
	rec := do(t, r, "PUT", "/v2/app/manifests/"+ad, []byte(artifact), "Content-Type", MediaTypeOCIManifest)
	if rec.Code != 201 || rec.Header().Get("OCI-Subject") != subject {
		t.Fatalf("PUT artifact: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}

	tests := []struct {
		query    string
		want     []string
		filtered bool
	}{
		{"", []string{ad}, false},
		{"?artifactType=application%2Fspdx%2Bjson", []string{ad}, true},
		{"?artifactType=application/other", nil, true},
	}
	for _, tt := range tests {
		rec := do(t, r, "GET", "/v2/app/referrers/"+subject+tt.query, nil)
		var idx struct{ Manifests []Descriptor }
		if err := json.Unmarshal(rec.Body.Bytes(), &idx); err != nil || rec.Code != 200 {
			t.Fatalf("%s: %d %s", tt.query, rec.Code, rec.Body)
		}
		var got []string
		for _, d := range idx.Manifests {
			got = append(got, d.Digest)
			if d.ArtifactType != "application/spdx+json" || d.Annotations["org.example"] != "yes" || d.Size != int64(len(artifact)) {
				t.Errorf("descriptor %+v", d)
			}
		}
		if !slices.Equal(got, tt.want) || (rec.Header().Get("OCI-Filters-Applied") != "") != tt.filtered {
			t.Errorf("%s: %v (filters %q), want %v", tt.query, got, rec.Header().Get("OCI-Filters-Applied"), tt.want)
		}
	}

	// Deleting the artifact removes it from the list.
	if rec := do(t, r, "DELETE", "/v2/app/manifests/"+ad, nil); rec.Code != 202 {
		t.Fatalf("delete: %d", rec.Code)
	}
	refs, err := r.Referrers(t.Context(), "app", subject, "")
	if err != nil || len(refs) != 0 {
		t.Fatalf("after delete: %v, %v", refs, err)
	}
}
