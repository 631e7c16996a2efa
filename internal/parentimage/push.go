package parentimage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/internal/progress"
)

// Kiln is the kiln server a parent image is pushed to: its registry is
// on the API's listener.
type Kiln struct {
	Endpoint    *url.URL
	Credentials aws.Credentials
	Region      string
	// Transport carries the requests (nil: http.DefaultTransport).
	Transport http.RoundTripper
	// StallTimeout ends a push that moves no byte for this long (0:
	// DefaultStallTimeout).
	StallTimeout time.Duration
}

func (k Kiln) transport() http.RoundTripper {
	if k.Transport != nil {
		return k.Transport
	}
	return http.DefaultTransport
}

// Target is repo ("parents/debian:12", or without a tag for tag)
// in k's registry, checked as an image reference.
func (k Kiln) Target(repo, tag string) (string, error) {
	if !strings.Contains(repo[strings.LastIndexByte(repo, '/')+1:], ":") {
		repo += ":" + tag
	}
	ref := k.Endpoint.Host + "/" + repo
	if _, err := name.NewTag(ref, name.StrictValidation); err != nil {
		return "", fmt.Errorf("--to %q is not a repository[:tag] for kiln's registry: %v", repo, err)
	}
	return ref, nil
}

// Login gets a registry password as `aws ecr get-login-password` does:
// GetAuthorizationToken on kiln's ECR API, signed with the caller's
// credentials, so what is pushed belongs to the caller's account and works
// under --auth strict.
func (k Kiln) Login(ctx context.Context) (*authn.Basic, error) {
	body := []byte("{}")
	u := strings.TrimRight(k.Endpoint.String(), "/") + "/"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, k.Credentials, req, hex.EncodeToString(sum[:]), "ecr", k.Region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: k.transport(), Timeout: time.Minute}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach kiln at %s: %w", k.Endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("logging in to kiln's registry (GetAuthorizationToken): %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	var out struct {
		AuthorizationData []struct {
			AuthorizationToken string `json:"authorizationToken"`
		} `json:"authorizationData"`
	}
	if err := json.Unmarshal(data, &out); err != nil || len(out.AuthorizationData) == 0 {
		return nil, fmt.Errorf("GetAuthorizationToken: an answer without authorizationData: %.200s", data)
	}
	raw, err := base64.StdEncoding.DecodeString(out.AuthorizationData[0].AuthorizationToken)
	if err != nil {
		return nil, fmt.Errorf("GetAuthorizationToken: the token is not base64: %w", err)
	}
	user, password, ok := strings.Cut(string(raw), ":")
	if !ok {
		return nil, fmt.Errorf("GetAuthorizationToken: the token is not USER:PASSWORD")
	}
	return &authn.Basic{Username: user, Password: password}, nil
}

// Push writes img to ref in k's registry with auth, showing one bar for
// the whole upload on w, and returns the manifest digest. Plain HTTP is
// used exactly when the endpoint is http://: the API's credentials already
// travel that way.
func (k Kiln) Push(ctx context.Context, img v1.Image, ref string, auth authn.Authenticator, w io.Writer, terminal bool) (string, error) {
	var opts []name.Option
	if k.Endpoint.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return "", err
	}
	limit := k.StallTimeout
	if limit <= 0 {
		limit = DefaultStallTimeout
	}
	ctx, watchdog, stop := watchStall(ctx, limit)
	defer stop()
	updates := make(chan v1.Update, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var bar *progress.Bar
		var last int64
		for u := range updates {
			if bar == nil && u.Total > 0 {
				bar = progress.New(w, terminal, "push "+ref, u.Total)
			}
			if bar != nil && u.Complete > last {
				bar.Add(u.Complete - last)
				last = u.Complete
				watchdog.Touch()
			}
		}
		if bar != nil {
			bar.Finish()
		}
	}()
	err = remote.Write(r, img, remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(k.transport()), remote.WithProgress(updates))
	<-done
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, cause(ctx, err))
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}
