package kilnapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"unicode"

	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/vulndb"
)

// VulnDB is the vulnerability database the endpoints serve; *vulndb.DB
// implements it.
type VulnDB interface {
	Import(ctx context.Context, r io.Reader, name string) (vulndb.ImportStats, error)
	Status(ctx context.Context) ([]vulndb.EcosystemStatus, error)
}

// VulnDBConfig configures the vulnerability database's endpoints.
//
// The database is server-wide: every account's scans match against it,
// so one account replacing records changes every other account's
// findings. Importing is therefore an operator's act; reading the status
// is open to every authenticated caller.
type VulnDBConfig struct {
	DB VulnDB
	// Operator reports whether an account may import.
	Operator func(account string) bool
	// MaxUpload bounds an upload's size in bytes (an ecosystem's all.zip
	// is tens to hundreds of megabytes).
	MaxUpload int64
	// SpoolDir holds uploads while they are checked and imported
	// (os.TempDir when empty); the spooled file is removed afterwards.
	SpoolDir string
}

// VulnDBStatusResponse is the JSON body of VulnDBStatusPath.
type VulnDBStatusResponse struct {
	Ecosystems []vulndb.EcosystemStatus `json:"ecosystems"`
}

// maxUploadName bounds the name query parameter.
const maxUploadName = 255

// vulnDBImport is POST /kiln/v1/vulndb/import?name=FILE with the file as
// the body: one OSV .json record or a .zip archive of them. It answers
// vulndb.ImportStats as JSON.
//
// The body is never buffered in memory: it is spooled to a file while
// its SHA-256 is computed, and only then checked against the signature.
// So the request must declare its payload hash in X-Amz-Content-Sha256,
// which the signature covers; then, under --auth strict, the signature
// and the caller's right to import are checked before a byte of the body
// is read, and a stranger's upload is refused unread. Bodies over
// MaxUpload are refused with 413, by Content-Length when it is given and
// otherwise once that many bytes have arrived.
func (h *handlers) vulnDBImport(w http.ResponseWriter, r *http.Request) {
	c := h.VulnDB
	p, err := h.Verifier.Begin(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	claimed := r.Header.Get("X-Amz-Content-Sha256")
	want, err := hex.DecodeString(claimed)
	if err != nil || len(want) != sha256.Size {
		http.Error(w, "an upload must carry the SHA-256 of its body in X-Amz-Content-Sha256, covered by the signature", http.StatusBadRequest)
		return
	}
	caller := p.Caller()
	if c.Operator == nil || !c.Operator(caller.Account) {
		http.Error(w, fmt.Sprintf("AccessDeniedException: account %s may not import into the vulnerability database, which every account's scans share; an operator account (kiln serve --operator-account) may", caller.Account), http.StatusForbidden)
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" || len(name) > maxUploadName || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		http.Error(w, fmt.Sprintf("InvalidParameterValueException: name must be the uploaded file's name, 1 to %d characters without control characters", maxUploadName), http.StatusBadRequest)
		return
	}
	if r.ContentLength > c.MaxUpload {
		http.Error(w, fmt.Sprintf("the upload is %d bytes, more than this server accepts (%d; kiln serve --vulndb-max-upload)", r.ContentLength, c.MaxUpload), http.StatusRequestEntityTooLarge)
		return
	}
	spool, err := os.CreateTemp(c.SpoolDir, "kiln-vulndb-upload-*")
	if err != nil {
		server.InternalError(w, r, h.Log, err)
		return
	}
	defer func() { spool.Close(); os.Remove(spool.Name()) }()
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(spool, sum), io.LimitReader(r.Body, c.MaxUpload+1))
	if err != nil {
		http.Error(w, "reading the upload: "+err.Error(), http.StatusBadRequest)
		return
	}
	if n > c.MaxUpload {
		http.Error(w, fmt.Sprintf("the upload is more than this server accepts (%d bytes; kiln serve --vulndb-max-upload)", c.MaxUpload), http.StatusRequestEntityTooLarge)
		return
	}
	var got [sha256.Size]byte
	sum.Sum(got[:0])
	if _, err := p.FinishSum(got); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		server.InternalError(w, r, h.Log, err)
		return
	}
	stats, err := c.DB.Import(r.Context(), spool, name)
	var ie *vulndb.InputError
	switch {
	case errors.As(err, &ie):
		http.Error(w, "InvalidParameterValueException: "+ie.Error(), http.StatusBadRequest)
		return
	case err != nil:
		server.InternalError(w, r, h.Log, err)
		return
	}
	if h.Log != nil {
		h.Log.Info("vulnerability database import", "account", caller.Account, "name", name, "bytes", n,
			"records", stats.Records, "added", stats.Added, "replaced", stats.Replaced, "kept", stats.Kept)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(stats)
}

// vulnDBStatus is GET /kiln/v1/vulndb/status: each ecosystem's record
// count and newest modified time.
func (h *handlers) vulnDBStatus(w http.ResponseWriter, r *http.Request) {
	st, err := h.VulnDB.DB.Status(r.Context())
	if err != nil {
		server.InternalError(w, r, h.Log, err)
		return
	}
	if st == nil {
		st = []vulndb.EcosystemStatus{}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(VulnDBStatusResponse{Ecosystems: st})
}
