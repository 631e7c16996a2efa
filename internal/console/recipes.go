package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// registerRecipes adds the recipe pages: image and container recipes, one
// recipe with its components in order (and a diff against another
// version), and the image recipe form.
func (h *handler) registerRecipes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/recipes", h.listRecipes)
	mux.HandleFunc("GET /console/recipes/view", h.viewRecipe)
	mux.HandleFunc("GET /console/recipes/new", h.newRecipe)
	mux.HandleFunc("POST /console/recipes/new", h.createRecipe)
	h.registerBuild(mux)
}

// RecipeListView is the data of recipes.html.
type RecipeListView struct {
	Owner     string
	Owners    []string
	Image     []awsapi.ImageRecipeSummary
	Container []awsapi.ContainerRecipeSummary
	Next      string
}

func (h *handler) listRecipes(w http.ResponseWriter, r *http.Request) {
	owner := ownerParam(r)
	v := RecipeListView{Owner: owner, Owners: owners}
	img, err := call[awsapi.ListImageRecipesResponse](h, r, awsapi.OpListImageRecipes, &awsapi.ListImageRecipesRequest{Owner: owner, MaxResults: ptr(int32(25)), NextToken: r.URL.Query().Get("next")})
	if err != nil {
		h.showError(w, r, err)
		return
	}
	v.Image = img.ImageRecipeSummaryList
	if img.NextToken != "" {
		v.Next = "/console/recipes?owner=" + url.QueryEscape(owner) + "&next=" + url.QueryEscape(img.NextToken)
	}
	if r.URL.Query().Get("next") == "" {
		ctr, err := call[awsapi.ListContainerRecipesResponse](h, r, awsapi.OpListContainerRecipes, &awsapi.ListContainerRecipesRequest{Owner: owner, MaxResults: ptr(int32(25))})
		if err != nil {
			h.showError(w, r, err)
			return
		}
		v.Container = ctr.ContainerRecipeSummaryList
	}
	h.render(w, r, http.StatusOK, "recipes.html", "Recipes", "recipes", v)
}

// recipe is what the recipe page shows of an image or a container recipe.
type recipe struct {
	Kind        string // "image" or "container"
	Arn         string
	Name        string
	Version     string
	Description string
	Platform    string
	Owner       string
	ParentImage string
	Created     string
	Components  []awsapi.ComponentConfiguration
	Extra       [][2]string // other members worth a line (working directory, target repository)
	raw         any         // the API's shape, for the normalised form
}

// RecipeView is the data of recipe.html.
type RecipeView struct {
	Recipe   *recipe
	Versions []string // ARNs of the recipe's versions
	Other    *recipe  // the recipe diffed against, when asked
	Diff     []DiffLine
	Build    BuildChoice // the Build now button's infrastructure choice
}

// getRecipe fetches an image or a container recipe by ARN.
func (h *handler) getRecipe(r *http.Request, arn string) (*recipe, error) {
	if strings.Contains(arn, ":container-recipe/") {
		resp, err := call[awsapi.GetContainerRecipeResponse](h, r, awsapi.OpGetContainerRecipe, &awsapi.GetContainerRecipeRequest{ContainerRecipeArn: arn})
		if err != nil {
			return nil, err
		}
		c := resp.ContainerRecipe
		if c == nil {
			return nil, awsapi.Errorf(awsapi.ErrCodeResourceNotFoundException, "no container recipe %s", arn)
		}
		rc := &recipe{Kind: "container", Arn: c.Arn, Name: c.Name, Version: c.Version, Description: c.Description, Platform: c.Platform,
			Owner: c.Owner, ParentImage: c.ParentImage, Created: c.DateCreated, Components: c.Components, raw: c}
		if c.WorkingDirectory != "" {
			rc.Extra = append(rc.Extra, [2]string{"Working directory", c.WorkingDirectory})
		}
		if t := c.TargetRepository; t != nil {
			rc.Extra = append(rc.Extra, [2]string{"Target repository", t.Service + " " + t.RepositoryName})
		}
		if c.DockerfileTemplateData != "" {
			rc.Extra = append(rc.Extra, [2]string{"Dockerfile template", c.DockerfileTemplateData})
		}
		return rc, nil
	}
	resp, err := call[awsapi.GetImageRecipeResponse](h, r, awsapi.OpGetImageRecipe, &awsapi.GetImageRecipeRequest{ImageRecipeArn: arn})
	if err != nil {
		return nil, err
	}
	c := resp.ImageRecipe
	if c == nil {
		return nil, awsapi.Errorf(awsapi.ErrCodeResourceNotFoundException, "no image recipe %s", arn)
	}
	rc := &recipe{Kind: "image", Arn: c.Arn, Name: c.Name, Version: c.Version, Description: c.Description, Platform: c.Platform,
		Owner: c.Owner, ParentImage: c.ParentImage, Created: c.DateCreated, Components: c.Components, raw: c}
	if c.WorkingDirectory != "" {
		rc.Extra = append(rc.Extra, [2]string{"Working directory", c.WorkingDirectory})
	}
	return rc, nil
}

// normalised is the recipe as indented JSON without the members every
// version differs in by construction (ARN, version, creation time), so a
// diff shows what was changed.
func (rc *recipe) normalised() string {
	b, _ := json.Marshal(rc.raw)
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"arn", "version", "dateCreated"} {
		delete(m, k)
	}
	out, _ := json.MarshalIndent(m, "", "  ") // map keys sorted
	return string(out) + "\n"
}

func (h *handler) viewRecipe(w http.ResponseWriter, r *http.Request) {
	rc, err := h.getRecipe(r, r.URL.Query().Get("arn"))
	if err != nil {
		h.showError(w, r, err)
		return
	}
	v := RecipeView{Recipe: rc}
	if other := r.URL.Query().Get("diff"); other != "" {
		o, err := h.getRecipe(r, other)
		if err != nil {
			h.showError(w, r, err)
			return
		}
		v.Other, v.Diff = o, lineDiff(o.normalised(), rc.normalised())
	}
	filter := []awsapi.Filter{{Name: "name", Values: []string{rc.Name}}}
	owner := ownerFilterFor(rc.Owner, accountOf(r))
	if rc.Kind == "container" {
		if resp, err := call[awsapi.ListContainerRecipesResponse](h, r, awsapi.OpListContainerRecipes, &awsapi.ListContainerRecipesRequest{Owner: owner, Filters: filter, MaxResults: ptr(int32(25))}); err == nil {
			for _, s := range resp.ContainerRecipeSummaryList {
				v.Versions = append(v.Versions, s.Arn)
			}
		}
	} else if resp, err := call[awsapi.ListImageRecipesResponse](h, r, awsapi.OpListImageRecipes, &awsapi.ListImageRecipesRequest{Owner: owner, Filters: filter, MaxResults: ptr(int32(25))}); err == nil {
		for _, s := range resp.ImageRecipeSummaryList {
			v.Versions = append(v.Versions, s.Arn)
		}
	}
	v.Build = h.buildChoice(r)
	h.render(w, r, http.StatusOK, "recipe.html", rc.Name+" "+rc.Version, "recipes", v)
}

// RecipeFormView is the data of recipe-new.html.
type RecipeFormView struct {
	Name, SemanticVersion, Description, ParentImage, Components, WorkingDirectory string
	ClientToken                                                                   string
	Error                                                                         *FormError
	// Choices are components the account may use, to pick from.
	Choices []awsapi.ComponentVersion
}

// newRecipe renders the empty form, or with ?from=ARN the form filled from
// that image recipe with its patch version bumped: a new version is the
// old one edited, and the recipe page then diffs the two.
func (h *handler) newRecipe(w http.ResponseWriter, r *http.Request) {
	if isContainerForm(r) {
		h.newContainerRecipe(w, r)
		return
	}
	v := RecipeFormView{ClientToken: clientToken(), Components: r.URL.Query().Get("component")}
	if from := r.URL.Query().Get("from"); from != "" {
		rc, err := h.getRecipe(r, from)
		if err != nil {
			h.showError(w, r, err)
			return
		}
		v.Name, v.Description, v.ParentImage, v.SemanticVersion = rc.Name, rc.Description, rc.ParentImage, nextPatch(rc.Version)
		v.Components = formatComponentLines(rc.Components)
		for _, e := range rc.Extra {
			if e[0] == "Working directory" {
				v.WorkingDirectory = e[1]
			}
		}
	}
	v.Choices = h.componentChoices(r)
	h.render(w, r, http.StatusOK, "recipe-new.html", "Create an image recipe", "recipes", v)
}

// componentChoices lists the account's and Amazon's components for the
// form's pick list (a datalist: any ARN can still be typed).
func (h *handler) componentChoices(r *http.Request) []awsapi.ComponentVersion {
	var out []awsapi.ComponentVersion
	for _, owner := range []string{"Self", "Amazon"} {
		if resp, err := call[awsapi.ListComponentsResponse](h, r, awsapi.OpListComponents, &awsapi.ListComponentsRequest{Owner: owner, MaxResults: ptr(int32(25))}); err == nil {
			out = append(out, resp.ComponentVersionList...)
		}
	}
	return out
}

// parseComponentLines reads the form's components, one per line in run
// order: an ARN, then optional name=value parameters separated by
// spaces (a value may hold commas for a list: name=a,b).
func parseComponentLines(text string) []awsapi.ComponentConfiguration {
	var out []awsapi.ComponentConfiguration
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		c := awsapi.ComponentConfiguration{ComponentArn: f[0]}
		for _, p := range f[1:] {
			name, value, _ := strings.Cut(p, "=")
			c.Parameters = append(c.Parameters, awsapi.ComponentParameter{Name: name, Value: strings.Split(value, ",")})
		}
		out = append(out, c)
	}
	return out
}

// formatComponentLines is parseComponentLines' inverse, for filling the
// form from a recipe.
func formatComponentLines(cs []awsapi.ComponentConfiguration) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.ComponentArn)
		for _, p := range c.Parameters {
			b.WriteString(" " + p.Name + "=" + strings.Join(p.Value, ","))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// nextPatch is version with its patch number one higher ("1.0.0" ->
// "1.0.1"); anything else is returned as it is for the user to edit.
func nextPatch(version string) string {
	parts := strings.Split(version, ".")
	if len(parts) != 3 {
		return version
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil {
		return version
	}
	return parts[0] + "." + parts[1] + "." + strconv.Itoa(n+1)
}

// createRecipe calls CreateImageRecipe with the form's fields.
func (h *handler) createRecipe(w http.ResponseWriter, r *http.Request) {
	if isContainerForm(r) {
		h.createContainerRecipe(w, r)
		return
	}
	v := RecipeFormView{
		Name: strings.TrimSpace(r.PostFormValue("name")), SemanticVersion: strings.TrimSpace(r.PostFormValue("semanticVersion")),
		Description: r.PostFormValue("description"), ParentImage: strings.TrimSpace(r.PostFormValue("parentImage")),
		Components: r.PostFormValue("components"), WorkingDirectory: strings.TrimSpace(r.PostFormValue("workingDirectory")),
		ClientToken: formToken(r.PostFormValue("clientToken")),
	}
	resp, err := call[awsapi.CreateImageRecipeResponse](h, r, awsapi.OpCreateImageRecipe, &awsapi.CreateImageRecipeRequest{
		Name: v.Name, SemanticVersion: v.SemanticVersion, Description: v.Description, ParentImage: v.ParentImage,
		Components: parseComponentLines(v.Components), WorkingDirectory: v.WorkingDirectory, ClientToken: v.ClientToken,
	})
	if err != nil {
		v.Error = formError(err, "name", "semanticVersion", "description", "parentImage", "components", "workingDirectory")
		if v.Error == nil {
			h.internal(w, r, err)
			return
		}
		v.Choices = h.componentChoices(r)
		h.render(w, r, http.StatusBadRequest, "recipe-new.html", "Create an image recipe", "recipes", v)
		return
	}
	http.Redirect(w, r, "/console/recipes/view?arn="+url.QueryEscape(resp.ImageRecipeArn), http.StatusSeeOther)
}
