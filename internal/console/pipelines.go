package console

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/schedule"
	"github.com/kiln-build/kiln/internal/service"
)

// registerPipelines adds the pipeline pages (/console/pipelines,
// /console/pipelines/view) and their actions: start, enable, disable.
func (h *handler) registerPipelines(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/pipelines", h.pipelineList)
	mux.HandleFunc("GET /console/pipelines/view", h.pipelineView)
	mux.HandleFunc("POST /console/pipelines/start", h.pipelineStart)
	mux.HandleFunc("POST /console/pipelines/enable", h.pipelineSetStatus(awsapi.PipelineStatusEnabled))
	mux.HandleFunc("POST /console/pipelines/disable", h.pipelineSetStatus(awsapi.PipelineStatusDisabled))
}

// listLimit bounds how many rows a console list asks the API for: pages
// stay quick to render and read, and the CLI is there for the long tail.
const listLimit = 200

// PipelineRow is one pipeline in the list and the head of its page.
type PipelineRow struct {
	Pipeline awsapi.ImagePipeline
	// Schedule is the expression in plain words with its time zone
	// ("every day at 03:00 (Europe/Paris)"), or "" without a schedule.
	Schedule string
	// Expression is the raw schedule expression.
	Expression string
	// NextRun is dateNextRun in the pipeline's zone and in UTC.
	NextRun string
	Recipe  string
}

// PipelinesView is the data of pipelines.html.
type PipelinesView struct {
	Rows []PipelineRow
}

func (h *handler) pipelineList(w http.ResponseWriter, r *http.Request) {
	var rows []PipelineRow
	in := &awsapi.ListImagePipelinesRequest{}
	for len(rows) < listLimit {
		out, err := h.invoke(r, awsapi.OpListImagePipelines, in)
		if err != nil {
			h.showError(w, r, err)
			return
		}
		page := out.(*awsapi.ListImagePipelinesResponse)
		for _, p := range page.ImagePipelineList {
			rows = append(rows, pipelineRow(p))
		}
		if page.NextToken == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	h.render(w, r, http.StatusOK, "pipelines.html", "Pipelines", "pipelines", PipelinesView{Rows: rows})
}

func pipelineRow(p awsapi.ImagePipeline) PipelineRow {
	row := PipelineRow{Pipeline: p, Recipe: p.ImageRecipeArn}
	if row.Recipe == "" {
		row.Recipe = p.ContainerRecipeArn
	}
	if p.Schedule != nil && p.Schedule.ScheduleExpression != "" {
		zone := p.Schedule.Timezone
		if zone == "" {
			zone = "UTC"
		}
		row.Expression = p.Schedule.ScheduleExpression
		words := schedule.Describe(row.Expression)
		if words == "" {
			words = row.Expression
		}
		row.Schedule = words + " (" + zone + ")"
		row.NextRun = inZone(p.DateNextRun, zone)
	}
	return row
}

// inZone shows an API timestamp on the wall clock of zone, followed by
// UTC: a schedule is written in its zone, so that is the time a user
// checks it against.
func inZone(ts, zone string) string {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return ts
	}
	loc, err := schedule.LoadZone(zone)
	if err != nil || loc == time.UTC {
		return t.UTC().Format("2006-01-02 15:04 UTC")
	}
	return t.In(loc).Format("2006-01-02 15:04 MST") + " (" + t.UTC().Format("15:04 UTC") + ")"
}

// RunRow is one run of a pipeline, newest first.
type RunRow struct {
	service.PipelineRun
	Built      bool
	Skipped    bool
	ImageLabel string // "name 1.0.0/2" out of the image ARN
}

// PipelineView is the data of pipeline.html.
type PipelineView struct {
	PipelineRow
	Enabled bool
	// Runs is the run history, newest first; RunsError says why it is
	// missing.
	Runs      []RunRow
	RunsError string
	Images    []awsapi.ImageSummary
	// Error is the refusal of the action just tried (start, enable,
	// disable), shown above the buttons.
	Error *awsapi.Error
}

// maxRuns is how many runs the page shows; `kiln pipeline runs` has all.
const maxRuns = 50

func (h *handler) pipelineView(w http.ResponseWriter, r *http.Request) {
	h.showPipeline(w, r, r.URL.Query().Get("arn"), nil)
}

// showPipeline renders a pipeline's page, with actionErr (an API refusal
// of the action just tried) above its buttons.
func (h *handler) showPipeline(w http.ResponseWriter, r *http.Request, arn string, actionErr error) {
	out, err := h.invoke(r, awsapi.OpGetImagePipeline, &awsapi.GetImagePipelineRequest{ImagePipelineArn: arn})
	if err != nil {
		h.showError(w, r, err)
		return
	}
	p := out.(*awsapi.GetImagePipelineResponse).ImagePipeline
	v := PipelineView{PipelineRow: pipelineRow(*p), Enabled: p.Status != awsapi.PipelineStatusDisabled}
	if h.Runs != nil {
		runs, err := h.Runs.PipelineRuns(r.Context(), accountOf(r), arn)
		if err != nil {
			v.RunsError = userErrorText(err)
		}
		for _, run := range slices.Backward(runs) {
			if len(v.Runs) == maxRuns {
				break
			}
			v.Runs = append(v.Runs, RunRow{PipelineRun: run, Built: run.Outcome == service.RunBuilt, Skipped: run.Outcome == service.RunSkipped, ImageLabel: imageLabel(run.Image)})
		}
	}
	images, err := h.invoke(r, awsapi.OpListImagePipelineImages, &awsapi.ListImagePipelineImagesRequest{ImagePipelineArn: arn})
	if err == nil {
		v.Images = images.(*awsapi.ListImagePipelineImagesResponse).ImageSummaryList
		slices.Reverse(v.Images) // newest build first
	}
	status := http.StatusOK
	if actionErr != nil {
		var apiErr *awsapi.Error
		if !errors.As(actionErr, &apiErr) {
			h.internal(w, r, actionErr)
			return
		}
		v.Error, status = apiErr, apiErr.Status()
	}
	h.render(w, r, status, "pipeline.html", p.Name, "pipelines", v)
}

// userErrorText is an error as a user sees it: an API error's code and
// message, anything else a generic line (its text can name paths).
func userErrorText(err error) string {
	var apiErr *awsapi.Error
	if errors.As(err, &apiErr) {
		return apiErr.Code + ": " + apiErr.Message
	}
	return "an internal error occurred; the server log has the details"
}

// pipelineStart is StartImagePipelineExecution; it leads to the new
// image's page, where its log streams.
func (h *handler) pipelineStart(w http.ResponseWriter, r *http.Request) {
	arn := r.PostFormValue("arn")
	out, err := h.invoke(r, awsapi.OpStartImagePipelineExecution, &awsapi.StartImagePipelineExecutionRequest{
		ImagePipelineArn: arn, ClientToken: newClientToken(),
	})
	if err != nil {
		h.showPipeline(w, r, arn, err)
		return
	}
	image := out.(*awsapi.StartImagePipelineExecutionResponse).ImageBuildVersionArn
	http.Redirect(w, r, "/console/images/view?arn="+urlQueryEscape(image), http.StatusSeeOther)
}

// pipelineSetStatus enables or disables a pipeline. UpdateImagePipeline
// replaces the whole pipeline, so every setting is sent back as it is and
// only the status changes.
func (h *handler) pipelineSetStatus(status string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		arn := r.PostFormValue("arn")
		out, err := h.invoke(r, awsapi.OpGetImagePipeline, &awsapi.GetImagePipelineRequest{ImagePipelineArn: arn})
		if err != nil {
			h.showError(w, r, err)
			return
		}
		p := out.(*awsapi.GetImagePipelineResponse).ImagePipeline
		_, err = h.invoke(r, awsapi.OpUpdateImagePipeline, &awsapi.UpdateImagePipelineRequest{
			ImagePipelineArn:               p.Arn,
			Description:                    p.Description,
			ImageRecipeArn:                 p.ImageRecipeArn,
			ContainerRecipeArn:             p.ContainerRecipeArn,
			InfrastructureConfigurationArn: p.InfrastructureConfigurationArn,
			DistributionConfigurationArn:   p.DistributionConfigurationArn,
			ImageTestsConfiguration:        p.ImageTestsConfiguration,
			EnhancedImageMetadataEnabled:   p.EnhancedImageMetadataEnabled,
			Schedule:                       p.Schedule,
			Status:                         status,
			ClientToken:                    newClientToken(),
			ImageScanningConfiguration:     p.ImageScanningConfiguration,
			Workflows:                      p.Workflows,
			ExecutionRole:                  p.ExecutionRole,
			ImageTags:                      p.ImageTags,
			LoggingConfiguration:           p.LoggingConfiguration,
		})
		if err != nil {
			h.showPipeline(w, r, arn, err)
			return
		}
		http.Redirect(w, r, "/console/pipelines/view?arn="+urlQueryEscape(arn), http.StatusSeeOther)
	}
}

// newClientToken is the idempotency token of one console action: a fresh
// one per form post, since a post is one intent.
func newClientToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// imageLabel is an image build version ARN's name, version and build
// ("hello 1.0.0/2"), which is what people tell builds apart by.
func imageLabel(arn string) string {
	_, rest, ok := strings.Cut(arn, ":image/")
	if !ok {
		return arn
	}
	name, version, _ := strings.Cut(rest, "/")
	return name + " " + version
}
