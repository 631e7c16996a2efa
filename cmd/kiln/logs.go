package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kiln-build/kiln/internal/kilnapi"
)

const logsUsage = `usage: kiln logs [--endpoint URL] [--follow] IMAGE-BUILD-VERSION-ARN

Prints the logs of an image build: every step of every workflow, in the
order they ran. --follow keeps printing until the build ends.
Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (any on a
loopback kiln); the endpoint from --endpoint or KILN_ENDPOINT.`

// logsMain is `kiln logs`.
func logsMain(args []string, stdout, stderr io.Writer) int {
	fs, endpoint := clientFlags("kiln logs", logsUsage, stderr)
	follow := fs.Bool("follow", false, "keep printing until the build ends")
	fs.BoolVar(follow, "f", false, "short for --follow")
	arg, ok := oneArgument(fs, args)
	if !ok {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	q := url.Values{"imageBuildVersionArn": {arg}}
	if *follow {
		q.Set("follow", "true")
	}
	resp, err := kilnCall(ctx, http.MethodGet, strings.TrimRight(*endpoint, "/")+kilnapi.LogsPath+"?"+q.Encode())
	if err != nil {
		// kiln's message may quote what the caller sent; escape it too.
		safe := &termSafeWriter{w: stderr}
		fmt.Fprintln(safe, "kiln logs:", err)
		safe.Close()
		return 1
	}
	defer resp.Body.Close()
	// A component's output is untrusted: see termSafeWriter.
	out := &termSafeWriter{w: stdout}
	_, err = io.Copy(out, resp.Body)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(stderr, "kiln logs:", err)
		return 1
	}
	return 0
}

// clientFlags is the flag set of a kiln subcommand that calls a kiln
// server (name is how the user typed it): its usage goes to stderr, and it
// has the --endpoint flag every such subcommand has.
func clientFlags(name, usage string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, usage) }
	return fs, fs.String("endpoint", defaultEndpoint(), "kiln's URL (KILN_ENDPOINT)")
}

// oneArgument parses args, flags before or after the positional
// argument, and returns the one argument; false, after the usage when
// the fault is the count, when there is not exactly one.
func oneArgument(fs *flag.FlagSet, args []string) (string, bool) {
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return "", false
	}
	if len(rest) != 1 {
		fs.Usage()
		return "", false
	}
	return rest[0], true
}

// parseInterleaved parses flags that may come before or after the
// positional arguments (`kiln logs ARN --follow`), up to a "--".
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		if args[0] == "--" {
			return append(rest, args...), nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

func defaultEndpoint() string {
	if e := os.Getenv("KILN_ENDPOINT"); e != "" {
		return e
	}
	return "http://127.0.0.1:8080"
}

// kilnCall sends a signed request to kiln and returns the response when
// kiln answered 200; any other answer becomes an error carrying kiln's
// message.
func kilnCall(ctx context.Context, method, u string) (*http.Response, error) {
	resp, err := signedRequest(ctx, method, u)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

// signedRequest sends a body-less request signed with SigV4 for service
// imagebuilder, with the environment's credentials (kiln on loopback
// accepts any).
func signedRequest(ctx context.Context, method, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	key, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" {
		key, secret = "kiln", "kiln"
	}
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	if region == "" {
		region = "us-east-1"
	}
	empty := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(empty[:]), "imagebuilder", region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return nil, fmt.Errorf("cannot reach kiln at %s: %w", u, uerr.Err)
		}
	}
	return resp, err
}
