package registry

import (
	"context"
	"net/http"
)

// Action is what an HTTP request asks to do with one repository.
type Action string

// The actions a Guard is asked about. They map one to one onto ECR's
// IAM actions (see package ecr): pull is ecr:BatchGetImage and
// ecr:GetDownloadUrlForLayer, push the upload actions and ecr:PutImage,
// list ecr:ListImages, delete ecr:BatchDeleteImage.
const (
	ActionPull   Action = "pull"
	ActionPush   Action = "push"
	ActionList   Action = "list"
	ActionDelete Action = "delete"
)

// Access is one authorisation question: may the caller do Action on
// Repository? Reference is the manifest's tag or digest, or the blob's
// digest, when the request names one (Blob says which); it lets a guard
// grant less than a whole repository, as kiln does for its internal
// machine-image repository.
type Access struct {
	Repository string
	Action     Action
	Reference  string
	Blob       bool
	// Head marks a request that only asks whether the content exists
	// (HEAD), which pushers ask too before uploading.
	Head bool
}

// Caller is who an HTTP request acts as, as the Guard authenticated it.
type Caller struct {
	Account string // 12 digits
	// ARN names the principal inside the account, for policies that grant
	// to one user rather than the whole account.
	ARN string
	// Kiln marks kiln's own engine, which may reach kiln's internal
	// repositories.
	Kiln bool
}

// Guard authenticates and authorises every HTTP request, per repository
// and action. The Go methods do not consult it: in-process callers (the
// build engine) authorise themselves before they call them.
type Guard interface {
	// Authenticate returns who sent req. An error (any error) answers 401
	// with a Basic challenge, which is what makes docker, skopeo and
	// crane send credentials.
	Authenticate(req *http.Request) (Caller, error)
	// Authorize returns nil when c may do a, and otherwise the error the
	// client gets (ErrDenied, ErrNameUnknown, ...). For a push to a
	// repository nobody owns yet it may create the repository for c
	// first, as ECR's create-on-push does.
	Authorize(ctx context.Context, c Caller, a Access) error
	// Visible reports whether c may see repo in /v2/_catalog.
	Visible(ctx context.Context, c Caller, repo string) bool
}

// TagPolicy says whether a repository's tags may be moved once set.
type TagPolicy interface {
	// Immutable reports whether tags of repo refuse to be overwritten.
	Immutable(ctx context.Context, repo string) bool
}

// authorize asks the guard about the request's route. A cross-repository
// mount needs pull on the source as well as push on the target; when the
// source is refused the mount silently becomes an ordinary upload (the
// spec's fallback), so the answer does not even say the blob exists.
func (r *Registry) authorize(req *http.Request, c Caller, rt route) error {
	if r.Guard == nil {
		return nil
	}
	a := Access{Repository: rt.name, Head: req.Method == http.MethodHead}
	switch rt.kind {
	case "base":
		return nil
	case "catalog":
		return nil // filtered per repository by Visible
	case "tags":
		a.Action = ActionList
	case "referrers":
		a.Action, a.Reference = ActionPull, rt.ref
	case "manifest":
		a.Reference = rt.ref
		switch req.Method {
		case http.MethodPut:
			a.Action = ActionPush
		case http.MethodDelete:
			a.Action = ActionDelete
		default:
			a.Action = ActionPull
		}
	case "blob":
		a.Reference, a.Blob = rt.ref, true
		if req.Method == http.MethodDelete {
			a.Action = ActionDelete
		} else {
			a.Action = ActionPull
		}
	case "uploads", "upload":
		a.Action = ActionPush
	default:
		return nil
	}
	return r.Guard.Authorize(req.Context(), c, a)
}

// mountAllowed reports whether c may read digest from repository from.
func (r *Registry) mountAllowed(req *http.Request, from, digest string) bool {
	if r.Guard == nil {
		return true
	}
	c, _ := callerFrom(req.Context())
	return r.Guard.Authorize(req.Context(), c, Access{Repository: from, Action: ActionPull, Reference: digest, Blob: true}) == nil
}

type callerKey struct{}

func withCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

func callerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// challenge answers 401 with the Basic challenge.
func challenge(w http.ResponseWriter, req *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="kiln"`)
	writeError(w, req, errorf(ErrUnauthorized, "%s", msg))
}
