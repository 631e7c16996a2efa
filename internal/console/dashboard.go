package console

import (
	"net/http"
	"sort"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// registerDashboard adds /console/, the dashboard.
func (h *handler) registerDashboard(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/{$}", h.dashboard)
}

// The dashboard reads at most this many image versions (newest first)
// and pipelines: it is a summary, and every build of every version costs
// one ListImageBuildVersions call.
const (
	dashboardImagePages    = 2
	dashboardPipelinePages = 4
	dashboardFailures      = 10
	dashboardNextRuns      = 10
)

// terminalStates are image states a build never leaves on its own.
var terminalStates = map[string]bool{
	awsapi.ImageStatusAvailable: true, awsapi.ImageStatusFailed: true, awsapi.ImageStatusCancelled: true,
	awsapi.ImageStatusDeprecated: true, awsapi.ImageStatusDisabled: true, awsapi.ImageStatusDeleted: true,
}

// DashboardView is the data of dashboard.html.
type DashboardView struct {
	Endpoint string
	Running  []awsapi.ImageSummary
	Failures []awsapi.ImageSummary // newest first, with their reason
	NextRuns []awsapi.ImagePipeline
	Problems []string // parts that could not be read
}

func (h *handler) dashboard(w http.ResponseWriter, r *http.Request) {
	v := DashboardView{Endpoint: h.Endpoint}
	builds, err := h.recentBuilds(r)
	if err != nil {
		v.Problems = append(v.Problems, "images: "+h.errorText(r, err))
	}
	for _, b := range builds {
		switch {
		case b.State == nil:
		case b.State.Status == awsapi.ImageStatusFailed:
			v.Failures = append(v.Failures, b)
		case !terminalStates[b.State.Status]:
			v.Running = append(v.Running, b)
		}
	}
	sort.SliceStable(v.Failures, func(i, j int) bool { return v.Failures[i].DateCreated > v.Failures[j].DateCreated })
	if len(v.Failures) > dashboardFailures {
		v.Failures = v.Failures[:dashboardFailures]
	}
	pipelines, err := h.pipelines(r, dashboardPipelinePages)
	if err != nil {
		v.Problems = append(v.Problems, "pipelines: "+h.errorText(r, err))
	}
	for _, p := range pipelines {
		if p.DateNextRun != "" && p.Status == awsapi.PipelineStatusEnabled {
			v.NextRuns = append(v.NextRuns, p)
		}
	}
	// The API's timestamps share one format and zone, so they sort as text.
	sort.SliceStable(v.NextRuns, func(i, j int) bool { return v.NextRuns[i].DateNextRun < v.NextRuns[j].DateNextRun })
	if len(v.NextRuns) > dashboardNextRuns {
		v.NextRuns = v.NextRuns[:dashboardNextRuns]
	}
	h.render(w, r, http.StatusOK, "dashboard.html", "Dashboard", "dashboard", v)
}

// recentBuilds lists the builds of the account's newest image versions.
func (h *handler) recentBuilds(r *http.Request) ([]awsapi.ImageSummary, error) {
	var out []awsapi.ImageSummary
	next := ""
	for page := 0; page < dashboardImagePages; page++ {
		images, err := call[awsapi.ListImagesResponse](h, r, awsapi.OpListImages, &awsapi.ListImagesRequest{Owner: "Self", MaxResults: ptr(int32(25)), NextToken: next})
		if err != nil {
			return out, err
		}
		for _, iv := range images.ImageVersionList {
			b, err := call[awsapi.ListImageBuildVersionsResponse](h, r, awsapi.OpListImageBuildVersions, &awsapi.ListImageBuildVersionsRequest{ImageVersionArn: iv.Arn, MaxResults: ptr(int32(25))})
			if err != nil {
				return out, err
			}
			out = append(out, b.ImageSummaryList...)
		}
		if next = images.NextToken; next == "" {
			break
		}
	}
	return out, nil
}

// pipelines lists the account's pipelines, up to pages pages.
func (h *handler) pipelines(r *http.Request, pages int) ([]awsapi.ImagePipeline, error) {
	var out []awsapi.ImagePipeline
	next := ""
	for page := 0; page < pages; page++ {
		resp, err := call[awsapi.ListImagePipelinesResponse](h, r, awsapi.OpListImagePipelines, &awsapi.ListImagePipelinesRequest{MaxResults: ptr(int32(25)), NextToken: next})
		if err != nil {
			return out, err
		}
		out = append(out, resp.ImagePipelineList...)
		if next = resp.NextToken; next == "" {
			break
		}
	}
	return out, nil
}

// errorText is an error as a page may show it: an API error's code and
// message; anything else only as "internal error", its text logged.
func (h *handler) errorText(r *http.Request, err error) string {
	if fe := formError(err); fe != nil {
		return fe.Code + ": " + fe.Message
	}
	h.Log.Error("console", "path", r.URL.Path, "err", err)
	return "internal error (the server log has the details)"
}
