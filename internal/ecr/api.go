package ecr

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/oci/registry"
	"github.com/kiln-build/kiln/internal/sigv4"
)

// TargetPrefix starts the X-Amz-Target header of every ECR operation.
const TargetPrefix = "AmazonEC2ContainerRegistry_V20150921."

// SigningName is the SigV4 service name of ECR.
const SigningName = "ecr"

// maxBody bounds a request. The largest inputs are a repository policy
// (10,240 characters) and 100 image IDs; the body is read before its
// signature can be checked, so the bound is kept tight.
const maxBody = 64 << 10

// API serves ECR's awsJson1_1 API (POST / with X-Amz-Target) over kiln's
// registry, so `aws ecr`, boto3 and Terraform manage kiln's repositories
// as they manage ECR's.
type API struct {
	Guard    *Guard
	Registry *registry.Registry
	// Verifier checks SigV4 with the service name "ecr".
	Verifier *sigv4.Verifier
	// Principals names the IAM user behind each access key, for policies
	// that grant to a user rather than a whole account.
	Principals map[string]sigv4.Principal
	// Host is the registry's host:port, the start of every repositoryUri;
	// ProxyEndpoint is the URL GetAuthorizationToken names.
	Host          string
	ProxyEndpoint string
	Log           *slog.Logger
}

// apiError is an ECR error as awsJson1_1 renders it.
type apiError struct {
	Type    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func errorf(typ, format string, args ...any) *apiError {
	return &apiError{Type: typ, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

func invalidParameter(format string, args ...any) *apiError {
	return errorf(errCodeInvalidParameter, format, args...)
}

// caller is who signed an API request.
type caller struct {
	Identity
	AccessKeyID string
}

type operation func(ctx context.Context, c caller, body []byte) (any, error)

func (a *API) operations() map[string]operation {
	return map[string]operation{
		"CreateRepository":            a.createRepository,
		"DescribeRepositories":        a.describeRepositories,
		"DeleteRepository":            a.deleteRepository,
		"GetAuthorizationToken":       a.getAuthorizationToken,
		"SetRepositoryPolicy":         a.setRepositoryPolicy,
		"GetRepositoryPolicy":         a.getRepositoryPolicy,
		"DeleteRepositoryPolicy":      a.deleteRepositoryPolicy,
		"ListImages":                  a.listImages,
		"DescribeImages":              a.describeImages,
		"BatchGetImage":               a.batchGetImage,
		"BatchDeleteImage":            a.batchDeleteImage,
		"PutImageTagMutability":       a.putImageTagMutability,
		"TagResource":                 a.tagResource,
		"UntagResource":               a.untagResource,
		"ListTagsForResource":         a.listTagsForResource,
		"BatchCheckLayerAvailability": a.batchCheckLayerAvailability,
	}
}

// Handles reports whether r is an ECR request, for routing.
func Handles(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == "/" && strings.HasPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	w.Header().Set("x-amzn-RequestId", requestID())
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		a.fail(w, op, errorf(errCodeSerialization, "reading the request body: %v", err))
		return
	}
	if len(body) > maxBody {
		a.fail(w, op, invalidParameter("the request body exceeds %d bytes", maxBody))
		return
	}
	sc, err := a.Verifier.Verify(r, body)
	if err != nil {
		a.fail(w, op, err)
		return
	}
	c := caller{Identity: Identity{Account: sc.Account, ARN: rootARN(sc.Account)}, AccessKeyID: sc.AccessKeyID}
	if p, ok := a.Principals[sc.AccessKeyID]; ok && p.Account == sc.Account && p.Name != "" {
		c.ARN = "arn:aws:iam::" + sc.Account + ":user/" + p.Name
	}
	h := a.operations()[op]
	if h == nil {
		a.fail(w, op, errorf(errCodeUnknownOperation, "kiln's ECR does not support the operation %q", op))
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	out, err := h(r.Context(), c, body)
	if err != nil {
		a.fail(w, op, err)
		return
	}
	payload, err := json.Marshal(out)
	if err != nil {
		a.fail(w, op, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusOK)
	w.Write(payload)
}

func (a *API) fail(w http.ResponseWriter, op string, err error) {
	var (
		e      *apiError
		sigErr *sigv4.Error
		regErr *registry.Error
	)
	switch {
	case errors.As(err, &e):
	case errors.As(err, &sigErr):
		e = &apiError{Type: sigErr.Code, Message: sigErr.Message, Status: sigErr.Status}
	case errors.As(err, &regErr):
		e = invalidParameter("%s", regErr.Message)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e = &apiError{Type: errCodeServer, Message: "the request was cancelled before it completed", Status: http.StatusServiceUnavailable}
	default:
		if a.Log != nil {
			a.Log.Error("ecr request failed", "op", op, "err", err)
		}
		e = &apiError{Type: errCodeServer, Message: "internal error", Status: http.StatusInternalServerError}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.Type)
	w.WriteHeader(e.Status)
	payload, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Type, e.Message})
	w.Write(payload)
}

// requestID returns a fresh UUID-shaped request ID, as AWS answers carry.
func requestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// decode reads the operation's input. Unknown members are ignored, as
// newer clients send members kiln does not know; a member of the wrong
// type is a SerializationException naming it.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errorf(errCodeSerialization, "the member %s has the wrong type (want %s)", memberPath(te.Field), te.Type)
		}
		return errorf(errCodeSerialization, "the request body is not JSON: %v", err)
	}
	return nil
}

// memberPath spells a Go field path (Filter.TagStatus) as the API's
// member names (filter.tagStatus).
func memberPath(field string) string {
	parts := strings.Split(field, ".")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToLower(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, ".")
}

// epoch is a timestamp as awsJson1_1 sends it: seconds since the epoch.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Time(t).UnixMilli())/1000, 'f', -1, 64)), nil
}

// ---- repositories

type repositoryOut struct {
	RepositoryArn              string        `json:"repositoryArn"`
	RegistryId                 string        `json:"registryId"`
	RepositoryName             string        `json:"repositoryName"`
	RepositoryUri              string        `json:"repositoryUri"`
	CreatedAt                  epoch         `json:"createdAt"`
	ImageTagMutability         string        `json:"imageTagMutability"`
	ImageScanningConfiguration scanningOut   `json:"imageScanningConfiguration"`
	EncryptionConfiguration    encryptionOut `json:"encryptionConfiguration"`
}

type scanningOut struct {
	ScanOnPush bool `json:"scanOnPush"`
}

type encryptionOut struct {
	EncryptionType string `json:"encryptionType"`
	KmsKey         string `json:"kmsKey,omitempty"`
}

func (a *API) repositoryOut(r Repository) repositoryOut {
	return repositoryOut{
		RepositoryArn: r.ARN(a.Guard.Repos.Region), RegistryId: r.Account, RepositoryName: r.Name,
		RepositoryUri: a.Host + "/" + r.Name, CreatedAt: epoch(r.Created), ImageTagMutability: r.Mutability,
		ImageScanningConfiguration: scanningOut{r.ScanOnPush},
		EncryptionConfiguration:    encryptionOut{r.Encryption, r.KMSKey},
	}
}

type tag struct {
	Key   *string `json:"Key"`
	Value *string `json:"Value"`
}

// checkName validates a repositoryName member.
func checkName(name, member string) error {
	if name == "" {
		return invalidParameter("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must not be null", member)
	}
	if !ValidRepositoryName(name) {
		return invalidParameter("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: (?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)* and have a length between 2 and 256", name, member)
	}
	return nil
}

func checkRegistryID(id string) error {
	if id != "" && !isAccountID(id) {
		return invalidParameter("1 validation error detected: Value '%s' at 'registryId' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9]{12}", id)
	}
	return nil
}

func checkMutability(m string) error {
	if m != Mutable && m != Immutable {
		return invalidParameter("1 validation error detected: Value '%s' at 'imageTagMutability' failed to satisfy constraint: Member must satisfy enum value set: [MUTABLE, IMMUTABLE]", m)
	}
	return nil
}

// checkTags validates tags as ECR does: 1-128 character keys, values up
// to 256, at most 50, no aws: prefix.
func checkTags(tags []tag) (map[string]string, error) {
	out := map[string]string{}
	for i, t := range tags {
		if t.Key == nil || *t.Key == "" || len(*t.Key) > 128 {
			return nil, errorf(errCodeInvalidTagParameter, "tags[%d].Key must be 1 to 128 characters", i)
		}
		if strings.HasPrefix(strings.ToLower(*t.Key), "aws:") {
			return nil, errorf(errCodeInvalidTagParameter, "tags[%d].Key: the aws: prefix is reserved", i)
		}
		v := ""
		if t.Value != nil {
			v = *t.Value
		}
		if len(v) > 256 {
			return nil, errorf(errCodeInvalidTagParameter, "tags[%d].Value must be at most 256 characters", i)
		}
		out[*t.Key] = v
	}
	return out, nil
}

func notFound(name, account string) *apiError {
	return errorf(errCodeRepositoryNotFound, "The repository with name '%s' does not exist in the registry with id '%s'", name, account)
}

// repository finds the repository a request names and checks that c may
// do action on it. A repository c may not even see is reported as not
// found, so names of other accounts' repositories do not leak; one it can
// see but not act on is AccessDeniedException.
func (a *API) repository(ctx context.Context, c caller, registryID, name, action string) (Repository, error) {
	if err := checkRegistryID(registryID); err != nil {
		return Repository{}, err
	}
	if err := checkName(name, "repositoryName"); err != nil {
		return Repository{}, err
	}
	registryOf := registryID
	if registryOf == "" {
		registryOf = c.Account
	}
	if strings.HasPrefix(name, InternalPrefix) {
		return Repository{}, notFound(name, registryOf)
	}
	r, err := a.Guard.owner(ctx, name, false, "")
	if errors.Is(err, errRepoNotFound) || (err == nil && registryID != "" && r.Account != registryID) {
		return Repository{}, notFound(name, registryOf)
	}
	if err != nil {
		return Repository{}, err
	}
	if !a.Guard.Enforce || a.Guard.allowed(r, c.Identity, action) {
		return r, nil
	}
	if !a.Guard.visibleTo(r, c.Identity) {
		return Repository{}, notFound(name, registryOf)
	}
	return Repository{}, errorf(errCodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s because no resource-based policy allows the %s action", c.ARN, action, r.ARN(a.Guard.Repos.Region), action)
}

func (a *API) createRepository(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct {
		RegistryId                 string
		RepositoryName             string
		Tags                       []tag
		ImageTagMutability         string
		ImageScanningConfiguration *struct{ ScanOnPush bool }
		EncryptionConfiguration    *struct {
			EncryptionType string
			KmsKey         string
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkRegistryID(in.RegistryId); err != nil {
		return nil, err
	}
	if in.RegistryId != "" && in.RegistryId != c.Account {
		return nil, invalidParameter("registryId %s is not the caller's account: repositories are created in the caller's own registry", in.RegistryId)
	}
	if err := checkName(in.RepositoryName, "repositoryName"); err != nil {
		return nil, err
	}
	if strings.HasPrefix(in.RepositoryName, InternalPrefix) {
		return nil, invalidParameter("repositoryName %s: names under %s are kiln's own", in.RepositoryName, InternalPrefix)
	}
	r := Repository{Name: in.RepositoryName, Account: c.Account, Created: time.Now().UTC().Truncate(time.Millisecond), Mutability: Mutable, Encryption: "AES256"}
	if in.ImageTagMutability != "" {
		if err := checkMutability(in.ImageTagMutability); err != nil {
			return nil, err
		}
		r.Mutability = in.ImageTagMutability
	}
	if in.ImageScanningConfiguration != nil {
		r.ScanOnPush = in.ImageScanningConfiguration.ScanOnPush
	}
	if e := in.EncryptionConfiguration; e != nil {
		switch e.EncryptionType {
		case "AES256", "":
		case "KMS", "KMS_DSSE":
			r.Encryption, r.KMSKey = e.EncryptionType, e.KmsKey
		default:
			return nil, invalidParameter("1 validation error detected: Value '%s' at 'encryptionConfiguration.encryptionType' failed to satisfy constraint: Member must satisfy enum value set: [AES256, KMS, KMS_DSSE]", e.EncryptionType)
		}
	}
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	if len(tags) > 50 {
		return nil, errorf(errCodeTooManyTags, "a repository may have at most 50 tags")
	}
	r.Tags = tags
	exists := func() error {
		return errorf(errCodeRepositoryAlreadyExists, "The repository with name '%s' already exists in the registry with id '%s'", r.Name, c.Account)
	}
	if a.Guard.Exists != nil && a.Guard.Exists(r.Name) {
		return nil, exists()
	}
	if err := a.Guard.Repos.Create(ctx, r); errors.Is(err, errNameTaken) {
		return nil, exists()
	} else if err != nil {
		return nil, err
	}
	return map[string]any{"repository": a.repositoryOut(r)}, nil
}

func (a *API) describeRepositories(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct {
		RegistryId      string
		RepositoryNames []string
		NextToken       string
		MaxResults      *int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkRegistryID(in.RegistryId); err != nil {
		return nil, err
	}
	if len(in.RepositoryNames) > 0 {
		if in.NextToken != "" || in.MaxResults != nil {
			return nil, invalidParameter("nextToken and maxResults cannot be used with repositoryNames")
		}
		if len(in.RepositoryNames) > 100 {
			return nil, invalidParameter("1 validation error detected: Value at 'repositoryNames' failed to satisfy constraint: Member must have length less than or equal to 100")
		}
		out := []repositoryOut{}
		for _, name := range in.RepositoryNames {
			r, err := a.repository(ctx, c, in.RegistryId, name, "ecr:DescribeRepositories")
			if err != nil {
				return nil, err
			}
			out = append(out, a.repositoryOut(r))
		}
		return map[string]any{"repositories": out}, nil
	}
	account := in.RegistryId
	if account == "" {
		account = c.Account
	}
	all, err := a.Guard.Repos.List(ctx, account)
	if err != nil {
		return nil, err
	}
	var visible []repositoryOut
	for _, r := range all {
		if !a.Guard.Enforce || a.Guard.allowed(r, c.Identity, "ecr:DescribeRepositories") {
			visible = append(visible, a.repositoryOut(r))
		}
	}
	page, next, err := a.paginate(c, "DescribeRepositories", len(visible), in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"repositories": nonNil(visible[page[0]:page[1]])}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// paginate turns maxResults and nextToken into a [start, end) window of n
// items and the next token. Tokens are signed, bound to the operation and
// the caller, so they cannot be forged or replayed elsewhere.
func (a *API) paginate(c caller, op string, n int, maxResults *int, token string) ([2]int, string, error) {
	limit := 100
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 1000 {
			return [2]int{}, "", invalidParameter("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000", *maxResults)
		}
		limit = *maxResults
	}
	start := 0
	if token != "" {
		s, ok := a.readPageToken(c, op, token)
		if !ok {
			return [2]int{}, "", invalidParameter("nextToken is not a token this operation returned")
		}
		start = min(s, n)
	}
	end := min(start+limit, n)
	next := ""
	if end < n {
		next = a.pageToken(c, op, end)
	}
	return [2]int{start, end}, next, nil
}

func (a *API) pageToken(c caller, op string, offset int) string {
	payload := "page|" + op + "|" + c.Account + "|" + strconv.Itoa(offset)
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset))) + "." + a.Guard.Tokens.sign(payload)
}

func (a *API) readPageToken(c caller, op, token string) (int, bool) {
	enc, sig, ok := strings.Cut(token, ".")
	if !ok {
		return 0, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return 0, false
	}
	offset, err := strconv.Atoi(string(raw))
	if err != nil || offset < 0 {
		return 0, false
	}
	return offset, a.pageToken(c, op, offset) == token && sig != ""
}

func (a *API) deleteRepository(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct {
		RegistryId     string
		RepositoryName string
		Force          bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	r, err := a.repository(ctx, c, in.RegistryId, in.RepositoryName, "ecr:DeleteRepository")
	if err != nil {
		return nil, err
	}
	images, err := a.Registry.Images(ctx, r.Name)
	if err != nil {
		return nil, err
	}
	if len(images) > 0 && !in.Force {
		return nil, errorf(errCodeRepositoryNotEmpty, "The repository with name '%s' in registry with id '%s' cannot be deleted because it still contains images", r.Name, r.Account)
	}
	// Content first: a record without content is an empty repository, but
	// content without a record would be adopted by the default account.
	if err := a.Registry.DeleteRepository(ctx, r.Name); err != nil {
		return nil, err
	}
	if err := a.Guard.Repos.Delete(ctx, r); err != nil && !errors.Is(err, errRepoNotFound) {
		return nil, err
	}
	return map[string]any{"repository": a.repositoryOut(r)}, nil
}

func (a *API) getAuthorizationToken(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct{ RegistryIds []string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	for _, id := range in.RegistryIds {
		if err := checkRegistryID(id); err != nil {
			return nil, err
		}
	}
	token, exp := a.Guard.Tokens.Issue(Identity{Account: c.Account, ARN: c.ARN})
	return map[string]any{"authorizationData": []any{map[string]any{
		"authorizationToken": Password(token),
		"expiresAt":          epoch(exp),
		"proxyEndpoint":      a.ProxyEndpoint,
	}}}, nil
}

// ---- policies

func (a *API) setRepositoryPolicy(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct {
		RegistryId     string
		RepositoryName string
		PolicyText     string
		Force          bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.PolicyText == "" {
		return nil, invalidParameter("1 validation error detected: Value at 'policyText' failed to satisfy constraint: Member must not be null")
	}
	if len(in.PolicyText) > 10240 {
		return nil, invalidParameter("1 validation error detected: Value at 'policyText' failed to satisfy constraint: Member must have length less than or equal to 10240")
	}
	r, err := a.repository(ctx, c, in.RegistryId, in.RepositoryName, "ecr:SetRepositoryPolicy")
	if err != nil {
		return nil, err
	}
	if _, err := parsePolicy(in.PolicyText); err != nil {
		return nil, invalidParameter("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided': %v", err)
	}
	r, err = a.Guard.Repos.Update(ctx, r.Name, func(r *Repository) error {
		r.Policy = in.PolicyText
		return nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"registryId": r.Account, "repositoryName": r.Name, "policyText": r.Policy}, nil
}

func (a *API) getRepositoryPolicy(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct{ RegistryId, RepositoryName string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	r, err := a.repository(ctx, c, in.RegistryId, in.RepositoryName, "ecr:GetRepositoryPolicy")
	if err != nil {
		return nil, err
	}
	if r.Policy == "" {
		return nil, errorf(errCodeRepositoryPolicyNotFound, "Repository policy does not exist for the repository with name '%s' in the registry with id '%s'", r.Name, r.Account)
	}
	return map[string]any{"registryId": r.Account, "repositoryName": r.Name, "policyText": r.Policy}, nil
}

func (a *API) deleteRepositoryPolicy(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct{ RegistryId, RepositoryName string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	r, err := a.repository(ctx, c, in.RegistryId, in.RepositoryName, "ecr:DeleteRepositoryPolicy")
	if err != nil {
		return nil, err
	}
	if r.Policy == "" {
		return nil, errorf(errCodeRepositoryPolicyNotFound, "Repository policy does not exist for the repository with name '%s' in the registry with id '%s'", r.Name, r.Account)
	}
	old := r.Policy
	if _, err := a.Guard.Repos.Update(ctx, r.Name, func(r *Repository) error {
		r.Policy = ""
		return nil
	}); err != nil {
		return nil, err
	}
	return map[string]any{"registryId": r.Account, "repositoryName": r.Name, "policyText": old}, nil
}

func (a *API) putImageTagMutability(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct{ RegistryId, RepositoryName, ImageTagMutability string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkMutability(in.ImageTagMutability); err != nil {
		return nil, err
	}
	r, err := a.repository(ctx, c, in.RegistryId, in.RepositoryName, "ecr:PutImageTagMutability")
	if err != nil {
		return nil, err
	}
	r, err = a.Guard.Repos.Update(ctx, r.Name, func(r *Repository) error {
		r.Mutability = in.ImageTagMutability
		return nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"registryId": r.Account, "repositoryName": r.Name, "imageTagMutability": r.Mutability}, nil
}

// ---- tags

// taggedRepository resolves a resourceArn to a repository c may act on.
func (a *API) taggedRepository(ctx context.Context, c caller, resourceARN, action string) (Repository, error) {
	if resourceARN == "" {
		return Repository{}, invalidParameter("1 validation error detected: Value at 'resourceArn' failed to satisfy constraint: Member must not be null")
	}
	region, account, name, ok := parseRepositoryARN(resourceARN)
	if !ok {
		return Repository{}, invalidParameter("Invalid parameter at 'resourceArn' failed to satisfy constraint: '%s' is not an ECR repository ARN", resourceARN)
	}
	if region != a.Guard.Repos.Region {
		return Repository{}, notFound(name, account)
	}
	return a.repository(ctx, c, account, name, action)
}

func (a *API) tagResource(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct {
		ResourceArn string
		Tags        []tag
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	r, err := a.taggedRepository(ctx, c, in.ResourceArn, "ecr:TagResource")
	if err != nil {
		return nil, err
	}
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	_, err = a.Guard.Repos.Update(ctx, r.Name, func(r *Repository) error {
		merged := map[string]string{}
		for k, v := range r.Tags {
			merged[k] = v
		}
		for k, v := range tags {
			merged[k] = v
		}
		if len(merged) > 50 {
			return errorf(errCodeTooManyTags, "a repository may have at most 50 tags")
		}
		r.Tags = merged
		return nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (a *API) untagResource(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct {
		ResourceArn string
		TagKeys     []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	r, err := a.taggedRepository(ctx, c, in.ResourceArn, "ecr:UntagResource")
	if err != nil {
		return nil, err
	}
	_, err = a.Guard.Repos.Update(ctx, r.Name, func(r *Repository) error {
		for _, k := range in.TagKeys {
			delete(r.Tags, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (a *API) listTagsForResource(ctx context.Context, c caller, body []byte) (any, error) {
	var in struct{ ResourceArn string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	r, err := a.taggedRepository(ctx, c, in.ResourceArn, "ecr:ListTagsForResource")
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(r.Tags))
	for k := range r.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := []map[string]string{}
	for _, k := range keys {
		out = append(out, map[string]string{"Key": k, "Value": r.Tags[k]})
	}
	return map[string]any{"tags": out}, nil
}
