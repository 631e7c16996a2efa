package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/ecr"
	"github.com/kiln-build/kiln/internal/oci/registry"
)

// registerRegistry adds the registry pages: the account's repositories,
// and one repository's tags and sizes.
func (h *handler) registerRegistry(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/registry", h.listRepositories)
	mux.HandleFunc("GET /console/registry/repo", h.viewRepository)
}

// RegistrySource is kiln's embedded registry with the ECR guard that
// decides who sees which repository. The console lists what ECR's
// DescribeRepositories lists for the account (the repositories it owns)
// and shows any repository the guard lets the account see (its own, and
// others' whose policy grants it), never kiln's internal ones.
type RegistrySource struct {
	Guard    *ecr.Guard
	Registry *registry.Registry
	// Host is the registry's host:port in image references.
	Host string
}

// Repository is one registry repository as the console shows it.
type Repository struct {
	Name       string
	Account    string
	Mutability string
	Created    time.Time
	Images     []RepoImage
	Size       int64 // of all images, counting shared layers once per image
}

// RepoImage is one manifest of a repository with its tags.
type RepoImage struct {
	Digest    string
	Tags      []string
	MediaType string
	Size      int64 // the layers' compressed bytes, as ECR reports imageSizeInBytes
	Pushed    time.Time
}

// repositories lists the repositories account owns, with their images.
func (s *RegistrySource) repositories(ctx context.Context, account string) ([]Repository, error) {
	repos, err := s.Guard.Repos.List(ctx, account)
	if err != nil {
		return nil, err
	}
	var out []Repository
	for _, r := range repos {
		if strings.HasPrefix(r.Name, ecr.InternalPrefix) {
			continue
		}
		repo, err := s.describe(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, repo)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

var errNoRepository = errors.New("no such repository")

// repository is one repository the account may see; errNoRepository for
// one it may not, exactly as for one that does not exist.
func (s *RegistrySource) repository(ctx context.Context, account, name string) (Repository, error) {
	if strings.HasPrefix(name, ecr.InternalPrefix) || !ecr.ValidRepositoryName(name) {
		return Repository{}, errNoRepository
	}
	r, err := s.Guard.Repos.Get(ctx, name)
	if err != nil {
		return Repository{}, errNoRepository
	}
	caller := registry.Caller{Account: account, ARN: "arn:aws:iam::" + account + ":root"}
	if r.Account != account && (!s.Guard.Enforce || !s.Guard.Visible(ctx, caller, name)) {
		// Without enforcement (loopback and open modes) there is one
		// account in practice; still, a repository recorded for another
		// account is not listed as this one's.
		return Repository{}, errNoRepository
	}
	return s.describe(ctx, r)
}

func (s *RegistrySource) describe(ctx context.Context, r ecr.Repository) (Repository, error) {
	repo := Repository{Name: r.Name, Account: r.Account, Mutability: r.Mutability, Created: r.Created}
	images, err := s.Registry.Images(ctx, r.Name)
	if err != nil {
		return repo, err
	}
	for _, im := range images {
		size := manifestSize(im.Body)
		repo.Images = append(repo.Images, RepoImage{Digest: im.Digest, Tags: im.Tags, MediaType: im.MediaType, Size: size, Pushed: im.Pushed})
		repo.Size += size
	}
	sort.SliceStable(repo.Images, func(i, j int) bool { return repo.Images[i].Pushed.After(repo.Images[j].Pushed) })
	return repo, nil
}

// manifestSize sums a manifest's layer sizes (0 for an index, whose
// platforms are images of their own).
func manifestSize(body []byte) int64 {
	var m struct {
		Layers []struct {
			Size int64 `json:"size"`
		} `json:"layers"`
	}
	if json.Unmarshal(body, &m) != nil {
		return 0
	}
	var n int64
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// RegistryView is the data of registry.html and registry-repo.html.
type RegistryView struct {
	Host         string
	Repositories []Repository
	Repository   *Repository
}

func (h *handler) listRepositories(w http.ResponseWriter, r *http.Request) {
	v := RegistryView{}
	if h.Registry != nil {
		v.Host = h.Registry.Host
		repos, err := h.Registry.repositories(r.Context(), accountOf(r))
		if err != nil {
			h.internal(w, r, err)
			return
		}
		v.Repositories = repos
	}
	h.render(w, r, http.StatusOK, "registry.html", "Registry", "registry", v)
}

func (h *handler) viewRepository(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if h.Registry == nil {
		h.notFound(w, r, "This kiln serves no registry.")
		return
	}
	repo, err := h.Registry.repository(r.Context(), accountOf(r), name)
	if errors.Is(err, errNoRepository) {
		h.notFound(w, r, "The repository "+name+" does not exist in the registry of account "+accountOf(r)+".")
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "registry-repo.html", repo.Name, "registry", RegistryView{Host: h.Registry.Host, Repository: &repo})
}
