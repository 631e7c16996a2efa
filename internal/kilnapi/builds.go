package kilnapi

import (
	"encoding/json"
	"net/http"

	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/store"
)

// logs is GET /kiln/v1/logs?imageBuildVersionArn=ARN[&follow=true]: the
// build's step logs as plain text, streamed. Only the image's owner reads
// them: a resource policy shares the image, not what its build printed.
func (h *handlers) logs(w http.ResponseWriter, r *http.Request) {
	caller := account(r)
	image := r.URL.Query().Get("imageBuildVersionArn")
	follow := r.URL.Query().Get("follow") == "true"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	canSee := func(res store.Resource) bool { return service.LogsReadable(res, caller) }
	if err := h.Logs.WriteLogs(r.Context(), w, image, follow, canSee); err != nil {
		h.fail(w, r, err, false)
	}
}

// pipelineRuns is GET /kiln/v1/pipeline-runs?imagePipelineArn=ARN: the
// run records of a pipeline the caller owns, as PipelineRunsResponse.
func (h *handlers) pipelineRuns(w http.ResponseWriter, r *http.Request) {
	runs, err := h.Runs.PipelineRuns(r.Context(), account(r), r.URL.Query().Get("imagePipelineArn"))
	if err != nil {
		h.fail(w, r, err, true)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(PipelineRunsResponse{Runs: runs})
}
