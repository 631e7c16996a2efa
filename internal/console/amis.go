package console

import (
	"errors"
	"net/http"
	"os"
	"sort"

	"github.com/kiln-build/kiln/internal/ami"
)

// registerAMIs adds the AMI page and its export download. The download is
// the console's own route rather than a link to /kiln/v1/amis/export,
// which wants a SigV4 signature a browser cannot make; it answers the same
// way, through the same ami.Catalogue.Export, for the session's account.
func (h *handler) registerAMIs(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/amis", h.listAMIs)
	mux.HandleFunc("GET /console/amis/export", h.exportAMI)
}

// AMIsView is the data of amis.html.
type AMIsView struct {
	AMIs    []ami.AMI
	Formats []string
}

func (h *handler) listAMIs(w http.ResponseWriter, r *http.Request) {
	v := AMIsView{Formats: ami.ExportFormats}
	if h.AMIs != nil {
		amis, err := h.AMIs.Launchable(r.Context(), accountOf(r))
		if err != nil {
			h.internal(w, r, err)
			return
		}
		sort.SliceStable(amis, func(i, j int) bool { return amis[i].Name < amis[j].Name })
		v.AMIs = amis
	}
	h.render(w, r, http.StatusOK, "amis.html", "AMIs", "amis", v)
}

// exportAMI streams an AMI's disk in the chosen format, with byte ranges,
// as an attachment named after the AMI.
func (h *handler) exportAMI(w http.ResponseWriter, r *http.Request) {
	if h.AMIs == nil {
		h.notFound(w, r, "This kiln keeps no AMIs.")
		return
	}
	id, format := r.URL.Query().Get("imageId"), r.URL.Query().Get("format")
	if format == "" {
		format = "raw"
	}
	path, release, err := h.AMIs.Export(r.Context(), accountOf(r), id, format)
	switch {
	case errors.Is(err, ami.ErrFormat):
		h.render(w, r, http.StatusBadRequest, "error.html", "Bad format", "amis", ErrorView{Code: "InvalidParameterValue", Message: err.Error()})
		return
	case errors.Is(err, ami.ErrNotFound):
		h.notFound(w, r, "The AMI '"+id+"' does not exist.")
		return
	case err != nil:
		h.internal(w, r, err)
		return
	}
	defer release()
	f, err := os.Open(path)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		h.internal(w, r, err)
		return
	}
	ext := format
	if ext == "raw" {
		ext = "img"
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+id+"."+ext+`"`)
	http.ServeContent(w, r, "", fi.ModTime(), f)
}
