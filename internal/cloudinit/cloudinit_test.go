package cloudinit

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// testKey is a well-formed ed25519 public key line.
func testKey(comment string) string {
	blob := binary.BigEndian.AppendUint32(nil, 11)
	blob = append(blob, "ssh-ed25519"...)
	blob = binary.BigEndian.AppendUint32(blob, 32)
	blob = append(blob, bytes.Repeat([]byte{7}, 32)...)
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " " + comment
}

func TestParseAuthorizedKey(t *testing.T) {
	good := testKey("me@host")
	blob := strings.Fields(good)[1]
	for _, tc := range []struct {
		name, in, want, errPart string
	}{
		{"plain", good, good, ""},
		{"whitespace normalised", "  ssh-ed25519\t" + blob + "   me@host  \n", good, ""},
		{"no comment", "ssh-ed25519 " + blob, "ssh-ed25519 " + blob, ""},
		{"comment with spaces", "ssh-ed25519 " + blob + " a b", "ssh-ed25519 " + blob + " a b", ""},
		{"type only", "ssh-ed25519", "", "want TYPE BASE64"},
		{"unknown type", "ssh-foo " + blob, "", "unknown key type"},
		{"type mismatch", "ssh-rsa " + blob, "", "does not start with its type"},
		{"not base64", "ssh-ed25519 !!!!", "", "not base64"},
		{"private key", "-----BEGIN OPENSSH PRIVATE KEY-----", "", "unknown key type"},
		{"two lines", good + "\n" + good, "", "line break"},
		{"short blob", "ssh-ed25519 AAA=", "", "too short"},
		{"length past blob", "ssh-ed25519 " + base64.StdEncoding.EncodeToString([]byte{0xff, 0xff, 0xff, 0xff, 1}), "", "does not start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAuthorizedKey(tc.in)
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) || !errors.Is(err, errNotKey) {
					t.Fatalf("ParseAuthorizedKey(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.errPart)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseAuthorizedKey(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseAuthorizedKeys(t *testing.T) {
	keys, err := ParseAuthorizedKeys([]byte("# mine\n" + testKey("a") + "\n\n" + testKey("b") + "\n"))
	if err != nil || len(keys) != 2 || keys[1] != testKey("b") {
		t.Fatalf("keys = %q, %v", keys, err)
	}
	if _, err := ParseAuthorizedKeys([]byte("\n# nothing\n")); err == nil {
		t.Error("a file without keys was accepted")
	}
	if _, err := ParseAuthorizedKeys([]byte(testKey("a") + "\nbogus line\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("err = %v, want one naming line 2", err)
	}
}

func TestContentType(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"#!/bin/sh\necho hi\n", "text/x-shellscript"},
		{"#cloud-config\nusers: []\n", "text/cloud-config"},
		{"#Cloud-Config\n", "text/cloud-config"},
		{"#cloud-config-archive\n- type: text/x-shellscript\n", "text/cloud-config-archive"},
		{"#include\nhttp://127.0.0.1/x\n", "text/x-include-url"},
		{"#include-once\nhttp://127.0.0.1/x\n", "text/x-include-once-url"},
		{"#cloud-boothook\n#!/bin/sh\n", "text/cloud-boothook"},
		{"## template: jinja\n#cloud-config\n", "text/jinja2"},
		{"\x1f\x8b\x08\x00", "application/gzip"},
		{"hello", "text/plain"},
		{"", "text/plain"},
	} {
		if got := ContentType([]byte(tc.in)); got != tc.want {
			t.Errorf("ContentType(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// parts parses a multipart user-data message the way cloud-init's
// Python email walk does: nested multiparts are walked into, and each
// leaf's payload is transfer-decoded.
func parts(t testing.TB, msg []byte) (types []string, payloads [][]byte) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("user data is not a MIME message: %v\n%s", err, msg)
	}
	var walk func(ct string, body io.Reader)
	walk = func(ct string, body io.Reader) {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatalf("Content-Type %q: %v", ct, err)
		}
		if !strings.HasPrefix(mt, "multipart/") {
			t.Fatalf("walk called on %s", mt)
		}
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("part: %v\n%s", err, msg)
			}
			pct := p.Header.Get("Content-Type")
			if strings.HasPrefix(pct, "multipart/") {
				walk(pct, p)
				continue
			}
			b, _ := io.ReadAll(p)
			if p.Header.Get("Content-Transfer-Encoding") == "base64" {
				b, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
				if err != nil {
					t.Fatalf("base64 part: %v", err)
				}
			}
			mt, _, _ := mime.ParseMediaType(pct)
			types = append(types, mt)
			payloads = append(payloads, b)
		}
	}
	walk(m.Header.Get("Content-Type"), m.Body)
	return types, payloads
}

func TestUserData(t *testing.T) {
	key := testKey("me@host")
	script := []byte("#!/bin/sh\necho hello > /tmp/hello\n")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(script)
	zw.Close()
	userMIME := []byte("Content-Type: multipart/mixed; boundary=\"XYZ\"\nMIME-Version: 1.0\n\n--XYZ\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho from-mime\n--XYZ--\n")
	for _, tc := range []struct {
		name      string
		user      []byte
		keys      []string
		wantSame  bool     // the user data passes through unchanged
		wantTypes []string // else: the multipart's leaf types, in order
		wantFirst []byte   // and the first leaf's payload
	}{
		{name: "user data only", user: script, wantSame: true},
		{name: "nothing", wantSame: true},
		{name: "script and key", user: script, keys: []string{key}, wantTypes: []string{"text/x-shellscript", "text/cloud-config"}, wantFirst: script},
		{name: "cloud-config and key", user: []byte("#cloud-config\nssh_authorized_keys: [\"x\"]\n"), keys: []string{key},
			wantTypes: []string{"text/cloud-config", "text/cloud-config"}, wantFirst: []byte("#cloud-config\nssh_authorized_keys: [\"x\"]\n")},
		{name: "gzip and key", user: gz.Bytes(), keys: []string{key}, wantTypes: []string{"text/x-shellscript", "text/cloud-config"}, wantFirst: script},
		{name: "MIME and key", user: userMIME, keys: []string{key}, wantTypes: []string{"text/x-shellscript", "text/cloud-config"}, wantFirst: []byte("#!/bin/sh\necho from-mime")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UserData(tc.user, tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantSame {
				if !bytes.Equal(got, tc.user) {
					t.Fatalf("user data = %q, want it unchanged", got)
				}
				return
			}
			types, payloads := parts(t, got)
			if strings.Join(types, ",") != strings.Join(tc.wantTypes, ",") {
				t.Fatalf("types = %v, want %v\n%s", types, tc.wantTypes, got)
			}
			if !bytes.Equal(payloads[0], tc.wantFirst) {
				t.Errorf("first part = %q, want %q", payloads[0], tc.wantFirst)
			}
			last := string(payloads[len(payloads)-1])
			if !strings.Contains(last, "merge_how:") || !strings.Contains(last, `"`+key+`"`) {
				t.Errorf("keys part = %q", last)
			}
		})
	}
	// Only a key: a plain #cloud-config.
	got, err := UserData(nil, []string{key, testKey("other")})
	if err != nil {
		t.Fatal(err)
	}
	want := "#cloud-config\nssh_authorized_keys:\n  - \"" + key + "\"\n  - \"" + testKey("other") + "\"\n"
	if string(got) != want {
		t.Errorf("keys only = %q, want %q", got, want)
	}
	// Bad input fails and names what is wrong.
	for _, tc := range []struct {
		name    string
		user    []byte
		keys    []string
		errPart string
	}{
		{"too big", bytes.Repeat([]byte("a"), MaxUserData+1), nil, "at most 16384"},
		{"bad key", script, []string{"ssh-ed25519 nope"}, "SSH key"},
		{"bad gzip", []byte{0x1f, 0x8b, 0, 0}, []string{key}, "gzip"},
		{"bad MIME", []byte("MIME-Version: 1.0\nContent-Type: ;;;\n\nx"), []string{key}, "Content-Type"},
	} {
		if _, err := UserData(tc.user, tc.keys); err == nil || !strings.Contains(err.Error(), tc.errPart) {
			t.Errorf("%s: err = %v, want one with %q", tc.name, err, tc.errPart)
		}
	}
}

func TestSeedFiles(t *testing.T) {
	s := Seed{InstanceID: "i-0123456789abcdef0", Hostname: Hostname("eu-west-1"), UserData: []byte("#!/bin/sh\n"), MAC: "52:54:00:AB:cd:01"}
	files, err := s.Files()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.Name] = string(f.Data)
	}
	want := map[string]string{
		"meta-data":      "instance-id: i-0123456789abcdef0\nlocal-hostname: ip-10-0-2-15.eu-west-1.compute.internal\n",
		"user-data":      "#!/bin/sh\n",
		"network-config": "version: 2\nethernets:\n  primary:\n    match:\n      macaddress: \"52:54:00:ab:cd:01\"\n    dhcp4: true\n",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	s.MAC = ""
	if files, _ := s.Files(); len(files) != 2 {
		t.Errorf("without a NIC the seed has %d files, want meta-data and user-data", len(files))
	}
	for _, tc := range []struct {
		name    string
		edit    func(*Seed)
		errPart string
	}{
		{"instance id", func(s *Seed) { s.InstanceID = "vm-1" }, "instance-id"},
		{"hostname", func(s *Seed) { s.Hostname = "bad_host" }, "local-hostname"},
		{"hostname newline", func(s *Seed) { s.Hostname = "a\nuser-data: x" }, "local-hostname"},
		{"mac", func(s *Seed) { s.MAC = "52:54" }, "MAC"},
	} {
		bad := s
		tc.edit(&bad)
		if _, err := bad.Files(); err == nil || !strings.Contains(err.Error(), tc.errPart) {
			t.Errorf("%s: err = %v, want one naming %s", tc.name, err, tc.errPart)
		}
	}
}

func TestNewInstanceIDAndHostname(t *testing.T) {
	a, b := NewInstanceID(), NewInstanceID()
	if !instanceIDPattern.MatchString(a) || len(a) != 19 || a == b {
		t.Errorf("instance IDs %q, %q", a, b)
	}
	if MACFor(a) == MACFor(b) && a != b {
		t.Logf("MAC collision for %s and %s (possible, unlikely)", a, b)
	}
	for region, want := range map[string]string{"": "ip-10-0-2-15.ec2.internal", "us-east-1": "ip-10-0-2-15.ec2.internal",
		"eu-west-1": "ip-10-0-2-15.eu-west-1.compute.internal", "Bad Region": "ip-10-0-2-15"} {
		if got := Hostname(region); got != want {
			t.Errorf("Hostname(%q) = %s, want %s", region, got, want)
		}
	}
}

func TestISORoundTrip(t *testing.T) {
	files := []File{{"user-data", []byte("#cloud-config\n")}, {"meta-data", []byte("instance-id: i-1\n")}, {"network-config", nil},
		{"big", bytes.Repeat([]byte("x"), 5000)}}
	var b bytes.Buffer
	if err := WriteISO(&b, Label, files, time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if b.Len()%sectorSize != 0 || b.Len() < minSectors*sectorSize {
		t.Errorf("volume is %d bytes, not whole sectors or under %d", b.Len(), minSectors*sectorSize)
	}
	if got := binary.LittleEndian.Uint32(b.Bytes()[pvdSector*sectorSize+80:]); int(got)*sectorSize != b.Len() {
		t.Errorf("volume space size %d sectors, volume is %d bytes", got, b.Len())
	}
	label, got, err := ReadISO(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if label != Label {
		t.Errorf("label %q", label)
	}
	byName := map[string][]byte{}
	for _, f := range got {
		byName[f.Name] = f.Data
	}
	for _, f := range files {
		if d, ok := byName[f.Name]; !ok || !bytes.Equal(d, f.Data) {
			t.Errorf("%s read back as %q (present %v)", f.Name, d, ok)
		}
	}
	for _, tc := range []struct {
		name  string
		label string
		files []File
	}{
		{"slash", Label, []File{{"a/b", nil}}},
		{"empty name", Label, []File{{"", nil}}},
		{"same ISO name", Label, []File{{"a-b", nil}, {"a_b", nil}}},
		{"label too long", strings.Repeat("x", 33), nil},
		{"too big", Label, []File{{"x", make([]byte, maxSeedFile+1)}}},
	} {
		if err := WriteISO(io.Discard, tc.label, tc.files, time.Now()); err == nil {
			t.Errorf("%s: WriteISO accepted it", tc.name)
		}
	}
}

// TestISOMountsOnLinux mounts a seed with the host's kernel, as a guest
// does, and reads it with blkid, as cloud-init finds it.
func TestISOMountsOnLinux(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	dir := t.TempDir()
	iso := filepath.Join(dir, "seed.iso")
	s := Seed{InstanceID: NewInstanceID(), Hostname: "guest", UserData: []byte("#!/bin/sh\necho hi\n"), SSHKeys: []string{testKey("k")}, MAC: "52:54:00:01:02:03"}
	if err := s.WriteFile(iso); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("blkid", "-p", "-o", "export", iso).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "LABEL=cidata") || !strings.Contains(string(out), "TYPE=iso9660") {
		t.Errorf("blkid: %v\n%s", err, out)
	}
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "-o", "loop,ro", "-t", "iso9660", iso, mnt).CombinedOutput(); err != nil {
		// Containers often lack the isofs module; test/amirun mounts
		// the seed in a guest instead.
		t.Skipf("cannot loop-mount an ISO 9660 volume on this host: %v\n%s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	want, _ := s.Files()
	for _, f := range want {
		got, err := os.ReadFile(filepath.Join(mnt, f.Name))
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("%s in the mounted seed = %q, %v; want %q", f.Name, got, err, f.Data)
		}
	}
	entries, _ := os.ReadDir(mnt)
	if len(entries) != 3 {
		t.Errorf("mounted seed lists %d files, want 3", len(entries))
	}
}

func FuzzReadISO(f *testing.F) {
	var b bytes.Buffer
	WriteISO(&b, Label, []File{{"meta-data", []byte("instance-id: i-1\n")}, {"user-data", []byte("x")}}, time.Unix(0, 0))
	f.Add(b.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ReadISO(bytes.NewReader(data), int64(len(data)))
	})
}

func FuzzISORoundTrip(f *testing.F) {
	f.Add("meta-data", []byte("instance-id: i-1\n"), "user-data", []byte("#!/bin/sh\n"))
	f.Fuzz(func(t *testing.T, n1 string, d1 []byte, n2 string, d2 []byte) {
		files := []File{{n1, d1}, {n2, d2}}
		var b bytes.Buffer
		if err := WriteISO(&b, Label, files, time.Unix(0, 0)); err != nil {
			return
		}
		_, got, err := ReadISO(bytes.NewReader(b.Bytes()), int64(b.Len()))
		if err != nil || len(got) != 2 {
			t.Fatalf("read back %d files, %v", len(got), err)
		}
		for _, g := range got {
			if !(g.Name == n1 && bytes.Equal(g.Data, d1)) && !(g.Name == n2 && bytes.Equal(g.Data, d2)) {
				t.Fatalf("read back %q = %q; wrote %q and %q", g.Name, g.Data, n1, n2)
			}
		}
	})
}

func FuzzUserData(f *testing.F) {
	f.Add([]byte("#!/bin/sh\necho hi\n"), true)
	f.Add([]byte("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n"), true)
	f.Add([]byte("#cloud-config\n"), false)
	f.Fuzz(func(t *testing.T, user []byte, withKey bool) {
		var keys []string
		if withKey {
			keys = []string{testKey("fuzz")}
		}
		out, err := UserData(user, keys)
		if err != nil {
			return
		}
		if !withKey {
			if !bytes.Equal(out, user) {
				t.Fatal("user data without keys was changed")
			}
			return
		}
		if len(bytes.TrimSpace(user)) == 0 || IsMIME(user) || bytes.HasPrefix(user, []byte{0x1f, 0x8b}) {
			return
		}
		// Plain user data comes back byte for byte as the first part.
		_, payloads := parts(t, out)
		if len(payloads) != 2 || !bytes.Equal(payloads[0], user) {
			t.Fatalf("first part %q, want %q", payloads, user)
		}
	})
}

func FuzzParseAuthorizedKey(f *testing.F) {
	f.Add(testKey("me"))
	f.Add("ssh-rsa AAAA")
	f.Fuzz(func(t *testing.T, line string) {
		k, err := ParseAuthorizedKey(line)
		if err != nil {
			return
		}
		// A key that parses parses again to itself, on one line.
		if again, err := ParseAuthorizedKey(k); err != nil || again != k || strings.ContainsAny(k, "\r\n") {
			t.Fatalf("%q -> %q -> %q, %v", line, k, again, err)
		}
	})
}

func TestDefaultUser(t *testing.T) {
	debian := "system_info:\n  default_user:\n    name: debian\n    groups: [adm]\n"
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"no cloud-init", fstest.MapFS{"etc/passwd": {Data: []byte("root:x:0:0::/root:/bin/sh\n")}}, "root"},
		{"cloud.cfg", fstest.MapFS{"etc/cloud/cloud.cfg": {Data: []byte(debian)}}, "debian"},
		{"cloud.cfg.d wins, last first", fstest.MapFS{
			"etc/cloud/cloud.cfg":                       {Data: []byte(debian)},
			"etc/cloud/cloud.cfg.d/01_debian_cloud.cfg": {Data: []byte("system_info:\n  default_user:\n    name: admin\n")},
			"etc/cloud/cloud.cfg.d/90_other.cfg":        {Data: []byte("datasource_list: [NoCloud]\n")},
		}, "admin"},
		{"no user named", fstest.MapFS{"etc/cloud/cloud.cfg": {Data: []byte("users: [default]\n")}}, ""},
		{"bad yaml skipped", fstest.MapFS{
			"etc/cloud/cloud.cfg":          {Data: []byte(debian)},
			"etc/cloud/cloud.cfg.d/x.cfg":  {Data: []byte("system_info: [\n")},
			"etc/cloud/cloud.cfg.d/y.cfg":  {Data: []byte("system_info:\n  default_user:\n    name: \"rm -rf /\"\n")},
			"etc/cloud/cloud.cfg.d/z.conf": {Data: []byte("system_info:\n  default_user:\n    name: nope\n")},
		}, "debian"},
	} {
		if got := DefaultUser(tc.files); got != tc.want {
			t.Errorf("%s: DefaultUser = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func FuzzDefaultUserIn(f *testing.F) {
	f.Add([]byte("system_info:\n  default_user:\n    name: admin\n"))
	f.Add([]byte("system_info: {default_user: {name: [x]}}"))
	f.Fuzz(func(t *testing.T, cfg []byte) {
		if u := defaultUserIn(cfg, "prev"); u != "prev" && !checkUserName(u) {
			t.Fatalf("user %q", u)
		}
	})
}

// TestSeedWithCloudInit hands seeds to cloud-init's own code (Debian's
// cloud-init package, Python): it must find the user's script and the
// keys in the user data, merge the keys with keys the user's own
// cloud-config lists, and read the meta-data and network-config.
func TestSeedWithCloudInit(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import cloudinit.user_data").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Debian's cloud-init is not installed (.ci/run installs cloud-init): %v", err)
		}
		t.Skip("Debian's cloud-init is not installed (apt-get install cloud-init)")
	}
	key, other := testKey("me@host"), testKey("old@host")
	script := "#!/bin/sh\necho hello\n"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(script))
	zw.Close()
	cases := []struct {
		name      string
		user      string
		keys      []string
		wantParts []string // content types, in order
		wantKeys  []string // the merged cloud-config's ssh_authorized_keys
		wantOther string   // another key the merged cloud-config keeps
	}{
		{name: "script and key", user: script, keys: []string{key},
			wantParts: []string{"text/x-shellscript", "text/cloud-config"}, wantKeys: []string{key}},
		{name: "cloud-config with keys, and a key", user: "#cloud-config\npackages: [nginx]\nssh_authorized_keys:\n  - " + other + "\n", keys: []string{key},
			wantParts: []string{"text/cloud-config", "text/cloud-config"}, wantKeys: []string{other, key}, wantOther: "packages"},
		{name: "gzip and key", user: gz.String(), keys: []string{key},
			wantParts: []string{"text/x-shellscript", "text/cloud-config"}, wantKeys: []string{key}},
		{name: "MIME and key", user: "Content-Type: multipart/mixed; boundary=\"XYZ\"\nMIME-Version: 1.0\n\n--XYZ\nContent-Type: text/x-shellscript\n\n" + script + "--XYZ--\n",
			keys: []string{key}, wantParts: []string{"text/x-shellscript", "text/cloud-config"}, wantKeys: []string{key}},
		{name: "keys only", keys: []string{key, other}, wantParts: []string{"text/cloud-config"}, wantKeys: []string{key, other}},
		{name: "script only", user: script, wantParts: []string{"text/x-shellscript"}},
	}
	type result struct {
		Parts []struct {
			Type, Payload string
		}
		CloudConfig map[string]any `json:"cloud_config"`
		MetaData    map[string]any `json:"meta_data"`
		Interfaces  []struct {
			MAC     string
			Subnets []string
		}
	}
	// Every seed goes to one python process: importing cloud-init takes
	// seconds.
	seeds := make([]Seed, len(cases))
	dirs := make([]string, len(cases))
	for i, tc := range cases {
		dirs[i] = t.TempDir()
		seeds[i] = Seed{InstanceID: "i-0123456789abcdef0", Hostname: "ip-10-0-2-15.ec2.internal", UserData: []byte(tc.user), SSHKeys: tc.keys, MAC: "52:54:00:ab:cd:01"}
		files, err := seeds[i].Files()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, f := range files {
			os.WriteFile(filepath.Join(dirs[i], f.Name), f.Data, 0o644)
		}
	}
	out, err := exec.Command(python, append([]string{"testdata/check_seed.py"}, dirs...)...).Output()
	if err != nil {
		t.Fatalf("check_seed.py: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("check_seed.py answered %d lines for %d seeds:\n%s", len(lines), len(cases), out)
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := seeds[i]
			var got result
			if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
				t.Fatalf("%v\n%s", err, lines[i])
			}
			var types []string
			for _, p := range got.Parts {
				types = append(types, p.Type)
			}
			if strings.Join(types, ",") != strings.Join(tc.wantParts, ",") {
				t.Fatalf("cloud-init found parts %v, want %v", types, tc.wantParts)
			}
			// (A MIME part's last line break belongs to the boundary.)
			if types[0] == "text/x-shellscript" && strings.TrimSuffix(got.Parts[0].Payload, "\n") != strings.TrimSuffix(script, "\n") {
				t.Errorf("cloud-init's script = %q, want %q", got.Parts[0].Payload, script)
			}
			var keys []string
			if ks, ok := got.CloudConfig["ssh_authorized_keys"].([]any); ok {
				for _, k := range ks {
					keys = append(keys, fmt.Sprint(k))
				}
			}
			if strings.Join(keys, "|") != strings.Join(tc.wantKeys, "|") {
				t.Errorf("cloud-init's merged ssh_authorized_keys = %q, want %q", keys, tc.wantKeys)
			}
			if tc.wantOther != "" && got.CloudConfig[tc.wantOther] == nil {
				t.Errorf("cloud-init's merged cloud-config lost %s: %v", tc.wantOther, got.CloudConfig)
			}
			if got.MetaData["instance-id"] != s.InstanceID || got.MetaData["local-hostname"] != s.Hostname {
				t.Errorf("cloud-init's meta-data = %v", got.MetaData)
			}
			if len(got.Interfaces) != 1 || got.Interfaces[0].MAC != s.MAC || strings.Join(got.Interfaces[0].Subnets, ",") != "dhcp4" {
				t.Errorf("cloud-init's interfaces = %+v", got.Interfaces)
			}
		})
	}
}
