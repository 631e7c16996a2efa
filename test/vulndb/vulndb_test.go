// Package vulndb_test drives kiln's offline vulnerability database end to
// end: the real kiln binary serving, and `kiln vulndb import|status` as a
// user runs them, on loopback and under --auth strict with operator and
// tenant accounts.
package vulndb_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/kilnapi"
	"github.com/kiln-build/kiln/internal/kilntest"
)

func TestMain(m *testing.M) { kilntest.Main(m) }

// osvRecord is a Debian-style OSV record for a source package.
func osvRecord(id, modified, eco, pkg, fixed string) []byte {
	events := `{"introduced":"0"}`
	if fixed != "" {
		events += `,{"fixed":"` + fixed + `"}`
	}
	return []byte(fmt.Sprintf(`{"schema_version":"1.6.0","id":%q,"modified":%q,"published":"2024-07-01T00:00:00Z",
"aliases":["CVE-2024-5535"],"summary":"openssl: SSL_select_next_proto buffer overread",
"affected":[{"package":{"ecosystem":%q,"name":%q},"ranges":[{"type":"ECOSYSTEM","events":[%s]}]}],
"references":[{"type":"ADVISORY","url":"https://security-tracker.debian.org/tracker/CVE-2024-5535"}]}`, id, modified, eco, pkg, events))
}

func writeZip(t *testing.T, path string, files map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// cli runs the kiln binary as a client with the given credentials.
func cli(t *testing.T, srv *kilntest.Server, creds kilntest.Creds, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(kilntest.Binary(t), args...)
	cmd.Env = append(os.Environ(), "KILN_ENDPOINT="+srv.URL,
		"AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey, "AWS_REGION=us-east-1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func status(t *testing.T, srv *kilntest.Server, creds kilntest.Creds) kilnapi.VulnDBStatusResponse {
	t.Helper()
	out, errOut, code := cli(t, srv, creds, "vulndb", "status", "--json")
	if code != 0 {
		t.Fatalf("kiln vulndb status: exit %d: %s", code, errOut)
	}
	var st kilnapi.VulnDBStatusResponse
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("kiln vulndb status --json: %v\n%s", err, out)
	}
	return st
}

// TestImportAndStatus: on a loopback kiln the one account imports an
// ecosystem archive, a directory of records and single records, and reads
// the status as a table and as JSON.
func TestImportAndStatus(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	user := kilntest.Creds{AccessKeyID: "test", SecretAccessKey: "test"}
	dir := t.TempDir()
	archive := filepath.Join(dir, "all.zip")
	writeZip(t, archive, map[string][]byte{
		"DEBIAN-CVE-2024-5535.json": osvRecord("DEBIAN-CVE-2024-5535", "2024-07-10T00:00:00Z", "Debian:12", "openssl", "3.0.15-1~deb12u1"),
		"DEBIAN-CVE-2023-4911.json": osvRecord("DEBIAN-CVE-2023-4911", "2023-10-03T00:00:00Z", "Debian:12", "glibc", "2.36-9+deb12u3"),
		"DEBIAN-CVE-2024-0001.json": osvRecord("DEBIAN-CVE-2024-0001", "2024-02-01T00:00:00Z", "Debian:11", "openssl", ""),
	})
	out, errOut, code := cli(t, srv, user, "vulndb", "import", archive)
	if code != 0 || !strings.Contains(out, "3 records: 3 added, 0 replaced, 0 unchanged") {
		t.Fatalf("kiln vulndb import all.zip: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = cli(t, srv, user, "vulndb", "status")
	if code != 0 || !strings.Contains(out, "ECOSYSTEM") ||
		!strings.Contains(out, "Debian:12  2        2024-07-10T00:00:00Z") ||
		!strings.Contains(out, "Debian:11  1        2024-02-01T00:00:00Z") {
		t.Errorf("kiln vulndb status:\n%s", out)
	}

	// The same archive again changes nothing; a directory of records
	// (nested, as OSV's git mirrors lay them out) is packed and sent
	// once, replacing the record that is newer.
	out, _, _ = cli(t, srv, user, "vulndb", "import", archive)
	if !strings.Contains(out, "3 records: 0 added, 0 replaced, 3 unchanged") {
		t.Errorf("second import: %s", out)
	}
	recs := filepath.Join(dir, "records", "2024")
	os.MkdirAll(recs, 0o755)
	os.WriteFile(filepath.Join(recs, "DEBIAN-CVE-2024-5535.json"), osvRecord("DEBIAN-CVE-2024-5535", "2024-08-01T00:00:00Z", "Debian:12", "openssl", "3.0.15-1~deb12u1"), 0o644)
	os.WriteFile(filepath.Join(recs, "ALPINE-CVE-2024-5535.json"), osvRecord("ALPINE-CVE-2024-5535", "2024-08-02T00:00:00Z", "Alpine:v3.20", "openssl", "3.3.2-r0"), 0o644)
	os.WriteFile(filepath.Join(recs, "notes.txt"), []byte("ignored"), 0o644)
	out, errOut, code = cli(t, srv, user, "vulndb", "import", filepath.Join(dir, "records"))
	if code != 0 || !strings.Contains(out, "2 records: 1 added, 1 replaced, 0 unchanged") {
		t.Errorf("import DIR: exit %d\n%s%s", code, out, errOut)
	}
	st := status(t, srv, user)
	want := map[string]string{"Alpine:v3.20": "1 2024-08-02T00:00:00Z", "Debian:11": "1 2024-02-01T00:00:00Z", "Debian:12": "2 2024-08-01T00:00:00Z"}
	if len(st.Ecosystems) != len(want) {
		t.Fatalf("status = %+v", st)
	}
	for _, e := range st.Ecosystems {
		if got := fmt.Sprintf("%d %s", e.Records, e.NewestModified.UTC().Format(time.RFC3339)); got != want[e.Ecosystem] {
			t.Errorf("%s: %s, want %s", e.Ecosystem, got, want[e.Ecosystem])
		}
	}

	// A bad record is refused with the file and member named, and the
	// database is unchanged.
	bad := filepath.Join(dir, "bad.zip")
	writeZip(t, bad, map[string][]byte{
		"GOOD-1.json": osvRecord("GOOD-1", "2024-01-01T00:00:00Z", "Debian:12", "zlib", ""),
		"BAD-1.json":  []byte(`{"id":"BAD-1","modified":"last tuesday"}`),
	})
	_, errOut, code = cli(t, srv, user, "vulndb", "import", bad)
	if code != 1 || !strings.Contains(errOut, "400") || !strings.Contains(errOut, "BAD-1.json: modified") {
		t.Errorf("bad archive: exit %d: %s", code, errOut)
	}
	if after := status(t, srv, user); fmt.Sprint(after) != fmt.Sprint(st) {
		t.Errorf("a refused import changed the database: %+v -> %+v", st, after)
	}
	// A missing file and a wrong subcommand are the CLI's own errors.
	if _, _, code := cli(t, srv, user, "vulndb", "import", filepath.Join(dir, "nope.zip")); code != 1 {
		t.Errorf("missing file: exit %d, want 1", code)
	}
	if _, _, code := cli(t, srv, user, "vulndb", "export"); code != 2 {
		t.Errorf("kiln vulndb export: exit %d, want 2", code)
	}
}

// threeAccounts writes a credentials file: an operator and two tenants.
func threeAccounts(t *testing.T) (path string, operator, tenant kilntest.Creds) {
	operator = kilntest.Creds{AccessKeyID: "AKIDOPERATOR", SecretAccessKey: "operator-secret"}
	tenant = kilntest.Creds{AccessKeyID: "AKIDTENANT", SecretAccessKey: "tenant-secret"}
	path = filepath.Join(t.TempDir(), "credentials")
	content := "[operator]\naws_access_key_id = AKIDOPERATOR\naws_secret_access_key = operator-secret\naws_account_id = 111111111111\n\n" +
		"[tenant]\naws_access_key_id = AKIDTENANT\naws_secret_access_key = tenant-secret\naws_account_id = 222222222222\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, operator, tenant
}

// upload sends body to the import endpoint signed by creds over claimed
// (the payload hash the request declares).
func upload(t *testing.T, srv *kilntest.Server, creds kilntest.Creds, name string, body []byte, claimed string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+kilnapi.VulnDBImportPath+"?name="+name, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if claimed != "" {
		req.Header.Set("X-Amz-Content-Sha256", claimed)
	}
	if creds.AccessKeyID != "" {
		// Sign over the claimed hash when there is one, as an SDK does.
		kilntest.SignPayloadHash(t, req, creds, claimed, body)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestImportIsForOperators: under --auth strict the database is shared by
// every tenant, so only an --operator-account may import; a tenant is
// refused before its upload is read, and changes nothing, while it may
// still read the status. Unsigned, mis-signed, tampered and oversized
// uploads are refused too.
func TestImportIsForOperators(t *testing.T) {
	t.Parallel()
	creds, operator, tenant := threeAccounts(t)
	srv := kilntest.Start(t, "--auth", "strict", "--credentials", creds,
		"--operator-account", "111111111111", "--vulndb-max-upload", "4096")
	rec := osvRecord("DEBIAN-CVE-2024-5535", "2024-07-10T00:00:00Z", "Debian:12", "openssl", "3.0.15-1~deb12u1")
	file := filepath.Join(t.TempDir(), "DEBIAN-CVE-2024-5535.json")
	os.WriteFile(file, rec, 0o644)

	_, errOut, code := cli(t, srv, tenant, "vulndb", "import", file)
	if code != 1 || !strings.Contains(errOut, "403") || !strings.Contains(errOut, "222222222222 may not import") {
		t.Errorf("tenant import: exit %d: %s", code, errOut)
	}
	if st := status(t, srv, tenant); len(st.Ecosystems) != 0 {
		t.Errorf("tenant's refused import stored records: %+v", st)
	}
	tests := []struct {
		name    string
		creds   kilntest.Creds
		body    []byte
		claimed string
		want    int
	}{
		{"unsigned", kilntest.Creds{}, rec, sha(rec), http.StatusForbidden},
		{"unknown key", kilntest.Creds{AccessKeyID: "AKIDNOBODY", SecretAccessKey: "x"}, rec, sha(rec), http.StatusForbidden},
		{"wrong secret", kilntest.Creds{AccessKeyID: operator.AccessKeyID, SecretAccessKey: "guess"}, rec, sha(rec), http.StatusForbidden},
		{"no payload hash", operator, rec, "", http.StatusBadRequest},
		{"unsigned payload", operator, rec, "UNSIGNED-PAYLOAD", http.StatusForbidden},
		{"tampered body", operator, append(bytes.Clone(rec), ' '), sha(rec), http.StatusForbidden},
		{"too large", operator, bytes.Repeat([]byte(" "), 5000), sha(bytes.Repeat([]byte(" "), 5000)), http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		if code, body := upload(t, srv, tc.creds, "r.json", tc.body, tc.claimed); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	if st := status(t, srv, operator); len(st.Ecosystems) != 0 {
		t.Errorf("refused uploads stored records: %+v", st)
	}

	out, errOut, code := cli(t, srv, operator, "vulndb", "import", file)
	if code != 0 || !strings.Contains(out, "1 record: 1 added") {
		t.Fatalf("operator import: exit %d\n%s%s", code, out, errOut)
	}
	if st := status(t, srv, tenant); len(st.Ecosystems) != 1 || st.Ecosystems[0].Ecosystem != "Debian:12" {
		t.Errorf("tenant's status after the operator's import: %+v", st)
	}
}

// TestStrictWithoutOperators: under --auth strict with no
// --operator-account nobody may import.
func TestStrictWithoutOperators(t *testing.T) {
	t.Parallel()
	creds, operator, _ := threeAccounts(t)
	srv := kilntest.Start(t, "--auth", "strict", "--credentials", creds)
	file := filepath.Join(t.TempDir(), "r.json")
	os.WriteFile(file, osvRecord("X-1", "2024-01-01T00:00:00Z", "Debian:12", "zlib", ""), 0o644)
	if _, errOut, code := cli(t, srv, operator, "vulndb", "import", file); code != 1 || !strings.Contains(errOut, "--operator-account") {
		t.Errorf("import without operators: exit %d: %s", code, errOut)
	}
}
