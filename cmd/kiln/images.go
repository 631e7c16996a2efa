package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/parentimage"
	"github.com/kiln-build/kiln/internal/progress"
)

const imagesUsage = `usage: kiln images pull-parent [flags] NAME

Gets a first parent image for container recipes and pushes it into kiln's
registry. NAME is debian-12, ubuntu-24.04, alpine-3 or alpine-3.NN.

By default the image is the distribution's Docker Official Image on Docker
Hub (library/debian:12, library/ubuntu:24.04, library/alpine:3);
--registry HOST[/PREFIX] pulls the same path from a mirror or pull-through
cache instead. --mirror URL builds it from a distribution mirror: Alpine's
minirootfs tarball (its sha256 checked against latest-releases.yaml), or
debootstrap --variant=minbase for Debian and Ubuntu (root and Debian's
debootstrap needed).

Only the parentImage value is printed on standard output; progress and
what to do next go to standard error.

Flags:
  --registry HOST[/PREFIX]  pull from this registry instead of Docker Hub
  --mirror URL              build from a distribution mirror instead
  --insecure                allow plain HTTP to a loopback registry or mirror
  --platform OS/ARCH[/VAR]  the image's platform (default: this host's)
  --to REPO[:TAG]           where it goes in kiln's registry (default parents/NAME:TAG)
  --max-blob-mib N          refuse a layer or tarball larger than N MiB (default 2048)
  --stall-timeout D         end a transfer that receives nothing for D (default 1m)
  --endpoint URL            kiln's URL (KILN_ENDPOINT; default http://127.0.0.1:8080)
Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (any on a
loopback kiln): the image belongs to their account.`

// imagesMain is `kiln images`; pull-parent is its one verb.
func imagesMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "pull-parent" {
		fmt.Fprintln(stderr, imagesUsage)
		return 2
	}
	return pullParentMain(args[1:], stdout, stderr)
}

func pullParentMain(args []string, stdout, stderr io.Writer) int {
	fs, endpoint := clientFlags("kiln images pull-parent", imagesUsage, stderr)
	registry := fs.String("registry", "", "pull from this registry (HOST[/PREFIX]) instead of Docker Hub")
	mirror := fs.String("mirror", "", "build from this distribution mirror instead")
	insecure := fs.Bool("insecure", false, "allow plain HTTP to a loopback registry or mirror")
	platform := fs.String("platform", "", "the image's platform (default: this host's)")
	to := fs.String("to", "", "where it goes in kiln's registry")
	maxMiB := fs.Int64("max-blob-mib", parentimage.DefaultMaxBlobSize>>20, "refuse a layer or tarball larger than this many MiB")
	stall := fs.Duration("stall-timeout", parentimage.DefaultStallTimeout, "end a transfer that receives nothing for this long")
	nameArg, ok := oneArgument(fs, args)
	if !ok {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "kiln images pull-parent:", err)
		return 1
	}
	d, err := parentimage.Lookup(nameArg)
	if err != nil {
		fmt.Fprintln(stderr, "kiln images pull-parent:", err)
		return 2
	}
	if *registry != "" && *mirror != "" {
		fmt.Fprintln(stderr, "kiln images pull-parent: --registry and --mirror are two different sources; give one")
		return 2
	}
	if *maxMiB <= 0 || *stall <= 0 {
		fmt.Fprintln(stderr, "kiln images pull-parent: --max-blob-mib and --stall-timeout must be positive")
		return 2
	}
	plat, err := parentPlatform(*platform)
	if err != nil {
		fmt.Fprintln(stderr, "kiln images pull-parent:", err)
		return 2
	}
	ep, err := url.Parse(strings.TrimRight(*endpoint, "/"))
	if err != nil || ep.Host == "" || (ep.Scheme != "http" && ep.Scheme != "https") {
		fmt.Fprintf(stderr, "kiln images pull-parent: --endpoint %q is not an http(s) URL\n", *endpoint)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	kiln := parentimage.Kiln{Endpoint: ep, Credentials: envCredentials(), Region: envRegion(), StallTimeout: *stall}
	repo := *to
	if repo == "" {
		repo = d.To
	}
	target, err := kiln.Target(repo, d.Tag)
	if err != nil {
		return fail(err)
	}
	// Log in before downloading anything: wrong credentials should not
	// cost a download.
	auth, err := kiln.Login(ctx)
	if err != nil {
		return fail(err)
	}
	work, err := os.MkdirTemp("", "kiln-parent-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(work)
	terminal := progress.IsTerminal(stderr)
	f := &parentimage.Fetcher{
		Progress: stderr, Terminal: terminal, Insecure: *insecure, Platform: plat,
		MaxBlobSize: *maxMiB << 20, StallTimeout: *stall, Workdir: work,
	}
	var img v1.Image
	var from string
	switch {
	case *mirror != "" && d.Family == "alpine":
		img, from, err = f.FromAlpineMirror(ctx, d, *mirror)
	case *mirror != "":
		fmt.Fprintf(stderr, "running debootstrap --variant=minbase %s from %s\n", d.Suite, *mirror)
		img, from, err = f.FromDebootstrap(ctx, d, *mirror)
	default:
		var src string
		if src, err = parentimage.SourceReference(d, *registry); err == nil {
			fmt.Fprintf(stderr, "pulling %s for %s\n", src, plat.String())
			img, err = f.FromRegistry(ctx, src)
			from = src
		}
	}
	if err != nil {
		return fail(err)
	}
	digest, err := kiln.Push(ctx, img, target, auth, stderr, terminal)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stderr, "pushed %s@%s\n  from %s, %s\n", target, digest, from, plat.String())
	fmt.Fprintf(stderr, "Use it as a container recipe's parent image:\n"+
		"  aws imagebuilder create-container-recipe ... --parent-image %s\n"+
		"  (a Dockerfile template starts FROM {{{ imagebuilder:parentImage }}})\n"+
		"Image recipes take an AMI with a kernel, not a container image: see the README's\n"+
		"\"Building a machine image\" to import a root filesystem with ImportDiskImage.\n", target)
	fmt.Fprintln(stdout, target)
	return 0
}

// parentPlatform is --platform, or this host's platform.
func parentPlatform(s string) (v1.Platform, error) {
	if s == "" {
		p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
		if runtime.GOARCH == "arm" {
			p.Variant = "v7"
		}
		return p, nil
	}
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS != "linux" || p.Architecture == "" {
		return v1.Platform{}, errors.New("--platform " + s + " is not linux/ARCH[/VARIANT] (linux/amd64, linux/arm64)")
	}
	return *p, nil
}

// envCredentials are the caller's credentials the way signedRequest
// finds them (any on a loopback kiln).
func envCredentials() aws.Credentials {
	key, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" {
		key, secret = "kiln", "kiln"
	}
	return aws.Credentials{AccessKeyID: key, SecretAccessKey: secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
}

func envRegion() string {
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if r := os.Getenv(v); r != "" {
			return r
		}
	}
	return "us-east-1"
}
