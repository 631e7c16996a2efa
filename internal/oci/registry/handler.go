package registry

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// ServeHTTP serves the OCI distribution API for paths under /v2/.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.Log != nil && r.Log.Enabled(req.Context(), slog.LevelDebug) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			r.Log.LogAttrs(req.Context(), slog.LevelDebug, "registry",
				slog.String("method", req.Method), slog.String("path", req.URL.Path),
				slog.Int("status", sw.status), slog.Duration("elapsed", time.Since(start)))
		}()
		w = sw
	}
	r.serve(w, req)
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.Authenticate != nil && !r.Authenticate(req) {
		// The challenge on /v2/ is how clients learn to send credentials.
		challenge(w, req, "authentication required")
		return
	}
	if r.Guard != nil {
		c, err := r.Guard.Authenticate(req)
		if err != nil {
			challenge(w, req, err.Error())
			return
		}
		req = req.WithContext(withCaller(req.Context(), c))
	}
	rt, ok := parseRoute(req.URL.Path)
	if !ok {
		writeError(w, req, withStatus(errorf(ErrUnsupported, "no registry endpoint at %s", req.URL.Path), http.StatusNotFound))
		return
	}
	if rt.kind != "base" && rt.kind != "catalog" {
		if err := checkName(rt.name); err != nil {
			writeError(w, req, err)
			return
		}
	}
	if c, ok := callerFrom(req.Context()); ok {
		if err := r.authorize(req, c, rt); err != nil {
			writeError(w, req, err)
			return
		}
	}
	var err error
	switch rt.kind + " " + req.Method {
	case "base GET", "base HEAD":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2")
		io.WriteString(w, "{}")
	case "catalog GET":
		err = r.serveCatalog(w, req)
	case "tags GET":
		err = r.serveTags(w, req, rt.name)
	case "manifest GET", "manifest HEAD":
		err = r.serveManifest(w, req, rt.name, rt.ref)
	case "manifest PUT":
		err = r.servePutManifest(w, req, rt.name, rt.ref)
	case "manifest DELETE":
		if err = r.DeleteManifest(req.Context(), rt.name, rt.ref); err == nil {
			w.WriteHeader(http.StatusAccepted)
		}
	case "blob GET", "blob HEAD":
		err = r.serveBlob(w, req, rt.name, rt.ref)
	case "blob DELETE":
		if err = r.DeleteBlob(req.Context(), rt.name, rt.ref); err == nil {
			w.WriteHeader(http.StatusAccepted)
		}
	case "uploads POST":
		err = r.serveStartUpload(w, req, rt.name)
	case "upload GET":
		var size int64
		if size, err = r.uploadSize(req.Context(), rt.ref); err == nil {
			uploadStatus(w, rt.name, rt.ref, size, http.StatusNoContent)
		}
	case "upload PATCH":
		err = r.servePatchUpload(w, req, rt.name, rt.ref)
	case "upload PUT":
		err = r.serveFinishUpload(w, req, rt.name, rt.ref)
	case "upload DELETE":
		if err = r.cancelUpload(req.Context(), rt.ref); err == nil {
			w.WriteHeader(http.StatusNoContent)
		}
	case "referrers GET":
		err = r.serveReferrers(w, req, rt.name, rt.ref)
	default:
		err = withStatus(errorf(ErrUnsupported, "%s is not supported on %s", req.Method, req.URL.Path), http.StatusMethodNotAllowed)
	}
	if err != nil {
		writeError(w, req, err)
	}
}

func (r *Registry) serveBlob(w http.ResponseWriter, req *http.Request, name, digest string) error {
	f, _, err := r.OpenBlob(req.Context(), name, digest)
	if err != nil {
		return err
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", digest)
	h.Set("ETag", `"`+digest+`"`)
	h.Set("Cache-Control", "max-age=31536000") // content-addressed: never changes
	// ServeContent answers HEAD and Range requests (206, multi-range, 416).
	http.ServeContent(w, req, "", time.Time{}, f)
	return nil
}

func (r *Registry) serveManifest(w http.ResponseWriter, req *http.Request, name, ref string) error {
	m, err := r.GetManifest(req.Context(), name, ref)
	if err != nil {
		return err
	}
	// The stored bytes and media type go back unchanged whatever the
	// Accept header lists: converting would change the digest, and every
	// client we target accepts the types it pushed.
	h := w.Header()
	h.Set("Content-Type", m.MediaType)
	h.Set("Docker-Content-Digest", m.Digest)
	h.Set("ETag", `"`+m.Digest+`"`)
	h.Set("Content-Length", strconv.Itoa(len(m.Body)))
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		w.Write(m.Body)
	}
	return nil
}

func (r *Registry) servePutManifest(w http.ResponseWriter, req *http.Request, name, ref string) error {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxManifestBytes+1))
	if err != nil {
		return err
	}
	digest, err := r.PutManifest(req.Context(), name, ref, req.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	var shape manifestShape
	if decodeJSON(body, &shape) == nil && shape.Subject != nil {
		// Tells OCI 1.1 clients the referrers API covers this manifest, so
		// they skip the fallback tag.
		w.Header().Set("OCI-Subject", shape.Subject.Digest)
	}
	w.Header().Set("Location", "/v2/"+name+"/manifests/"+digest)
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// serveStartUpload handles POST .../blobs/uploads/: a cross-repository
// mount, a monolithic upload (?digest= with the body), or the start of a
// resumable session.
func (r *Registry) serveStartUpload(w http.ResponseWriter, req *http.Request, name string) error {
	q := req.URL.Query()
	if mount, from := q.Get("mount"), q.Get("from"); mount != "" && from != "" && r.mountAllowed(req, from, mount) {
		err := r.MountBlob(req.Context(), name, from, mount)
		if err == nil {
			blobCreated(w, name, mount)
			return nil
		}
		// The spec says an impossible mount becomes an ordinary upload
		// session; only server faults are errors.
		var e *Error
		if !errors.As(err, &e) {
			return err
		}
		if e.Code == ErrDigestInvalid.Code {
			return err
		}
	} else if digest := q.Get("digest"); digest != "" {
		if err := r.PutBlob(req.Context(), name, req.Body, digest); err != nil {
			return err
		}
		blobCreated(w, name, digest)
		return nil
	}
	id, err := r.startUpload(req.Context())
	if err != nil {
		return err
	}
	uploadStatus(w, name, id, 0, http.StatusAccepted)
	return nil
}

func (r *Registry) servePatchUpload(w http.ResponseWriter, req *http.Request, name, id string) error {
	start, length, err := chunkRange(req)
	if err != nil {
		return err
	}
	size, err := r.appendUpload(req.Context(), id, req.Body, start, length)
	if err != nil {
		return err
	}
	uploadStatus(w, name, id, size, http.StatusAccepted)
	return nil
}

func (r *Registry) serveFinishUpload(w http.ResponseWriter, req *http.Request, name, id string) error {
	digest := req.URL.Query().Get("digest")
	if digest == "" {
		return errorf(ErrDigestInvalid, "finishing an upload needs ?digest=")
	}
	start, length, err := chunkRange(req)
	if err != nil {
		return err
	}
	var body io.Reader
	if req.ContentLength != 0 && req.Body != nil {
		body = req.Body
	}
	if err := r.finishUpload(req.Context(), name, id, digest, body, start, length); err != nil {
		return err
	}
	blobCreated(w, name, digest)
	return nil
}

// chunkRange reads a chunk's Content-Range: its start and length, or -1s
// when the client streams without one (docker does).
func chunkRange(req *http.Request) (start, length int64, err error) {
	cr := req.Header.Get("Content-Range")
	if cr == "" {
		return -1, -1, nil
	}
	s, e, ok := parseContentRange(cr)
	if !ok {
		return 0, 0, withStatus(errorf(ErrBlobUploadInvalid, "invalid Content-Range %q", cr), http.StatusRequestedRangeNotSatisfiable)
	}
	length = e - s + 1
	if req.ContentLength >= 0 && req.ContentLength != length {
		return 0, 0, errorf(ErrSizeInvalid, "Content-Range %q announces %d bytes but Content-Length is %d", cr, length, req.ContentLength)
	}
	return s, length, nil
}

func blobCreated(w http.ResponseWriter, name, digest string) {
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+digest)
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// uploadStatus answers with an upload session's state. Range is the
// inclusive range received so far; like distribution, an empty session
// reports "0-0", which clients read as "nothing yet".
func uploadStatus(w http.ResponseWriter, name, id string, size int64, status int) {
	end := size - 1
	if end < 0 {
		end = 0
	}
	h := w.Header()
	h.Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
	h.Set("Range", "0-"+strconv.FormatInt(end, 10))
	h.Set("Docker-Upload-UUID", id)
	h.Set("Content-Length", "0")
	w.WriteHeader(status)
}

func (r *Registry) serveReferrers(w http.ResponseWriter, req *http.Request, name, digest string) error {
	artifactType := req.URL.Query().Get("artifactType")
	refs, err := r.Referrers(req.Context(), name, digest, artifactType)
	if err != nil {
		return err
	}
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	b, err := json.Marshal(struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []Descriptor `json:"manifests"`
	}{2, MediaTypeOCIIndex, refs})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", MediaTypeOCIIndex)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
	return nil
}

func (r *Registry) serveTags(w http.ResponseWriter, req *http.Request, name string) error {
	tags, err := r.Tags(name)
	if err != nil {
		return err
	}
	page, link, err := paginate(tags, req.URL.Query(), "/v2/"+name+"/tags/list")
	if err != nil {
		return err
	}
	if link != "" {
		w.Header().Set("Link", link)
	}
	return writeJSON(w, struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, page})
}

func (r *Registry) serveCatalog(w http.ResponseWriter, req *http.Request) error {
	repos, err := r.Repositories()
	if err != nil {
		return err
	}
	if c, ok := callerFrom(req.Context()); ok && r.Guard != nil {
		repos = slices.DeleteFunc(repos, func(name string) bool { return !r.Guard.Visible(req.Context(), c, name) })
	}
	page, link, err := paginate(repos, req.URL.Query(), "/v2/_catalog")
	if err != nil {
		return err
	}
	if link != "" {
		w.Header().Set("Link", link)
	}
	return writeJSON(w, struct {
		Repositories []string `json:"repositories"`
	}{page})
}

// paginate applies the spec's n (page size) and last (exclusive start)
// parameters to sorted items and returns the page and, when more follow,
// the Link header pointing at the next page. n=0 yields an empty page.
func paginate(items []string, q url.Values, path string) ([]string, string, error) {
	if last := q.Get("last"); last != "" {
		i := 0
		for i < len(items) && items[i] <= last {
			i++
		}
		items = items[i:]
	}
	if !q.Has("n") {
		return items, "", nil
	}
	n, err := strconv.Atoi(q.Get("n"))
	if err != nil || n < 0 {
		return nil, "", &Error{Code: "PAGINATION_NUMBER_INVALID", Message: "n must be a non-negative integer", Status: http.StatusBadRequest}
	}
	if n >= len(items) {
		return items, "", nil
	}
	page := items[:n]
	if n == 0 {
		return page, "", nil
	}
	next := url.Values{"n": {strconv.Itoa(n)}, "last": {page[n-1]}}
	return page, "<" + path + "?" + next.Encode() + `>; rel="next"`, nil
}

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
	return nil
}

// BasicAuth returns an Authenticate hook that admits requests whose HTTP
// Basic credentials check approves. docker login, skopeo --creds and
// crane auth all send Basic after the 401 challenge.
func BasicAuth(check func(user, password string) bool) func(*http.Request) bool {
	return func(req *http.Request) bool {
		user, password, ok := req.BasicAuth()
		return ok && check(user, password)
	}
}
