package kilnapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/kiln-build/kiln/internal/service"
)

// LifecycleRunsPath runs a lifecycle policy now (`kiln lifecycle run`).
const LifecycleRunsPath = "/kiln/v1/lifecycle-runs"

// LifecycleRunner runs one of an account's lifecycle policies now. The
// service implements it.
type LifecycleRunner interface {
	RunLifecyclePolicy(ctx context.Context, account, policy string, dryRun bool) (service.LifecycleRun, error)
}

// runLifecycle is POST /kiln/v1/lifecycle-runs?lifecyclePolicyArn=ARN
// [&dryRun=true]: runs a policy the caller owns and answers the
// service.LifecycleRun as JSON once the execution is over (what a dry
// run would act on, recording nothing). The parameters are in the query,
// which the signature covers; the body is empty like every endpoint's.
func (h *handlers) runLifecycle(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dry := false
	if v := q.Get("dryRun"); v != "" {
		var err error
		if dry, err = strconv.ParseBool(v); err != nil {
			http.Error(w, "InvalidParameterValueException: dryRun must be true or false", http.StatusBadRequest)
			return
		}
	}
	run, err := h.Lifecycle.RunLifecyclePolicy(r.Context(), account(r), q.Get("lifecyclePolicyArn"), dry)
	if err != nil {
		h.fail(w, r, err, true)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(run)
}
