package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// DefaultDockerfileTemplate is the container recipe form's Dockerfile
// template: the parent, the recipe's environments, then its components,
// the order Image Builder's own default uses.
const DefaultDockerfileTemplate = "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"

// ContainerRecipeFormView is the data of container-recipe-new.html.
type ContainerRecipeFormView struct {
	Name, SemanticVersion, Description, ParentImage, Components string
	TargetRepository, DockerfileTemplate, ClientToken           string
	Error                                                       *FormError
	// Parents are the image references in the account's repositories of
	// kiln's registry, offered as parent images (any reference can still
	// be typed).
	Parents []ParentChoice
	// Choices are components the account may use, to pick from.
	Choices []awsapi.ComponentVersion
}

// ParentChoice is one tagged image of the account's registry.
type ParentChoice struct {
	Ref   string // host:port/repository:tag, what the recipe stores
	Label string // repository:tag
}

// isContainerForm tells the recipe form's two kinds apart: the container
// kind is the same URL with ?type=container.
func isContainerForm(r *http.Request) bool { return r.URL.Query().Get("type") == "container" }

func (h *handler) newContainerRecipe(w http.ResponseWriter, r *http.Request) {
	v := ContainerRecipeFormView{ClientToken: clientToken(), Components: r.URL.Query().Get("component"),
		DockerfileTemplate: DefaultDockerfileTemplate, ParentImage: r.URL.Query().Get("parent")}
	v.Parents = h.parentChoices(r)
	v.Choices = h.componentChoices(r)
	h.render(w, r, http.StatusOK, "container-recipe-new.html", "Create a container recipe", "recipes", v)
}

// parentChoices lists every tag of the repositories the account owns in
// kiln's registry: repositories() lists by owner, so another account's
// images never reach the picker.
func (h *handler) parentChoices(r *http.Request) []ParentChoice {
	if h.Registry == nil {
		return nil
	}
	repos, err := h.Registry.repositories(r.Context(), accountOf(r))
	if err != nil {
		h.Log.Warn("console: listing parent images", "err", err)
		return nil
	}
	var out []ParentChoice
	for _, repo := range repos {
		for _, im := range repo.Images {
			for _, tag := range im.Tags {
				label := repo.Name + ":" + tag
				out = append(out, ParentChoice{Ref: h.Registry.Host + "/" + label, Label: label})
			}
		}
	}
	return out
}

// createContainerRecipe calls CreateContainerRecipe with the form's fields.
// The target repository defaults to the recipe's name, as a newcomer
// expects the image to land under the name they gave.
func (h *handler) createContainerRecipe(w http.ResponseWriter, r *http.Request) {
	v := ContainerRecipeFormView{
		Name: strings.TrimSpace(r.PostFormValue("name")), SemanticVersion: strings.TrimSpace(r.PostFormValue("semanticVersion")),
		Description: r.PostFormValue("description"), ParentImage: strings.TrimSpace(r.PostFormValue("parentImage")),
		Components: r.PostFormValue("components"), TargetRepository: strings.TrimSpace(r.PostFormValue("targetRepository")),
		DockerfileTemplate: strings.ReplaceAll(r.PostFormValue("dockerfileTemplateData"), "\r\n", "\n"),
		ClientToken:        formToken(r.PostFormValue("clientToken")),
	}
	target := v.TargetRepository
	if target == "" {
		target = v.Name
	}
	resp, err := call[awsapi.CreateContainerRecipeResponse](h, r, awsapi.OpCreateContainerRecipe, &awsapi.CreateContainerRecipeRequest{
		ContainerType: "DOCKER", Name: v.Name, SemanticVersion: v.SemanticVersion, Description: v.Description,
		ParentImage: v.ParentImage, Components: parseComponentLines(v.Components), DockerfileTemplateData: v.DockerfileTemplate,
		TargetRepository: &awsapi.TargetContainerRepository{Service: "ECR", RepositoryName: target},
		ClientToken:      v.ClientToken,
	})
	if err != nil {
		v.Error = formError(err, "name", "semanticVersion", "description", "parentImage", "components", "targetRepository", "repositoryName", "dockerfileTemplateData")
		if v.Error == nil {
			h.internal(w, r, err)
			return
		}
		if v.Error.Field == "repositoryName" {
			v.Error.Field = "targetRepository"
		}
		v.Parents = h.parentChoices(r)
		v.Choices = h.componentChoices(r)
		h.render(w, r, http.StatusBadRequest, "container-recipe-new.html", "Create a container recipe", "recipes", v)
		return
	}
	http.Redirect(w, r, "/console/recipes/view?arn="+url.QueryEscape(resp.ContainerRecipeArn), http.StatusSeeOther)
}
