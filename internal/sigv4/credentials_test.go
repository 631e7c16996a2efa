package sigv4

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseCredentials(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]Principal
		wantErr string
	}{
		{name: "empty", in: "", want: map[string]Principal{}},
		{name: "two sections with comments", in: `
# operators
[alice]
aws_access_key_id = AKIDALICE
aws_secret_access_key=wJalr/XUtn+FEMI
aws_account_id   =   111122223333
; a second one
[ bob ]
	aws_access_key_id = AKIDBOB
	aws_secret_access_key = s e c r e t # not a comment
	aws_account_id = 444455556666
	aws_session_token = ignored
	region = eu-west-1
`, want: map[string]Principal{
			"AKIDALICE": {AccessKeyID: "AKIDALICE", SecretAccessKey: "wJalr/XUtn+FEMI", Account: "111122223333", Name: "alice"},
			"AKIDBOB":   {AccessKeyID: "AKIDBOB", SecretAccessKey: "s e c r e t # not a comment", Account: "444455556666", Name: "bob"},
		}},
		{name: "bom and crlf", in: "\uFEFF[t]\r\naws_access_key_id=test\r\naws_secret_access_key=test\r\naws_account_id=000000000000\r\n",
			want: map[string]Principal{"test": {AccessKeyID: "test", SecretAccessKey: "test", Account: "000000000000", Name: "t"}}},
		{name: "key outside section", in: "aws_access_key_id = A\n", wantErr: "line 1: aws_access_key_id is outside any [section]"},
		{name: "no equals", in: "[a]\naws_access_key_id A\n", wantErr: `line 2: want key = value or [section], got "aws_access_key_id A"`},
		{name: "empty key", in: "[a]\n= A\n", wantErr: "line 2: missing key before '='"},
		{name: "bad header", in: "[a\n", wantErr: `line 1: malformed section header "[a"`},
		{name: "empty header", in: "[ ]\n", wantErr: "line 1: malformed section header"},
		{name: "duplicate section", in: "[a]\naws_access_key_id=A\naws_secret_access_key=s\naws_account_id=111122223333\n[a]\n",
			wantErr: "line 5: section [a] already appears on line 1"},
		{name: "duplicate key", in: "[a]\naws_access_key_id=A\naws_access_key_id=B\n", wantErr: "line 3: aws_access_key_id is already set in section [a] on line 2"},
		{name: "missing account", in: "\n[a]\naws_access_key_id=A\naws_secret_access_key=s\n", wantErr: "line 2: section [a] has no aws_account_id"},
		{name: "missing secret in last section", in: "[a]\naws_access_key_id=A\naws_account_id=111122223333\n", wantErr: "line 1: section [a] has no aws_secret_access_key"},
		{name: "missing key in earlier section", in: "[a]\n[b]\n", wantErr: "line 1: section [a] has no aws_access_key_id"},
		{name: "short account", in: "[a]\naws_account_id = 1234\n", wantErr: `line 2: aws_account_id "1234" must be 12 digits`},
		{name: "account with letters", in: "[a]\naws_account_id = 11112222333x\n", wantErr: `line 2: aws_account_id "11112222333x" must be 12 digits`},
		{name: "bad access key", in: "[a]\naws_access_key_id = A/B\n", wantErr: `line 2: aws_access_key_id "A/B" must be`},
		{name: "empty secret", in: "[a]\naws_secret_access_key =\n", wantErr: "line 2: aws_secret_access_key is empty"},
		{name: "same key twice", in: "[a]\naws_access_key_id=A\naws_secret_access_key=s\naws_account_id=111122223333\n" +
			"[b]\naws_access_key_id=A\naws_secret_access_key=t\naws_account_id=444455556666\n", wantErr: "line 6: access key A is already defined on line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCredentials(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "credentials")
	if err := os.WriteFile(path, []byte("[a]\naws_access_key_id=A\naws_secret_access_key=s\naws_account_id=111122223333\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCredentials(path)
	if err != nil || got["A"].Account != "111122223333" {
		t.Fatalf("LoadCredentials = %v, %v", got, err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("[a]\nnonsense\n"), 0o600)
	if _, err := LoadCredentials(bad); err == nil || !strings.HasPrefix(err.Error(), bad+": line 2:") {
		t.Errorf("LoadCredentials(bad) = %v, want error naming the file and line", err)
	}
	if _, err := LoadCredentials(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("LoadCredentials(missing) succeeded")
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add("[a]\naws_access_key_id=A\naws_secret_access_key=s\naws_account_id=111122223333\n")
	f.Add("# c\n; c\n[ b ]\n aws_access_key_id = B \n aws_secret_access_key = x y \n aws_account_id = 000000000000 \nregion=x\n")
	f.Add("[a]\n[b]\n")
	f.Add("=\n[\n]\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseCredentials(strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") && !strings.HasPrefix(err.Error(), "reading") {
				t.Fatalf("error %q does not name a line", err)
			}
			return
		}
		for id, p := range got {
			if id != p.AccessKeyID || !validAccessKeyID(id) || p.SecretAccessKey == "" || !validAccountID(p.Account) || p.Name == "" {
				t.Fatalf("accepted principal %+v under %q", p, id)
			}
		}
	})
}
