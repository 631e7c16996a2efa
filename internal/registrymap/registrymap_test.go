package registrymap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Target
		err  string // in the error; "" for none
	}{
		{in: "us-west-2=registry.example.com", want: Target{Region: "us-west-2", Host: "registry.example.com"}},
		{in: "us-west-2=registry.example.com:5000/team", want: Target{Region: "us-west-2", Host: "registry.example.com:5000", Prefix: "team"}},
		{in: "eu-central-1=127.0.0.1:5000/a/b-c/d.e", want: Target{Region: "eu-central-1", Host: "127.0.0.1:5000", Prefix: "a/b-c/d.e"}},
		{in: "ap-south-1=[::1]:5000/x", want: Target{Region: "ap-south-1", Host: "[::1]:5000", Prefix: "x"}},
		{in: "us-gov-west-1=harbor:443", want: Target{Region: "us-gov-west-1", Host: "harbor:443"}},
		{in: "us-west-2=localhost/x", want: Target{Region: "us-west-2", Host: "localhost", Prefix: "x"}},
		{in: "us-west-2=harbor/x", err: "Docker Hub path"},
		{in: "registry.example.com", err: "want REGION=HOST[/PREFIX]"},
		{in: "west=registry.example.com", err: "is not a region name"},
		{in: "us-west-2=", err: "is empty"},
		{in: "us-west-2=https://registry.example.com", err: "without a scheme"},
		{in: "us-west-2=registry.example.com:http", err: "no valid port"},
		{in: "us-west-2=registry.example.com:70000", err: "no valid port"},
		{in: "us-west-2=registry.example.com:0", err: "no valid port"},
		{in: "us-west-2=[127.0.0.1]:5000", err: "not an IPv6 address"},
		{in: "us-west-2=reg_istry", err: "not a host name"},
		{in: "us-west-2=registry.example.com/Team", err: `path component "Team"`},
		{in: "us-west-2=registry.example.com/team/", err: `path component ""`},
		{in: "us-west-2=registry.example.com//team", err: `path component ""`},
		{in: "us-west-2=registry.example.com/", err: `path component ""`},
		{in: "us-west-2=registry.example.com/../x", err: `path component ".."`},
		{in: "us-west-2=registry.example.com/" + strings.Repeat("a", 300), err: "longer than"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTarget(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseTarget(%q) = %+v, %v; want an error saying %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseTarget(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			if got.String() != tc.in {
				t.Errorf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}

func TestTargetRepository(t *testing.T) {
	for _, tc := range []struct {
		t    Target
		repo string
		want string
	}{
		{Target{Host: "h:5000"}, "app", "h:5000/app"},
		{Target{Host: "h:5000", Prefix: "team/x"}, "app/web", "h:5000/team/x/app/web"},
	} {
		if got := tc.t.Repository(tc.repo); got != tc.want {
			t.Errorf("%+v.Repository(%q) = %q, want %q", tc.t, tc.repo, got, tc.want)
		}
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"none", Config{}, ""},
		{"one", Config{Targets: []string{"us-west-2=h:5000/p"}, Insecure: []string{"h"}}, ""},
		{"duplicate region", Config{Targets: []string{"us-west-2=a.example", "us-west-2=b.example"}}, "already mapped to a.example"},
		{"bad target", Config{Targets: []string{"us-west-2"}}, "--registry-for"},
		{"CA without targets", Config{CAFile: notPEM}, "no --registry-for"},
		{"missing CA", Config{Targets: []string{"us-west-2=a.example"}, CAFile: filepath.Join(dir, "missing.pem")}, "--registry-ca"},
		{"CA not PEM", Config{Targets: []string{"us-west-2=a.example"}, CAFile: notPEM}, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("New: %v, want an error saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.cfg.Targets) == 0 {
				if r != nil {
					t.Fatalf("New without targets = %+v, want nil", r)
				}
				if _, ok := r.For("us-west-2"); ok {
					t.Fatal("a nil Registries maps a region")
				}
				return
			}
			if got, ok := r.For("us-west-2"); !ok || got.Host != "h:5000" {
				t.Fatalf("For(us-west-2) = %+v, %v", got, ok)
			}
			if _, ok := r.For("us-east-1"); ok {
				t.Fatal("an unmapped region is mapped")
			}
			if len(r.insecure) != 1 || r.insecure[0] != "h:5000" {
				t.Errorf("insecure hosts %v, want [h:5000] (listed without its port)", r.insecure)
			}
		})
	}
}

// FuzzParseTarget: any accepted value names a valid region and a host,
// prints back as given, and makes a reference go-containerregistry
// would accept for a valid repository and tag.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"us-west-2=h", "us-west-2=h:5000/a/b", "ap-south-1=[::1]:1/x", "x=y", "us-east-1=a:b:c", "us-east-1=harbor", "us-east-1=Reg.Example:5/a", "us-east-1=h/A", "=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		if tg.String() != s {
			t.Fatalf("ParseTarget(%q).String() = %q", s, tg.String())
		}
		if tg.Host == "" || tg.Region == "" {
			t.Fatalf("ParseTarget(%q) = %+v", s, tg)
		}
		ref, err := name.ParseReference(tg.Repository("app") + ":v1")
		if err != nil {
			t.Fatalf("ParseTarget(%q) gives the reference %s: %v", s, tg.Repository("app")+":v1", err)
		}
		if ref.Context().RegistryStr() != tg.Host {
			t.Fatalf("ParseTarget(%q): the reference %s is in the registry %s, not %s", s, ref, ref.Context().RegistryStr(), tg.Host)
		}
	})
}
