package cloudinit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"
)

// UserData returns the user-data file for user (the user's own user
// data, possibly empty) and keys (SSH public keys for the default user):
//
//   - no keys: user as given (EC2 passes user data through unchanged);
//   - keys and no user data: a #cloud-config with ssh_authorized_keys;
//   - both: a MIME multipart message, the user's part first, then that
//     #cloud-config, whose merge_how appends its keys to any list of keys
//     the user's own cloud-config has instead of replacing it. cloud-init
//     runs a shell script part and merges cloud-config parts, so neither
//     the script nor the keys are lost.
func UserData(user []byte, keys []string) ([]byte, error) {
	if len(user) > MaxUserData {
		return nil, fmt.Errorf("user data is %d bytes; EC2 allows at most %d", len(user), MaxUserData)
	}
	var clean []string
	for _, k := range keys {
		c, err := ParseAuthorizedKey(k)
		if err != nil {
			return nil, err
		}
		clean = append(clean, c)
	}
	if len(clean) == 0 {
		return user, nil
	}
	if len(bytes.TrimSpace(user)) == 0 {
		return keysConfig(clean, false), nil
	}
	return multipartUserData(user, keysConfig(clean, true))
}

// keysConfig is the #cloud-config giving keys to the default user. Each
// key is a JSON string, which is also a YAML double-quoted scalar.
func keysConfig(keys []string, merge bool) []byte {
	var b bytes.Buffer
	b.WriteString("#cloud-config\n")
	if merge {
		b.WriteString("merge_how: 'dict(recurse_array,no_replace)+list(append)'\n")
	}
	b.WriteString("ssh_authorized_keys:\n")
	for _, k := range keys {
		q, _ := json.Marshal(k)
		fmt.Fprintf(&b, "  - %s\n", q)
	}
	return b.Bytes()
}

// maxDecompressed bounds gzip'd user data once inflated.
const maxDecompressed = 1 << 20

// multipartUserData joins the user's data and the keys' cloud-config in
// one multipart/mixed message.
func multipartUserData(user, keys []byte) ([]byte, error) {
	if bytes.HasPrefix(user, []byte{0x1f, 0x8b}) {
		// cloud-init inflates gzip'd user data before it looks inside;
		// inside a part it would no longer recognise a MIME message, so
		// inflate here and treat what comes out as the user data.
		zr, err := gzip.NewReader(bytes.NewReader(user))
		if err != nil {
			return nil, fmt.Errorf("user data starts like gzip but is not: %v", err)
		}
		plain, err := io.ReadAll(io.LimitReader(zr, maxDecompressed+1))
		if err != nil {
			return nil, fmt.Errorf("user data: gzip: %v", err)
		}
		if len(plain) > maxDecompressed {
			return nil, fmt.Errorf("user data inflates to more than %d bytes", maxDecompressed)
		}
		user = plain
	}
	sum := sha256.Sum256(append(append([]byte{}, user...), keys...))
	boundary := "kiln-" + hex.EncodeToString(sum[:16])
	var out bytes.Buffer
	fmt.Fprintf(&out, "Content-Type: multipart/mixed; boundary=%q\nMIME-Version: 1.0\n\n", boundary)
	w := multipart.NewWriter(&out)
	if err := w.SetBoundary(boundary); err != nil {
		return nil, err
	}
	hdr, body, err := userPart(user)
	if err != nil {
		return nil, err
	}
	pw, err := w.CreatePart(hdr)
	if err != nil {
		return nil, err
	}
	pw.Write(body)
	kh := textproto.MIMEHeader{}
	kh.Set("Content-Type", `text/cloud-config; charset="utf-8"`)
	kh.Set("Content-Disposition", `attachment; filename="kiln-ssh-keys.cfg"`)
	pw, err = w.CreatePart(kh)
	if err != nil {
		return nil, err
	}
	pw.Write(keys)
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// userPart is the MIME part carrying the user's data. A MIME message
// (cloud-init's test: "mime-version:" within its first 4096 bytes) is
// nested with its own Content-Type, which cloud-init walks into; anything
// else is base64-encoded (so no byte of it can end the part) under the
// content type cloud-init would give it (ContentType).
func userPart(user []byte) (textproto.MIMEHeader, []byte, error) {
	if IsMIME(user) {
		r := textproto.NewReader(bufio.NewReader(bytes.NewReader(user)))
		h, err := r.ReadMIMEHeader()
		if err != nil {
			return nil, nil, fmt.Errorf("user data is a MIME message (it has MIME-Version) but its headers do not parse: %v", err)
		}
		ct := h.Get("Content-Type")
		if _, _, err := mime.ParseMediaType(ct); err != nil {
			return nil, nil, fmt.Errorf("user data is a MIME message but its Content-Type %q does not parse: %v", ct, err)
		}
		body, _ := io.ReadAll(r.R)
		part := textproto.MIMEHeader{}
		for _, k := range []string{"Content-Type", "Content-Transfer-Encoding", "Content-Disposition"} {
			if v := h.Get(k); v != "" {
				part.Set(k, v)
			}
		}
		return part, body, nil
	}
	part := textproto.MIMEHeader{}
	ct := ContentType(user)
	if strings.HasPrefix(ct, "text/") {
		ct += `; charset="utf-8"`
	}
	part.Set("Content-Type", ct)
	part.Set("Content-Transfer-Encoding", "base64")
	part.Set("Content-Disposition", `attachment; filename="user-data"`)
	enc := base64.StdEncoding.EncodeToString(user)
	var body strings.Builder
	for len(enc) > 76 {
		body.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	body.WriteString(enc + "\n")
	return part, []byte(body.String()), nil
}

// IsMIME reports whether cloud-init reads user as a MIME message.
func IsMIME(user []byte) bool {
	head := user[:min(len(user), 4096)]
	return bytes.Contains(bytes.ToLower(head), []byte("mime-version:"))
}

// startsWith is cloud-init's table of user data types by first line,
// longest prefix first so "#cloud-config-archive" is not taken for
// "#cloud-config".
var startsWith = []struct{ prefix, contentType string }{
	{"## template: jinja", "text/jinja2"},
	{"#cloud-config-archive", "text/cloud-config-archive"},
	{"#cloud-config-jsonp", "text/cloud-config-jsonp"},
	{"#cloud-boothook", "text/cloud-boothook"},
	{"#include-once", "text/x-include-once-url"},
	{"#cloud-config", "text/cloud-config"},
	{"#part-handler", "text/part-handler"},
	{"#upstart-job", "text/upstart-job"},
	{"#include", "text/x-include-url"},
	{"#!", "text/x-shellscript"},
}

// ContentType is the MIME type cloud-init gives user data that is not a
// MIME message, by how it starts (case-insensitively, as cloud-init
// compares): text/x-shellscript for "#!", text/cloud-config for
// "#cloud-config", application/gzip for gzip, text/plain (which
// cloud-init ignores) for anything else.
func ContentType(user []byte) string {
	if bytes.HasPrefix(user, []byte{0x1f, 0x8b}) {
		return "application/gzip"
	}
	head := strings.ToLower(string(user[:min(len(user), 64)]))
	for _, s := range startsWith {
		if strings.HasPrefix(head, s.prefix) {
			return s.contentType
		}
	}
	return "text/plain"
}

// errNotKey is wrapped by every ParseAuthorizedKey error.
var errNotKey = errors.New("not an SSH public key")
