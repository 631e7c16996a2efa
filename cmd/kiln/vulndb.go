package main

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/kilnapi"
	"github.com/kiln-build/kiln/internal/sigv4"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/vulndb"
)

// vulndbServeConfig is kiln serve's vulnerability database flags.
type vulndbServeConfig struct {
	operators accountList
	maxUpload int64
}

// defaultVulnDBMaxUpload fits the largest OSV ecosystem archives (Ubuntu's
// all.zip is a few hundred megabytes) with room to grow.
const defaultVulnDBMaxUpload = 2 << 30

func (c *vulndbServeConfig) flags(fs *flag.FlagSet) {
	fs.Var(&c.operators, "operator-account", "account that may import into the server-wide vulnerability database (kiln vulndb import); repeatable; default: the --account in loopback and open modes, nobody under --auth strict (KILN_OPERATOR_ACCOUNT)")
	fs.Int64Var(&c.maxUpload, "vulndb-max-upload", defaultVulnDBMaxUpload, "largest file, in bytes, kiln vulndb import may upload (KILN_VULNDB_MAX_UPLOAD)")
}

// accountList is a repeatable flag of 12-digit account IDs.
type accountList []string

func (l *accountList) String() string { return strings.Join(*l, ",") }
func (l *accountList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !arn.ValidAccountID(s) {
			return fmt.Errorf("%q is not a 12-digit account ID", s)
		}
		*l = append(*l, s)
	}
	return nil
}

// vulndbEndpoints is the configuration of kilnapi's vulnerability
// database endpoints: the database in st, and who its operators are. Under
// --auth strict nobody is an operator unless named, since every signed
// caller there is a tenant; in the other modes every caller is trusted
// anyway, and the --account is the operator.
func vulndbEndpoints(cfg serveConfig, st store.Store, mode sigv4.Mode) (*kilnapi.VulnDBConfig, error) {
	db, err := vulndb.Open(st)
	if err != nil {
		return nil, err
	}
	if cfg.vulndb.maxUpload <= 0 {
		return nil, fmt.Errorf("--vulndb-max-upload must be positive, not %d", cfg.vulndb.maxUpload)
	}
	spool := filepath.Join(cfg.dataDir, "tmp")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, err
	}
	// Uploads and archives spooled by a kiln that was killed mid-import.
	stale, _ := filepath.Glob(filepath.Join(spool, "kiln-vulndb-*"))
	for _, f := range stale {
		os.Remove(f)
	}
	db.TempDir = spool
	operators := slices.Clone([]string(cfg.vulndb.operators))
	if len(operators) == 0 && mode != sigv4.ModeStrict {
		operators = []string{cfg.account}
	}
	return &kilnapi.VulnDBConfig{
		DB:        db,
		Operator:  func(account string) bool { return slices.Contains(operators, account) },
		MaxUpload: cfg.vulndb.maxUpload,
		SpoolDir:  spool,
	}, nil
}

const vulndbUsage = `usage: kiln vulndb import [--endpoint URL] FILE|DIR...
       kiln vulndb status [--endpoint URL] [--json]

import loads OSV vulnerability records into kiln's offline database: a
.json record, a .zip archive of them (OSV's per-ecosystem all.zip, e.g.
Debian/all.zip), or a directory, whose .zip files are sent one by one and
whose .json files (at any depth) are sent packed into one archive. A
record replaces the stored one with its id only when its "modified" time
is newer. Only an operator account may import (kiln serve
--operator-account).

status prints each ecosystem's record count and newest modified time.

Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (any on a
loopback kiln); the endpoint from --endpoint or KILN_ENDPOINT.`

// vulndbMain is `kiln vulndb`.
func vulndbMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "import" && args[0] != "status") {
		fmt.Fprintln(stderr, vulndbUsage)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet("kiln vulndb "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, vulndbUsage) }
	endpoint := fs.String("endpoint", defaultEndpoint(), "kiln's URL (KILN_ENDPOINT)")
	asJSON := fs.Bool("json", false, "status: print JSON")
	rest, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return 2
	}
	base := strings.TrimRight(*endpoint, "/")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	safe := &termSafeWriter{w: stderr}
	defer safe.Close()
	if verb == "status" {
		if len(rest) != 0 {
			fs.Usage()
			return 2
		}
		if err := vulndbStatus(ctx, base, stdout, *asJSON); err != nil {
			fmt.Fprintln(safe, "kiln vulndb status:", err)
			return 1
		}
		return 0
	}
	if len(rest) == 0 {
		fs.Usage()
		return 2
	}
	for _, arg := range rest {
		if err := vulndbImportPath(ctx, base, arg, stdout); err != nil {
			fmt.Fprintln(safe, "kiln vulndb import:", err)
			return 1
		}
	}
	return 0
}

// vulndbImportPath imports a file, or a directory's files.
func vulndbImportPath(ctx context.Context, base, path string, stdout io.Writer) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return vulndbUpload(ctx, base, path, filepath.Base(path), stdout)
	}
	var zips, records []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".zip":
			zips = append(zips, p)
		case ".json":
			records = append(records, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(zips) == 0 && len(records) == 0 {
		return fmt.Errorf("%s holds no .json or .zip files", path)
	}
	for _, z := range zips {
		if err := vulndbUpload(ctx, base, z, filepath.Base(z), stdout); err != nil {
			return err
		}
	}
	if len(records) == 0 {
		return nil
	}
	// Thousands of one-record requests would each be a transaction; one
	// archive is a few hundred.
	packed, err := packRecords(path, records)
	if err != nil {
		return err
	}
	defer os.Remove(packed)
	return vulndbUpload(ctx, base, packed, filepath.Base(filepath.Clean(path))+".zip", stdout)
}

// packRecords writes the .json files into a temporary zip archive, named
// by their paths below dir, and returns its path.
func packRecords(dir string, files []string) (string, error) {
	tmp, err := os.CreateTemp("", "kiln-vulndb-*.zip")
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", err
	}
	zw := zip.NewWriter(tmp)
	for _, f := range files {
		rel, err := filepath.Rel(dir, f)
		if err != nil {
			return fail(err)
		}
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return fail(err)
		}
		in, err := os.Open(f)
		if err != nil {
			return fail(err)
		}
		_, err = io.Copy(w, in)
		in.Close()
		if err != nil {
			return fail(err)
		}
	}
	if err := zw.Close(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	return tmp.Name(), nil
}

// vulndbUpload sends one file, streamed: it is read once to hash it (the
// signature covers the payload's SHA-256) and once as the body.
func vulndbUpload(ctx context.Context, base, path, name string, stdout io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	u := base + kilnapi.VulnDBImportPath + "?" + url.Values{"name": {name}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, io.NopCloser(f))
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	sum := hex.EncodeToString(h.Sum(nil))
	req.Header.Set("X-Amz-Content-Sha256", sum)
	if err := signRequest(ctx, req, sum); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return fmt.Errorf("cannot reach kiln at %s: %w", base, uerr.Err)
		}
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	var st vulndb.ImportStats
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("%s: unreadable answer: %w", path, err)
	}
	noun := "records"
	if st.Records == 1 {
		noun = "record"
	}
	fmt.Fprintf(stdout, "%s: %d %s: %d added, %d replaced, %d unchanged\n", path, st.Records, noun, st.Added, st.Replaced, st.Kept)
	return nil
}

// signRequest signs req for service imagebuilder over the payload hash
// sum, with the environment's credentials (any on a loopback kiln).
func signRequest(ctx context.Context, req *http.Request, sum string) error {
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
	creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
	return v4.NewSigner().SignHTTP(ctx, creds, req, sum, "imagebuilder", region, time.Now())
}

func vulndbStatus(ctx context.Context, base string, stdout io.Writer, asJSON bool) error {
	resp, err := kilnCall(ctx, http.MethodGet, base+kilnapi.VulnDBStatusPath)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var st kilnapi.VulnDBStatusResponse
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("unreadable answer: %w", err)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	if len(st.Ecosystems) == 0 {
		fmt.Fprintln(stdout, "The vulnerability database is empty: import OSV records with kiln vulndb import.")
		return nil
	}
	out := &termSafeWriter{w: stdout} // ecosystem names come from imported files
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ECOSYSTEM\tRECORDS\tNEWEST MODIFIED")
	for _, e := range st.Ecosystems {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", e.Ecosystem, e.Records, e.NewestModified.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return out.Close()
}
