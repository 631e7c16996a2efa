package main

import (
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/sigv4"
)

func TestStartupLines(t *testing.T) {
	tests := []struct {
		name   string
		s      startup
		want   []string
		absent []string
	}{
		{
			name: "loopback over http",
			s:    startup{Scheme: "http", Addr: "127.0.0.1:8080", RegistryHost: "127.0.0.1:8080", Region: "us-east-1", Mode: sigv4.ModeLoopback, Console: true},
			want: []string{
				"  console:      http://127.0.0.1:8080/console/ (no sign-in, auth loopback)\n",
				"  API endpoint: http://127.0.0.1:8080 (region us-east-1)\n",
				"aws --endpoint-url http://127.0.0.1:8080 --region us-east-1 imagebuilder list-images\n",
				"  registry:     127.0.0.1:8080 (images are 127.0.0.1:8080/REPOSITORY:TAG;",
				"no login needed (auth loopback)",
				"skopeo login -u AWS --password-stdin --tls-verify=false 127.0.0.1:8080\n",
				"skopeo copy --dest-tls-verify=false oci:DIR docker://127.0.0.1:8080/base:latest\n",
			},
		},
		{
			name: "strict over https with a registry name",
			s:    startup{Scheme: "https", Addr: "[::]:8443", RegistryHost: "kiln.example:8443", Region: "eu-west-1", Mode: sigv4.ModeStrict, Console: true},
			want: []string{
				"  console:      https://127.0.0.1:8443/console/ (sign in with an access key from --credentials)\n",
				"  API endpoint: https://127.0.0.1:8443 (region eu-west-1)\n",
				"  registry:     kiln.example:8443 (",
				"    aws ecr get-login-password --endpoint-url https://127.0.0.1:8443 --region eu-west-1 | skopeo login -u AWS --password-stdin kiln.example:8443\n",
				"skopeo copy oci:DIR docker://kiln.example:8443/base:latest\n",
			},
			absent: []string{"tls-verify", "no login needed"},
		},
		{
			name:   "wildcard IPv4 listener",
			s:      startup{Scheme: "http", Addr: "0.0.0.0:9000", RegistryHost: "127.0.0.1:9000", Region: "us-east-1", Mode: sigv4.ModeOpen},
			want:   []string{"http://127.0.0.1:9000 (region", "no login needed (auth open)"},
			absent: []string{"console:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printStartup(&b, tt.s)
			got := b.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(got, a) {
					t.Errorf("unexpected %q in:\n%s", a, got)
				}
			}
			for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
				if !strings.HasPrefix(l, "  ") || strings.Contains(l, "kiln listening on") {
					t.Errorf("line %q is not indented under the ready line", l)
				}
			}
		})
	}
}

// TestServeStartupLines starts the real kiln and checks the lines after
// its ready line name the API endpoint and the registry it listens on.
func TestServeStartupLines(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	want := []string{
		"kiln listening on " + srv.URL + " (region ",
		"  console:      " + srv.URL + "/console/ (",
		"  API endpoint: " + srv.URL + " (region us-east-1)",
		"  registry:     " + srv.Addr + " (images are " + srv.Addr + "/REPOSITORY:TAG",
		"skopeo copy --dest-tls-verify=false oci:DIR docker://" + srv.Addr + "/base:latest",
	}
	var log string
	// The lines follow the ready line Start waited for; give the reader
	// a moment to pass them on.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if log = srv.Log(); strings.Contains(log, want[len(want)-1]) {
			break
		}
	}
	for _, w := range want {
		if !strings.Contains(log, w) {
			t.Errorf("missing %q in kiln's output:\n%s", w, log)
		}
	}
	if i, j := strings.Index(log, "kiln listening on"), strings.Index(log, "console:"); i < 0 || j < i {
		t.Errorf("the endpoint lines do not follow the ready line:\n%s", log)
	}
}
