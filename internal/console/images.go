package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/store"
)

// registerImages adds the image pages (/console/images,
// /console/images/view, /console/images/logs) and their actions: cancel
// and retry.
func (h *handler) registerImages(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/images", h.imageList)
	mux.HandleFunc("GET /console/images/view", h.imageView)
	mux.HandleFunc("GET /console/images/logs", h.imageLogs)
	mux.HandleFunc("POST /console/images/cancel", h.imageCancel)
	mux.HandleFunc("POST /console/images/retry", h.imageRetry)
}

// finalState reports whether an image's state is one it never leaves.
func finalState(status string) bool {
	switch status {
	case awsapi.ImageStatusAvailable, awsapi.ImageStatusFailed, awsapi.ImageStatusCancelled,
		awsapi.ImageStatusDeprecated, awsapi.ImageStatusDeleted, awsapi.ImageStatusDisabled:
		return true
	}
	return false
}

// ImagesView is the data of images.html: the image builds of one owner
// filter (the account's own, shared with it, Amazon's), newest first.
type ImagesView struct {
	Owner  string
	Owners []string
	Builds []awsapi.ImageSummary
}

func (h *handler) imageList(w http.ResponseWriter, r *http.Request) {
	var versions []awsapi.ImageVersion
	owner := ownerParam(r)
	in := &awsapi.ListImagesRequest{Owner: owner}
	for len(versions) < listLimit {
		out, err := h.invoke(r, awsapi.OpListImages, in)
		if err != nil {
			h.showError(w, r, err)
			return
		}
		page := out.(*awsapi.ListImagesResponse)
		versions = append(versions, page.ImageVersionList...)
		if page.NextToken == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	var builds []awsapi.ImageSummary
	for _, v := range versions {
		bin := &awsapi.ListImageBuildVersionsRequest{ImageVersionArn: v.Arn}
		for len(builds) < listLimit {
			out, err := h.invoke(r, awsapi.OpListImageBuildVersions, bin)
			if err != nil {
				h.showError(w, r, err)
				return
			}
			page := out.(*awsapi.ListImageBuildVersionsResponse)
			builds = append(builds, page.ImageSummaryList...)
			if page.NextToken == "" {
				break
			}
			bin.NextToken = page.NextToken
		}
	}
	slices.SortStableFunc(builds, func(a, b awsapi.ImageSummary) int { return strings.Compare(b.DateCreated, a.DateCreated) })
	h.render(w, r, http.StatusOK, "images.html", "Images", "images", ImagesView{Owner: owner, Owners: owners, Builds: builds})
}

// TimelineEntry is one moment of an image's life.
type TimelineEntry struct {
	At    string
	State string
	Note  string
}

// StepRow is one workflow step with how long it ran.
type StepRow struct {
	awsapi.WorkflowStepMetadata
	Duration string
}

// WorkflowRow is one workflow execution with its steps.
type WorkflowRow struct {
	awsapi.WorkflowExecutionMetadata
	Duration string
	Steps    []StepRow
}

// ImageView is the data of image.html.
type ImageView struct {
	Image    awsapi.Image
	Status   string
	Final    bool
	Timeline []TimelineEntry
	// Workflows are the image's workflow executions in the order they
	// started, each with its steps.
	Workflows []WorkflowRow
	Packages  []awsapi.ImagePackage
	// Shell is the `kiln shell` command line for a failed build whose
	// instance was kept; "" otherwise.
	Shell string
	// Logs is the SSE address of the build log ("" when the console has
	// no log source).
	Logs string
	// Error is the refusal of the action just tried (cancel, retry).
	Error *awsapi.Error
}

func (h *handler) imageView(w http.ResponseWriter, r *http.Request) {
	h.showImage(w, r, r.URL.Query().Get("arn"), nil)
}

// showImage renders an image's page, with actionErr (an API refusal of
// the action just tried) above its buttons.
func (h *handler) showImage(w http.ResponseWriter, r *http.Request, arn string, actionErr error) {
	out, err := h.invoke(r, awsapi.OpGetImage, &awsapi.GetImageRequest{ImageBuildVersionArn: arn})
	if err != nil {
		h.showError(w, r, err)
		return
	}
	img := out.(*awsapi.GetImageResponse).Image
	v := ImageView{Image: *img}
	if img.State != nil {
		v.Status = img.State.Status
	}
	v.Final = finalState(v.Status)
	if h.Logs != nil {
		v.Logs = "/console/images/logs?arn=" + urlQueryEscape(img.Arn)
	}
	v.Workflows = h.imageWorkflows(r, img.Arn)
	v.Timeline = imageTimeline(img, v.Workflows)
	if v.Status == awsapi.ImageStatusAvailable {
		if out, err := h.invoke(r, awsapi.OpListImagePackages, &awsapi.ListImagePackagesRequest{ImageBuildVersionArn: img.Arn}); err == nil {
			v.Packages = out.(*awsapi.ListImagePackagesResponse).ImagePackageList
		}
	}
	if v.Status == awsapi.ImageStatusFailed && img.InfrastructureConfiguration != nil &&
		img.InfrastructureConfiguration.TerminateInstanceOnFailure != nil && !*img.InfrastructureConfiguration.TerminateInstanceOnFailure {
		v.Shell = "kiln shell '" + img.Arn + "'"
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
	h.render(w, r, status, "image.html", imageLabel(img.Arn), "images", v)
}

// imageWorkflows lists an image's workflow executions and their steps.
// A page without them is still useful, so a failure leaves them out.
func (h *handler) imageWorkflows(r *http.Request, image string) []WorkflowRow {
	var rows []WorkflowRow
	in := &awsapi.ListWorkflowExecutionsRequest{ImageBuildVersionArn: image}
	for {
		out, err := h.invoke(r, awsapi.OpListWorkflowExecutions, in)
		if err != nil {
			return rows
		}
		page := out.(*awsapi.ListWorkflowExecutionsResponse)
		for _, x := range page.WorkflowExecutions {
			rows = append(rows, WorkflowRow{WorkflowExecutionMetadata: x, Duration: duration(x.StartTime, x.EndTime)})
		}
		if page.NextToken == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	slices.SortStableFunc(rows, func(a, b WorkflowRow) int { return strings.Compare(a.StartTime, b.StartTime) })
	for i := range rows {
		sin := &awsapi.ListWorkflowStepExecutionsRequest{WorkflowExecutionId: rows[i].WorkflowExecutionId}
		for {
			out, err := h.invoke(r, awsapi.OpListWorkflowStepExecutions, sin)
			if err != nil {
				break
			}
			page := out.(*awsapi.ListWorkflowStepExecutionsResponse)
			for _, s := range page.Steps {
				rows[i].Steps = append(rows[i].Steps, StepRow{WorkflowStepMetadata: s, Duration: duration(s.StartTime, s.EndTime)})
			}
			if page.NextToken == "" {
				break
			}
			sin.NextToken = page.NextToken
		}
	}
	return rows
}

// duration is how long something between two API timestamps took, to
// the tenth of a second; "running" without an end, "" without a start.
func duration(start, end string) string {
	s, err := time.Parse(time.RFC3339Nano, start)
	if err != nil {
		return ""
	}
	if end == "" {
		return "running"
	}
	e, err := time.Parse(time.RFC3339Nano, end)
	if err != nil {
		return ""
	}
	d := e.Sub(s)
	if d < time.Minute {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// workflowState is the image state an image is in while a workflow of
// the type runs.
var workflowState = map[string]string{
	awsapi.WorkflowTypeBuild:        awsapi.ImageStatusBuilding,
	awsapi.WorkflowTypeTest:         awsapi.ImageStatusTesting,
	awsapi.WorkflowTypeDistribution: awsapi.ImageStatusDistributing,
}

// imageTimeline puts together the states an image went through from what
// the API keeps: its creation, the start and end of each workflow (the
// image is BUILDING, TESTING or DISTRIBUTING while one of that type
// runs), and its state now.
func imageTimeline(img *awsapi.Image, workflows []WorkflowRow) []TimelineEntry {
	t := []TimelineEntry{{At: img.DateCreated, State: awsapi.ImageStatusPending, Note: "created" + strings.ToLower(" by "+orDefault(img.BuildType, "USER_INITIATED"))}}
	for _, x := range workflows {
		state := workflowState[x.Type]
		if state == "" {
			state = x.Type
		}
		t = append(t, TimelineEntry{At: x.StartTime, State: state, Note: strings.ToLower(x.Type) + " workflow started"})
		if x.EndTime != "" {
			note := strings.ToLower(x.Type) + " workflow " + strings.ToLower(x.Status)
			if x.Message != "" {
				note += ": " + x.Message
			}
			t = append(t, TimelineEntry{At: x.EndTime, Note: note})
		}
	}
	if img.State != nil && finalState(img.State.Status) {
		at, note := "", img.State.Reason
		if n := len(workflows); n > 0 {
			at = workflows[n-1].EndTime
			if note == workflows[n-1].Message {
				note = "" // the workflow's end just said it
			}
		}
		t = append(t, TimelineEntry{At: at, State: img.State.Status, Note: note})
	}
	return t
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// imageCancel is CancelImageCreation; the image's page then shows it
// CANCELLED (or the refusal, for an image already finished).
func (h *handler) imageCancel(w http.ResponseWriter, r *http.Request) {
	arn := r.PostFormValue("arn")
	_, err := h.invoke(r, awsapi.OpCancelImageCreation, &awsapi.CancelImageCreationRequest{ImageBuildVersionArn: arn, ClientToken: newClientToken()})
	if err != nil {
		h.showImage(w, r, arn, err)
		return
	}
	http.Redirect(w, r, "/console/images/view?arn="+urlQueryEscape(arn), http.StatusSeeOther)
}

// imageRetry builds the image again: a pipeline's image through its
// pipeline (so the run shows in the pipeline's history), any other with
// CreateImage from the same recipe and configurations. It leads to the
// new image's page.
func (h *handler) imageRetry(w http.ResponseWriter, r *http.Request) {
	arn := r.PostFormValue("arn")
	out, err := h.invoke(r, awsapi.OpGetImage, &awsapi.GetImageRequest{ImageBuildVersionArn: arn})
	if err != nil {
		h.showError(w, r, err)
		return
	}
	img := out.(*awsapi.GetImageResponse).Image
	var next string
	if img.SourcePipelineArn != "" {
		out, err := h.invoke(r, awsapi.OpStartImagePipelineExecution, &awsapi.StartImagePipelineExecutionRequest{ImagePipelineArn: img.SourcePipelineArn, ClientToken: newClientToken()})
		if err != nil {
			h.showImage(w, r, arn, err)
			return
		}
		next = out.(*awsapi.StartImagePipelineExecutionResponse).ImageBuildVersionArn
	} else {
		in := &awsapi.CreateImageRequest{
			ImageTestsConfiguration:      img.ImageTestsConfiguration,
			EnhancedImageMetadataEnabled: img.EnhancedImageMetadataEnabled,
			ClientToken:                  newClientToken(),
			ImageScanningConfiguration:   img.ImageScanningConfiguration,
			Workflows:                    img.Workflows,
			ExecutionRole:                img.ExecutionRole,
			LoggingConfiguration:         img.LoggingConfiguration,
		}
		if img.ImageRecipe != nil {
			in.ImageRecipeArn = img.ImageRecipe.Arn
		}
		if img.ContainerRecipe != nil {
			in.ContainerRecipeArn = img.ContainerRecipe.Arn
		}
		if img.InfrastructureConfiguration != nil {
			in.InfrastructureConfigurationArn = img.InfrastructureConfiguration.Arn
		}
		if img.DistributionConfiguration != nil {
			in.DistributionConfigurationArn = img.DistributionConfiguration.Arn
		}
		out, err := h.invoke(r, awsapi.OpCreateImage, in)
		if err != nil {
			h.showImage(w, r, arn, err)
			return
		}
		next = out.(*awsapi.CreateImageResponse).ImageBuildVersionArn
	}
	http.Redirect(w, r, "/console/images/view?arn="+urlQueryEscape(next), http.StatusSeeOther)
}

// Bounds of one log stream. A browser's EventSource reconnects when a
// stream ends without its "end" event, and every stream starts the log
// over (a "start" event tells the page to clear it), so the bounds cost
// a reader nothing but a short pause while they keep a forgotten tab from
// holding a connection and a goroutine for ever.
const (
	maxLogStream      = 10 * time.Minute
	maxLogStreamBytes = 8 << 20
	// maxLogLine splits pathological lines (a progress bar without
	// newlines) so one event stays small.
	maxLogLine = 16 << 10
)

// imageLogs streams an image's build log as server-sent events: a
// "start" event, one message per log line while the build runs (the
// engine's follow, as `kiln logs --follow` uses it), then an "end" event
// with the final state, or "truncated" when the log outgrew the bound.
// The image must be one GetImage shows the account, and its logs the
// account's own, as for `kiln logs`.
func (h *handler) imageLogs(w http.ResponseWriter, r *http.Request) {
	arn := r.URL.Query().Get("arn")
	if h.Logs == nil {
		h.notFound(w, r, "This kiln serves no build logs.")
		return
	}
	if _, err := h.invoke(r, awsapi.OpGetImage, &awsapi.GetImageRequest{ImageBuildVersionArn: arn}); err != nil {
		h.showError(w, r, err)
		return
	}
	account := accountOf(r)
	canSee := func(res store.Resource) bool { return service.LogsReadable(res, account) }

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sse := &sseLines{w: w, rc: http.NewResponseController(w)}
	sse.event("start", "")
	ctx, cancel := context.WithTimeout(r.Context(), maxLogStream)
	defer cancel()
	err := h.Logs.WriteLogs(ctx, sse, arn, true, canSee)
	sse.finish()
	switch {
	case errors.Is(err, errLogTooLong):
		sse.event("truncated", "the log is longer than the console shows; read it all with kiln logs")
	case err != nil:
		sse.event("failed", userErrorText(err))
	case ctx.Err() != nil:
		// The bound (or the client) ended the stream; the browser
		// reconnects and starts over.
		return
	default:
		state := ""
		if out, err := h.invoke(r, awsapi.OpGetImage, &awsapi.GetImageRequest{ImageBuildVersionArn: arn}); err == nil && out.(*awsapi.GetImageResponse).Image.State != nil {
			state = out.(*awsapi.GetImageResponse).Image.State.Status
		}
		sse.event("end", state)
	}
	sse.flush()
}

var errLogTooLong = errors.New("console: the log is longer than one stream carries")

// sseLines turns the bytes the log writer produces into server-sent
// events, one "data" line per log line (SSE cannot carry a bare newline
// or carriage return inside a field).
type sseLines struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	partial []byte
	sent    int
}

func (s *sseLines) Write(p []byte) (int, error) {
	if s.sent > maxLogStreamBytes {
		return 0, errLogTooLong
	}
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.partial = append(s.partial, p...)
			if len(s.partial) > maxLogLine {
				s.line(s.partial)
				s.partial = s.partial[:0]
			}
			break
		}
		s.partial = append(s.partial, p[:i]...)
		s.line(s.partial)
		s.partial = s.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

// Flush is called by the log writer after each round of new output.
func (s *sseLines) Flush() { s.flush() }

func (s *sseLines) flush() { s.rc.Flush() }

// line sends one log line as a message event, a line longer than
// maxLogLine as several.
func (s *sseLines) line(b []byte) {
	b = bytes.ReplaceAll(b, []byte("\r"), nil)
	for {
		chunk := b[:min(len(b), maxLogLine)]
		n, _ := fmt.Fprintf(s.w, "data: %s\n\n", chunk)
		s.sent += n
		b = b[len(chunk):]
		if len(b) == 0 {
			return
		}
	}
}

// finish sends a last line that did not end in a newline.
func (s *sseLines) finish() {
	if len(s.partial) > 0 {
		s.line(s.partial)
		s.partial = s.partial[:0]
	}
}

// event sends a named event with one line of data.
func (s *sseLines) event(name, data string) {
	data = strings.NewReplacer("\r", "", "\n", " ").Replace(data)
	fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, data)
	s.flush()
}
