// Package registrymap sends container distributions to OCI registries
// other than kiln's own. The operator maps a distribution region's ECR to
// a registry (kiln serve --registry-for REGION=HOST[/PREFIX]); a container
// distribution to that region then pushes HOST/PREFIX/REPOSITORY:TAG
// there — Harbor, GitLab's registry, distribution's — instead of into
// kiln's registry.
//
// A mapping is server-wide: every account's distributions to the region
// use it, with the credentials of kiln's own Docker config. Who may push
// which repository is therefore decided by kiln, not by the registry:
// repository names are one namespace across kiln's registry and every
// mapped one, so an account may push REPOSITORY to a mapped registry
// exactly when it may push REPOSITORY to kiln's (see the container
// executor, which asks kiln's ECR rules before every push).
//
// Credentials come from kiln serve's Docker config as crane reads it
// (go-containerregistry's default keychain): $DOCKER_CONFIG/config.json
// when DOCKER_CONFIG is set, else ~/.docker/config.json, with "auths"
// entries (base64 "auth" or username and password) and
// "credHelpers"/"credsStore", which run docker-credential-NAME get with
// kiln's environment; without either file, podman's auth.json
// ($REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json) as skopeo
// reads it. The file is read at every push, so credentials can be
// rotated without a restart.
//
// TLS is verified against the system's roots plus the operator's
// --registry-ca; a host listed with --insecure-registry may be reached
// over plain HTTP or unverified TLS. Connections go through kiln's
// guarded fetcher with its timeouts: the mapped hosts are dialled because
// the operator named them, while anything else a registry sends kiln to
// (a token service, a blob store it redirects to) is checked like any
// fetch.
package registrymap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/fetch"
	"github.com/kiln-build/kiln/internal/oci"
)

// Target is where one region's container distributions go.
type Target struct {
	Region string
	// Host is the registry's "host" or "host:port".
	Host string
	// Prefix is put before every repository name ("" for none).
	Prefix string
}

// Repository is the repository of the target that repo (an Image Builder
// targetRepository.repositoryName) names.
func (t Target) Repository(repo string) string {
	if t.Prefix == "" {
		return t.Host + "/" + repo
	}
	return t.Host + "/" + t.Prefix + "/" + repo
}

func (t Target) String() string {
	if t.Prefix == "" {
		return t.Region + "=" + t.Host
	}
	return t.Region + "=" + t.Host + "/" + t.Prefix
}

// pathComponent is one component of a repository path, as the OCI
// distribution specification allows it.
var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)

// hostName is a DNS name or an IPv4 address.
var hostName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

// ParseTarget parses one --registry-for value, REGION=HOST[/PREFIX]:
// HOST is a name or address with an optional port (an IPv6 address in
// brackets), PREFIX one or more repository path components.
func ParseTarget(v string) (Target, error) {
	region, rest, ok := strings.Cut(v, "=")
	if !ok {
		return Target{}, fmt.Errorf("%q: want REGION=HOST[/PREFIX]", v)
	}
	if !arn.ValidRegion(region) {
		return Target{}, fmt.Errorf("%q: the region %q is not a region name like us-west-2", v, region)
	}
	if strings.Contains(rest, "://") {
		return Target{}, fmt.Errorf("%q: give the registry as HOST[:PORT][/PREFIX], without a scheme (--insecure-registry allows plain HTTP)", v)
	}
	host, prefix, slash := strings.Cut(rest, "/")
	if err := checkHost(host); err != nil {
		return Target{}, fmt.Errorf("%q: the registry host %q %v", v, host, err)
	}
	if slash {
		for _, c := range strings.Split(prefix, "/") {
			if !pathComponent.MatchString(c) {
				return Target{}, fmt.Errorf("%q: the prefix %q has the path component %q; components are lowercase letters and digits separated by '.', '_', '__' or '-'", v, prefix, c)
			}
		}
	}
	if len(host)+1+len(prefix) > 255 {
		return Target{}, fmt.Errorf("%q: longer than a repository name may be", v)
	}
	return Target{Region: region, Host: host, Prefix: prefix}, nil
}

func checkHost(host string) error {
	if host == "" {
		return errors.New("is empty")
	}
	h := host
	if strings.HasPrefix(host, "[") || strings.Count(host, ":") == 1 {
		var port string
		var err error
		h, port, err = net.SplitHostPort(host)
		if err != nil {
			return errors.New("is not HOST or HOST:PORT")
		}
		if n, err := parsePort(port); err != nil || n == 0 {
			return errors.New("has no valid port")
		}
		if strings.HasPrefix(host, "[") {
			if ip := net.ParseIP(h); ip == nil || ip.To4() != nil {
				return errors.New("has brackets around something that is not an IPv6 address")
			}
			return nil
		}
	}
	if !hostName.MatchString(h) || len(h) > 253 {
		return errors.New("is not a host name or address")
	}
	// Image references read a first component without a dot or a port
	// as a Docker Hub path, not a host.
	if !strings.ContainsAny(host, ".:") && host != "localhost" {
		return errors.New("has neither a dot nor a port, so image references would read it as a Docker Hub path; add the port (HOST:443)")
	}
	return nil
}

func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 {
		return 0, errors.New("bad port")
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("bad port")
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, errors.New("bad port")
	}
	return n, nil
}

// Config is what the operator gave kiln serve.
type Config struct {
	// Targets are the --registry-for values.
	Targets []string
	// Insecure are the --insecure-registry hosts: a mapped host among
	// them may be reached over plain HTTP or unverified TLS.
	Insecure []string
	// CAFile is --registry-ca: PEM certificates trusted besides the
	// system's roots.
	CAFile string
	// Fetch is kiln's guarded fetcher (its policy, its timeouts).
	Fetch *fetch.Client
	// Keychain gives credentials per registry (nil: the Docker config,
	// authn.DefaultKeychain).
	Keychain authn.Keychain
}

// Registries are the mapped registries.
type Registries struct {
	targets map[string]Target
	opts    oci.Options
	// insecure are the mapped hosts with --insecure-registry.
	insecure []string
	hasCA    bool
}

// New checks cfg and returns the mapped registries; nil, nil when none
// are mapped.
func New(cfg Config) (*Registries, error) {
	if len(cfg.Targets) == 0 {
		if cfg.CAFile != "" {
			return nil, errors.New("--registry-ca is given but no --registry-for maps a region to a registry")
		}
		return nil, nil
	}
	r := &Registries{targets: map[string]Target{}}
	var hosts []string
	for _, v := range cfg.Targets {
		t, err := ParseTarget(v)
		if err != nil {
			return nil, fmt.Errorf("--registry-for %w", err)
		}
		if prev, dup := r.targets[t.Region]; dup {
			return nil, fmt.Errorf("--registry-for %s: the region %s is already mapped to %s", v, t.Region, prev.Host)
		}
		r.targets[t.Region] = t
		if !slices.Contains(hosts, t.Host) {
			hosts = append(hosts, t.Host)
		}
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--registry-ca: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--registry-ca %s: no PEM certificate in the file", cfg.CAFile)
		}
		r.hasCA = true
	}
	var insecure []string
	for _, h := range hosts {
		if listed(cfg.Insecure, h) {
			insecure = append(insecure, h)
		}
	}
	r.insecure = insecure
	base := cfg.Fetch
	if base == nil {
		base = &fetch.Client{}
	}
	verified := tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	// Anything the registries send kiln elsewhere: policy-checked.
	other := *base
	other.Trusted, other.TLS = nil, &verified
	rt := &router{other: other.HTTPClient().Transport, hosts: map[string]http.RoundTripper{}}
	for _, h := range hosts {
		c := *base
		c.Trusted = dialAddrs(h)
		c.TLS = &verified
		if slices.Contains(insecure, h) {
			c.TLS = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} //nolint:gosec // the operator listed the host as insecure
		}
		t := c.HTTPClient().Transport
		for _, a := range c.Trusted {
			rt.hosts[a] = t
		}
	}
	keychain := cfg.Keychain
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	r.opts = oci.Options{Insecure: insecure, PlainHTTPOnlyListed: true, Auth: keychain, Transport: rt}
	return r, nil
}

// listed reports whether host ("host" or "host:port") is among the
// --insecure-registry values, which may or may not carry the port.
func listed(values []string, host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	return slices.Contains(values, host) || slices.Contains(values, h)
}

// dialAddrs are the host:port addresses a registry host is dialled at.
func dialAddrs(host string) []string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return []string{host}
	}
	return []string{net.JoinHostPort(host, "443"), net.JoinHostPort(host, "80")}
}

// router sends a request to a mapped host through that host's transport
// and every other request through the guarded one.
type router struct {
	hosts map[string]http.RoundTripper
	other http.RoundTripper
}

func (r *router) RoundTrip(req *http.Request) (*http.Response, error) {
	addr := req.URL.Host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		port := "443"
		if req.URL.Scheme == "http" {
			port = "80"
		}
		addr = net.JoinHostPort(req.URL.Hostname(), port)
	}
	if t, ok := r.hosts[addr]; ok {
		return t.RoundTrip(req)
	}
	return r.other.RoundTrip(req)
}

// For returns the registry region's distributions go to, if it is mapped.
func (r *Registries) For(region string) (Target, bool) {
	if r == nil {
		return Target{}, false
	}
	t, ok := r.targets[region]
	return t, ok
}

// Targets are the mappings, by region, for the start-up log.
func (r *Registries) Targets() []Target {
	if r == nil {
		return nil
	}
	var out []Target
	for _, t := range r.targets {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Target) int { return strings.Compare(a.Region, b.Region) })
	return out
}

// Push writes img to t's repository for repo under every tag and returns
// the image URIs and the manifest digest. Blobs the registry has are not
// sent again, so the tags after the first cost a manifest each.
func (r *Registries) Push(ctx context.Context, t Target, repo string, tags []string, img v1.Image) (uris []string, digest string, err error) {
	for _, tag := range tags {
		ref := t.Repository(repo) + ":" + tag
		d, err := oci.Push(ctx, img, ref, r.opts)
		if err != nil {
			return uris, "", errors.New(r.describe(t, "pushing "+ref, err))
		}
		digest = d
		uris = append(uris, ref)
	}
	return uris, digest, nil
}

// CheckPush checks that kiln's credentials may push to t's repository
// for repo, before a build runs: a wrong password, a missing CA or a
// registry that is down fails the build in seconds, not after it.
func (r *Registries) CheckPush(t Target, repo string) error {
	ref := t.Repository(repo) + ":kiln-push-check"
	if err := oci.CheckPush(ref, r.opts); err != nil {
		return errors.New(r.describe(t, "checking a push to "+t.Repository(repo), err))
	}
	return nil
}

// describe says why a push failed in words the image's owner and the
// operator can act on: the certificate, the credentials, or the
// registry's own answer.
func (r *Registries) describe(t Target, what string, err error) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		terr     *transport.Error
		fe       *fetch.Error
	)
	switch {
	case errors.As(err, &unknown), errors.As(err, &verify) && errors.As(verify.Err, &unknown):
		fix := "give its CA to kiln serve with --registry-ca FILE"
		if r.hasCA {
			fix = "the --registry-ca file does not hold the CA that signed it"
		}
		return fmt.Sprintf("%s: the registry %s presented a TLS certificate kiln does not trust (signed by an unknown authority); %s, or list the host with --insecure-registry", what, t.Host, fix)
	case errors.As(err, &hostname):
		return fmt.Sprintf("%s: the registry %s presented a TLS certificate for another name (%v)", what, t.Host, hostname.Error())
	case errors.As(err, &invalid):
		return fmt.Sprintf("%s: the registry %s presented an invalid TLS certificate (%v)", what, t.Host, invalid.Error())
	case errors.As(err, &terr):
		switch terr.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Sprintf("%s: the registry %s refused kiln's credentials (HTTP 401%s); the operator gives them in kiln's Docker config ($DOCKER_CONFIG/config.json or ~/.docker/config.json: auths or credHelpers)", what, t.Host, codes(terr))
		case http.StatusForbidden:
			return fmt.Sprintf("%s: the registry %s denied the push to kiln's credentials (HTTP 403%s)", what, t.Host, codes(terr))
		}
		return fmt.Sprintf("%s: the registry %s answered HTTP %d%s", what, t.Host, terr.StatusCode, codes(terr))
	case errors.As(err, &fe):
		return fmt.Sprintf("%s: %v", what, fe)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return fmt.Sprintf("%s: the registry %s could not be reached (%v)", what, t.Host, oe.Err)
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Sprintf("%s: the registry %s speaks plain HTTP; list it with --insecure-registry to allow that", what, t.Host)
	}
	return fmt.Sprintf("%s: %v", what, err)
}

// codes are the registry's error codes, e.g. " UNAUTHORIZED".
func codes(e *transport.Error) string {
	var out []string
	for _, d := range e.Errors {
		if d.Code != "" && !slices.Contains(out, string(d.Code)) {
			out = append(out, string(d.Code))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " " + strings.Join(out, ", ")
}
