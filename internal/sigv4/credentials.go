package sigv4

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// Principal is one access key the server knows, with the account its
// requests act as.
type Principal struct {
	AccessKeyID     string
	SecretAccessKey string
	Account         string // 12 digits
	Name            string // the credentials-file section it came from
}

// LoadCredentials reads a credentials file; see ParseCredentials. Errors are
// prefixed with the path.
func LoadCredentials(path string) (map[string]Principal, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := ParseCredentials(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ParseCredentials reads the AWS shared-credentials format, extended with
// the account each key acts as:
//
//	# comment
//	[alice]
//	aws_access_key_id     = AKIAEXAMPLEALICE
//	aws_secret_access_key = wJalrXUtnFEMI/K7MDENG
//	aws_account_id        = 111122223333
//
// Every section must set all three keys; other keys (aws_session_token,
// region, ...) are ignored so that an existing credentials file can be reused.
// Lines starting with '#' or ';' are comments. Values run to the end of the
// line, as in the AWS CLI: there are no inline comments. The result is keyed
// by access key ID; an access key may appear only once. Errors name the line.
func ParseCredentials(r io.Reader) (map[string]Principal, error) {
	type section struct {
		Principal
		line int
		seen map[string]int // key -> line
	}
	var (
		out      = map[string]Principal{}
		keyLine  = map[string]int{} // access key ID -> line it was defined on
		sections = map[string]int{} // section name -> header line
		cur      *section
	)
	finish := func() error {
		if cur == nil {
			return nil
		}
		for _, k := range []string{"aws_access_key_id", "aws_secret_access_key", "aws_account_id"} {
			if _, ok := cur.seen[k]; !ok {
				return fmt.Errorf("line %d: section [%s] has no %s", cur.line, cur.Name, k)
			}
		}
		if prev, ok := keyLine[cur.AccessKeyID]; ok {
			return fmt.Errorf("line %d: access key %s is already defined on line %d", cur.seen["aws_access_key_id"], cur.AccessKeyID, prev)
		}
		keyLine[cur.AccessKeyID] = cur.seen["aws_access_key_id"]
		out[cur.AccessKeyID] = cur.Principal
		return nil
	}

	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			if err := finish(); err != nil {
				return nil, err
			}
			name, ok := strings.CutSuffix(line[1:], "]")
			name = strings.TrimSpace(name)
			if !ok || name == "" || strings.ContainsAny(name, "[]") {
				return nil, fmt.Errorf("line %d: malformed section header %q", n, line)
			}
			if prev, dup := sections[name]; dup {
				return nil, fmt.Errorf("line %d: section [%s] already appears on line %d", n, name, prev)
			}
			sections[name] = n
			cur = &section{Principal: Principal{Name: name}, line: n, seen: map[string]int{}}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want key = value or [section], got %q", n, line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if key == "" {
			return nil, fmt.Errorf("line %d: missing key before '='", n)
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: %s is outside any [section]", n, key)
		}
		if prev, dup := cur.seen[key]; dup {
			return nil, fmt.Errorf("line %d: %s is already set in section [%s] on line %d", n, key, cur.Name, prev)
		}
		cur.seen[key] = n
		switch key {
		case "aws_access_key_id":
			if !validAccessKeyID(value) {
				return nil, fmt.Errorf("line %d: aws_access_key_id %q must be 1-128 letters, digits, '_', '-' or '.'", n, value)
			}
			cur.AccessKeyID = value
		case "aws_secret_access_key":
			if value == "" {
				return nil, fmt.Errorf("line %d: aws_secret_access_key is empty", n)
			}
			cur.SecretAccessKey = value
		case "aws_account_id":
			if !validAccountID(value) {
				return nil, fmt.Errorf("line %d: aws_account_id %q must be 12 digits", n, value)
			}
			cur.Account = value
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading credentials: %w", err)
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return out, nil
}

// validAccessKeyID accepts what can stand unambiguously in a Credential
// scope. Real keys are 16-128 uppercase letters and digits, but local setups
// use keys such as "test" or "local_admin", so only a safe character set is
// enforced.
func validAccessKeyID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

func validAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
