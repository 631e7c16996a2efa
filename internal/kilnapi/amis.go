package kilnapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/server"
)

// listAMIs is GET /kiln/v1/amis: the AMIs the caller owns or may launch,
// as a JSON array of ami.AMI.
func (h *handlers) listAMIs(w http.ResponseWriter, r *http.Request) {
	amis, err := h.AMIs.Launchable(r.Context(), account(r))
	if err != nil {
		server.InternalError(w, r, h.Log, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(amis)
}

// exportAMI is GET /kiln/v1/amis/export?imageId=ID&format=FORMAT: the
// disk of an AMI the caller may launch, raw as stored or converted to
// qcow2, vmdk (streamOptimized), vhdx or vhd (fixed) in a temporary file
// removed once served; byte ranges are served either way.
func (h *handlers) exportAMI(w http.ResponseWriter, r *http.Request) {
	id, format := r.URL.Query().Get("imageId"), r.URL.Query().Get("format")
	path, release, err := h.AMIs.Export(r.Context(), account(r), id, format)
	switch {
	case errors.Is(err, ami.ErrFormat):
		http.Error(w, ami.ErrFormat.Error(), http.StatusBadRequest)
		return
	case errors.Is(err, ami.ErrNotFound):
		http.Error(w, fmt.Sprintf("The AMI '%s' does not exist.", id), http.StatusNotFound)
		return
	case err != nil:
		server.InternalError(w, r, h.Log, err)
		return
	}
	defer release()
	f, err := os.Open(path)
	if err != nil {
		server.InternalError(w, r, h.Log, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		server.InternalError(w, r, h.Log, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, filepath.Base(path), fi.ModTime(), f)
}

// deleteAMI is DELETE /kiln/v1/amis?imageId=ID: deregisters an AMI the
// caller owns (its disk goes when no other AMI uses it).
func (h *handlers) deleteAMI(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("imageId")
	err := h.AMIs.Deregister(r.Context(), account(r), id)
	switch {
	case errors.Is(err, ami.ErrNotFound):
		http.Error(w, fmt.Sprintf("The AMI '%s' does not exist or is not yours.", id), http.StatusNotFound)
	case err != nil:
		server.InternalError(w, r, h.Log, err)
	default:
		w.WriteHeader(http.StatusOK)
	}
}
