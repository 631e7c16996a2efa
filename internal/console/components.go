package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// registerComponents adds the component pages: the list, one component
// version (its builds, document and parameters), the validate box and the
// create form.
func (h *handler) registerComponents(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/components", h.listComponents)
	mux.HandleFunc("GET /console/components/view", h.viewComponent)
	mux.HandleFunc("GET /console/components/validate", h.validateComponent)
	mux.HandleFunc("POST /console/components/validate", h.validateComponent)
	mux.HandleFunc("GET /console/components/new", h.newComponent)
	mux.HandleFunc("POST /console/components/new", h.createComponent)
}

// owners are the ownership filters of list pages, as the API spells them.
var owners = []string{"Self", "Shared", "Amazon", "ThirdParty", "AWSMarketplace"}

// ownerParam is the ?owner= filter, Self unless a known one is given.
func ownerParam(r *http.Request) string {
	o := r.URL.Query().Get("owner")
	for _, k := range owners {
		if o == k {
			return o
		}
	}
	return "Self"
}

// ComponentListView is the data of components.html.
type ComponentListView struct {
	Owner      string
	Owners     []string
	Components []awsapi.ComponentVersion
	Next       string // the next page's URL, "" on the last
}

func (h *handler) listComponents(w http.ResponseWriter, r *http.Request) {
	owner := ownerParam(r)
	byName := false
	resp, err := call[awsapi.ListComponentsResponse](h, r, awsapi.OpListComponents, &awsapi.ListComponentsRequest{
		Owner: owner, ByName: &byName, MaxResults: ptr(int32(25)), NextToken: r.URL.Query().Get("next"),
	})
	if err != nil {
		h.showError(w, r, err)
		return
	}
	v := ComponentListView{Owner: owner, Owners: owners, Components: resp.ComponentVersionList}
	if resp.NextToken != "" {
		v.Next = "/console/components?owner=" + url.QueryEscape(owner) + "&next=" + url.QueryEscape(resp.NextToken)
	}
	h.render(w, r, http.StatusOK, "components.html", "Components", "components", v)
}

// ComponentView is the data of component.html.
type ComponentView struct {
	Component *awsapi.Component
	Builds    []awsapi.ComponentSummary
	Versions  []awsapi.ComponentVersion // every version of the name
	Document  *DocReport                // nil when the API returns no document
}

func (h *handler) viewComponent(w http.ResponseWriter, r *http.Request) {
	arn := r.URL.Query().Get("arn")
	resp, err := call[awsapi.GetComponentResponse](h, r, awsapi.OpGetComponent, &awsapi.GetComponentRequest{ComponentBuildVersionArn: arn})
	if err != nil {
		h.showError(w, r, err)
		return
	}
	c := resp.Component
	if c == nil {
		h.notFound(w, r, "No component "+arn)
		return
	}
	v := ComponentView{Component: c}
	if c.Data != "" {
		rep := checkDocument(c.Name, c.Data)
		v.Document = &rep
	}
	if resp, err := call[awsapi.ListComponentBuildVersionsResponse](h, r, awsapi.OpListComponentBuildVersions, &awsapi.ListComponentBuildVersionsRequest{
		ComponentVersionArn: versionARN(c.Arn), MaxResults: ptr(int32(25)),
	}); err == nil {
		v.Builds = resp.ComponentSummaryList
	}
	byName := false
	if resp, err := call[awsapi.ListComponentsResponse](h, r, awsapi.OpListComponents, &awsapi.ListComponentsRequest{
		Owner: ownerFilterFor(c.Owner, accountOf(r)), ByName: &byName, MaxResults: ptr(int32(25)),
		Filters: []awsapi.Filter{{Name: "name", Values: []string{c.Name}}},
	}); err == nil {
		v.Versions = resp.ComponentVersionList
	}
	h.render(w, r, http.StatusOK, "component.html", c.Name+" "+c.Version, "components", v)
}

// ownerFilterFor is the list filter that finds a resource's siblings.
func ownerFilterFor(owner, account string) string {
	switch owner {
	case account:
		return "Self"
	case "Amazon":
		return "Amazon"
	}
	return "Shared"
}

// versionARN cuts a build version ARN (…/name/1.0.0/1) to its version ARN
// (…/name/1.0.0); a version ARN stays as it is.
func versionARN(arn string) string {
	parts := strings.Split(arn, "/")
	if len(parts) == 4 {
		return strings.Join(parts[:3], "/")
	}
	return arn
}

// ValidateView is the data of component-validate.html.
type ValidateView struct {
	Data    string
	Checked bool
	Report  DocReport
	// ModelError is the API's answer when the document breaks the
	// model's own constraints (its length) before parsing.
	ModelError *FormError
}

func (h *handler) validateComponent(w http.ResponseWriter, r *http.Request) {
	v := ValidateView{}
	if r.Method == http.MethodPost {
		v.Data, v.Checked = r.PostFormValue("data"), true
		probe := &awsapi.CreateComponentRequest{Name: "validate", SemanticVersion: "1.0.0", Platform: "Linux", Data: v.Data, ClientToken: "validate"}
		if err := probe.Validate(); err != nil {
			v.ModelError = formError(err, "data")
		} else {
			v.Report = checkDocument("validate", v.Data)
		}
	}
	h.render(w, r, http.StatusOK, "component-validate.html", "Validate a component document", "components", v)
}

// ComponentFormView is the data of component-new.html.
type ComponentFormView struct {
	Name, SemanticVersion, Platform, Description, ChangeDescription, Data string
	ClientToken                                                           string
	Platforms                                                             []string
	Error                                                                 *FormError
	Report                                                                *DocReport // the document's problems in place, when it has some
}

var platforms = []string{"Linux", "Windows", "macOS"}

func (h *handler) newComponent(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "component-new.html", "Create a component", "components", ComponentFormView{
		Platform: "Linux", Platforms: platforms, ClientToken: clientToken(),
		Data: "name: hello\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Hello\n        action: ExecuteBash\n        inputs:\n          commands:\n            - echo hello\n",
	})
}

// createComponent calls CreateComponent with the form's fields and the
// form's client token; errors come back on the field they name.
func (h *handler) createComponent(w http.ResponseWriter, r *http.Request) {
	v := ComponentFormView{
		Name: strings.TrimSpace(r.PostFormValue("name")), SemanticVersion: strings.TrimSpace(r.PostFormValue("semanticVersion")),
		Platform: r.PostFormValue("platform"), Description: r.PostFormValue("description"),
		ChangeDescription: r.PostFormValue("changeDescription"), Data: r.PostFormValue("data"),
		ClientToken: formToken(r.PostFormValue("clientToken")), Platforms: platforms,
	}
	resp, err := call[awsapi.CreateComponentResponse](h, r, awsapi.OpCreateComponent, &awsapi.CreateComponentRequest{
		Name: v.Name, SemanticVersion: v.SemanticVersion, Platform: v.Platform, Description: v.Description,
		ChangeDescription: v.ChangeDescription, Data: v.Data, ClientToken: v.ClientToken,
	})
	if err != nil {
		v.Error = formError(err, "name", "semanticVersion", "platform", "description", "changeDescription", "data")
		if v.Error == nil {
			h.internal(w, r, err)
			return
		}
		if v.Error.Field == "data" {
			if rep := checkDocument(v.Name, v.Data); rep.Errors > 0 {
				v.Report = &rep
			}
		}
		h.render(w, r, http.StatusBadRequest, "component-new.html", "Create a component", "components", v)
		return
	}
	arn := resp.ComponentBuildVersionArn
	http.Redirect(w, r, "/console/components/view?arn="+url.QueryEscape(arn), http.StatusSeeOther)
}

func ptr[T any](v T) *T { return &v }
