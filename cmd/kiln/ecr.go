package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/ecr"
	"github.com/kiln-build/kiln/internal/oci/registry"
	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/sigv4"
	"github.com/kiln-build/kiln/internal/store"
)

// registryHostFor is the host:port in image URIs: --registry-host, or the
// listen address (with an unspecified address read as 127.0.0.1).
func registryHostFor(cfg serveConfig, listenAddr string) string {
	if cfg.registryHost != "" {
		return cfg.registryHost
	}
	if h, port, err := net.SplitHostPort(listenAddr); err == nil {
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			return net.JoinHostPort("127.0.0.1", port)
		}
	}
	return listenAddr
}

// wireECR makes repositories belong to accounts: the guard every registry
// request and every build push goes through, and ECR's API on the
// listener (POST / with X-Amz-Target AmazonEC2ContainerRegistry_V20150921.*,
// SigV4 service ecr). Under --auth strict the guard enforces ownership
// and the registry's password is a GetAuthorizationToken token; in the
// other modes it only records who created each repository.
func wireECR(ctx context.Context, cfg serveConfig, mode sigv4.Mode, principals map[string]sigv4.Principal, st store.Store, reg *registry.Registry, srv *server.Server, secret []byte, listenAddr string, log *slog.Logger) (*ecr.Guard, error) {
	host := registryHostFor(cfg, listenAddr)
	guard := &ecr.Guard{
		Repos:          &ecr.Repos{Store: st, Region: cfg.region},
		Tokens:         ecr.NewTokens(secret),
		Enforce:        mode == sigv4.ModeStrict,
		DefaultAccount: cfg.account,
		Exists: func(name string) bool {
			_, err := reg.Tags(name)
			return err == nil
		},
		Internal: machineImageAccess(st, reg, cfg.region),
	}
	if mode == sigv4.ModeStrict {
		known := map[string]bool{}
		for _, p := range principals {
			known[p.Account+" arn:aws:iam::"+p.Account+":user/"+p.Name] = true
			known[p.Account+" arn:aws:iam::"+p.Account+":root"] = true
		}
		guard.Current = func(id ecr.Identity) bool { return known[id.Account+" "+id.ARN] }
	}
	names, err := reg.Repositories()
	if err != nil {
		return nil, err
	}
	if err := guard.Adopt(ctx, names); err != nil {
		return nil, fmt.Errorf("recording the owners of existing repositories: %w", err)
	}
	reg.Guard, reg.TagRules = guard, guard
	if srv.Targets == nil {
		srv.Targets = map[string]http.Handler{}
	}
	scheme := "http"
	if cfg.edge.tls() {
		scheme = "https"
	}
	srv.Targets[strings.TrimSuffix(ecr.TargetPrefix, ".")] = &ecr.API{
		Guard: guard, Registry: reg,
		Verifier: &sigv4.Verifier{
			Mode: mode, Service: ecr.SigningName, Region: cfg.region,
			Principals: principals, DefaultAccount: cfg.account, MaxSkew: srv.Verifier.MaxSkew,
		},
		Principals: principals, Host: host, ProxyEndpoint: scheme + "://" + host, Log: log,
	}
	return guard, nil
}

// machineImageAccess lets an account pull from kiln's machine-image
// repository exactly the root filesystems of the AMIs it may launch:
// their manifests (by digest, or by the tag a build gave them) and the
// blobs those manifests name. Nothing else in the repository is theirs.
func machineImageAccess(st store.Store, reg *registry.Registry, home string) func(ctx context.Context, account string, a registry.Access) bool {
	return func(ctx context.Context, account string, a registry.Access) bool {
		var digests []string
		err := st.View(ctx, func(tx store.Tx) error {
			amis, err := ami.List(ctx, tx, home)
			for _, ami := range amis {
				if ami.Repository == a.Repository && ami.LaunchableBy(account) {
					digests = append(digests, ami.Digest)
				}
			}
			return err
		})
		if err != nil || len(digests) == 0 || a.Reference == "" {
			return false
		}
		if !a.Blob {
			d, err := reg.Resolve(a.Repository, a.Reference)
			return err == nil && slices.Contains(digests, d)
		}
		for _, d := range digests {
			m, err := reg.GetManifest(ctx, a.Repository, d)
			if err != nil {
				continue
			}
			var shape struct {
				Config struct{ Digest string }   `json:"config"`
				Layers []struct{ Digest string } `json:"layers"`
			}
			if json.Unmarshal(m.Body, &shape) != nil {
				continue
			}
			if shape.Config.Digest == a.Reference || slices.ContainsFunc(shape.Layers, func(l struct{ Digest string }) bool { return l.Digest == a.Reference }) {
				return true
			}
		}
		return false
	}
}

// tokenKeychain logs kiln's engine into its own registry with a fresh
// token for id (an image's owner, or kiln itself) and leaves every other
// registry anonymous.
type tokenKeychain struct {
	host   string
	tokens *ecr.Tokens
	id     ecr.Identity
}

func (k tokenKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() != k.host {
		return authn.Anonymous, nil
	}
	token, _ := k.tokens.Issue(k.id)
	return &authn.Basic{Username: "AWS", Password: token}, nil
}
