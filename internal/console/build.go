package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// ConsoleInfrastructureName is the infrastructure configuration Build now
// creates for an account that has none: a first build needs one, and a
// newcomer has no reason to know what it is yet. kiln runs builds in its
// own sandbox, so the instance profile is a placeholder ("none").
const ConsoleInfrastructureName = "kiln-console"

// registerBuild adds the recipe page's Build now button (a POST that runs
// CreateImage for the recipe).
func (h *handler) registerBuild(mux *http.ServeMux) {
	mux.HandleFunc("POST /console/recipes/build", h.buildRecipe)
}

// BuildChoice is what the Build now form offers: with one infrastructure
// configuration it is used; with several the user picks; with none Build
// now creates ConsoleInfrastructureName and the page says so beforehand.
type BuildChoice struct {
	Infrastructures []awsapi.InfrastructureConfigurationSummary
	CreateName      string // set when Build now will create the configuration
	ClientToken     string
}

// buildChoice lists the account's own infrastructure configurations
// (ListInfrastructureConfigurations lists only the caller's).
func (h *handler) buildChoice(r *http.Request) BuildChoice {
	b := BuildChoice{ClientToken: clientToken()}
	b.Infrastructures, _ = h.infrastructures(r)
	if len(b.Infrastructures) == 0 {
		b.CreateName = ConsoleInfrastructureName
	}
	return b
}

func (h *handler) infrastructures(r *http.Request) ([]awsapi.InfrastructureConfigurationSummary, error) {
	var out []awsapi.InfrastructureConfigurationSummary
	next := ""
	for {
		resp, err := call[awsapi.ListInfrastructureConfigurationsResponse](h, r, awsapi.OpListInfrastructureConfigurations,
			&awsapi.ListInfrastructureConfigurationsRequest{MaxResults: ptr(int32(25)), NextToken: next})
		if err != nil {
			return out, err
		}
		out = append(out, resp.InfrastructureConfigurationSummaryList...)
		if next = resp.NextToken; next == "" || len(out) >= 1000 {
			return out, nil
		}
	}
}

// buildRecipe runs CreateImage for the posted recipe and sends the user to
// the new image's page, where its log streams.
func (h *handler) buildRecipe(w http.ResponseWriter, r *http.Request) {
	recipeArn := r.PostFormValue("arn")
	infra := r.PostFormValue("infrastructureConfigurationArn")
	token := formToken(r.PostFormValue("clientToken"))
	if infra == "" {
		list, err := h.infrastructures(r)
		if err != nil {
			h.showError(w, r, err)
			return
		}
		switch len(list) {
		case 0:
			// The form's token, derived, so a resubmitted form does not
			// create a second configuration.
			resp, err := call[awsapi.CreateInfrastructureConfigurationResponse](h, r, awsapi.OpCreateInfrastructureConfiguration,
				&awsapi.CreateInfrastructureConfigurationRequest{
					Name: ConsoleInfrastructureName, InstanceProfileName: "none", ClientToken: "infra-" + token[:min(len(token), 30)],
					Description: "Created by the console's Build now for this account's first build.",
				})
			if err != nil {
				h.showError(w, r, err)
				return
			}
			infra = resp.InfrastructureConfigurationArn
		case 1:
			infra = list[0].Arn
		default:
			h.showError(w, r, awsapi.Errorf(awsapi.ErrCodeInvalidParameterValueException,
				"The account has %d infrastructure configurations: choose one for parameter 'infrastructureConfigurationArn'.", len(list)))
			return
		}
	}
	in := &awsapi.CreateImageRequest{InfrastructureConfigurationArn: infra, ClientToken: token}
	if strings.Contains(recipeArn, ":container-recipe/") {
		in.ContainerRecipeArn = recipeArn
	} else {
		in.ImageRecipeArn = recipeArn
	}
	resp, err := call[awsapi.CreateImageResponse](h, r, awsapi.OpCreateImage, in)
	if err != nil {
		h.showError(w, r, err)
		return
	}
	http.Redirect(w, r, "/console/images/view?arn="+url.QueryEscape(resp.ImageBuildVersionArn), http.StatusSeeOther)
}
