package cloudinit

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode"
)

// keyTypes are the public key algorithms OpenSSH's authorized_keys takes.
var keyTypes = map[string]bool{
	"ssh-ed25519":                        true,
	"ssh-rsa":                            true,
	"ssh-dss":                            true,
	"ecdsa-sha2-nistp256":                true,
	"ecdsa-sha2-nistp384":                true,
	"ecdsa-sha2-nistp521":                true,
	"sk-ssh-ed25519@openssh.com":         true,
	"sk-ecdsa-sha2-nistp256@openssh.com": true,
}

// ParseAuthorizedKey checks one public key line ("TYPE BASE64 [COMMENT]",
// as in an id_*.pub file) and returns it with its whitespace normalised.
// The key blob must decode and name the same type as the line, so a
// private key or a truncated paste fails here, on the host, with a
// message, rather than as a guest nobody can log in to. Options before
// the type (authorized_keys' from=, command=) are not taken: a launch's
// key is the plain public key.
func ParseAuthorizedKey(line string) (string, error) {
	line = strings.TrimSpace(line)
	for _, r := range line {
		if r != ' ' && r != '\t' && unicode.IsControl(r) {
			return "", fmt.Errorf("SSH key: %w: it contains a control character or line break", errNotKey)
		}
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return "", fmt.Errorf("SSH key %q: %w: want TYPE BASE64 [COMMENT]", short(line), errNotKey)
	}
	typ := f[0]
	if !keyTypes[typ] {
		return "", fmt.Errorf("SSH key %q: %w: unknown key type %q", short(line), errNotKey, short(typ))
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return "", fmt.Errorf("SSH key %q: %w: the key is not base64: %v", short(line), errNotKey, err)
	}
	if len(blob) < 4 {
		return "", fmt.Errorf("SSH key %q: %w: the key blob is too short", short(line), errNotKey)
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || string(blob[4:4+n]) != typ {
		return "", fmt.Errorf("SSH key %q: %w: the key blob does not start with its type %s", short(line), errNotKey, typ)
	}
	out := typ + " " + f[1]
	if len(f) > 2 {
		out += " " + strings.Join(f[2:], " ")
	}
	return out, nil
}

// ParseAuthorizedKeys reads every key in a .pub or authorized_keys-style
// file: one per line, blank lines and # comments skipped.
func ParseAuthorizedKeys(data []byte) ([]string, error) {
	var keys []string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := ParseAuthorizedKey(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: the file holds no key", errNotKey)
	}
	return keys, nil
}

// short cuts what an error message quotes from user input.
func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
