package main

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/kiln-build/kiln/internal/sigv4"
)

// startup is what a newcomer needs right after `kiln serve` is ready:
// where the API is and how to push to and pull from the registry. The
// ready line above it stays as it is (scripts and tests parse
// "kiln listening on URL"); these lines follow it.
type startup struct {
	Scheme       string // http or https
	Addr         string // the listener's host:port
	RegistryHost string // host:port in image names (--registry-host)
	Region       string
	Mode         sigv4.Mode
	Console      bool // the web console is served (--console)
}

// dialable turns a wildcard listen address (0.0.0.0:8080, [::]:8080) into
// one a client on this machine can use.
func dialable(addr string) string {
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// lines renders the start-up lines, indented under the ready line.
func (s startup) lines() []string {
	endpoint := s.Scheme + "://" + dialable(s.Addr)
	reg := s.RegistryHost
	tlsFlag := ""
	if s.Scheme == "http" {
		// skopeo and docker want TLS unless told otherwise.
		tlsFlag = " --tls-verify=false"
	}
	var out []string
	if s.Console {
		how := "no sign-in, auth " + s.Mode.String()
		if s.Mode == sigv4.ModeStrict {
			how = "sign in with an access key from --credentials"
		}
		out = append(out, "  console:      "+endpoint+"/console/ ("+how+")")
	}
	out = append(out,
		"  API endpoint: "+endpoint+" (region "+s.Region+")",
		"    aws --endpoint-url "+endpoint+" --region "+s.Region+" imagebuilder list-images",
		"  registry:     "+reg+" (images are "+reg+"/REPOSITORY:TAG; ECR's API is at the API endpoint)",
	)
	if s.Mode == sigv4.ModeStrict {
		out = append(out, "    aws ecr get-login-password --endpoint-url "+endpoint+" --region "+s.Region+
			" | skopeo login -u AWS --password-stdin"+tlsFlag+" "+reg)
	} else {
		out = append(out, "    no login needed (auth "+s.Mode.String()+"); under --auth strict: aws ecr get-login-password --endpoint-url "+
			endpoint+" | skopeo login -u AWS --password-stdin"+tlsFlag+" "+reg)
	}
	out = append(out, "    skopeo copy"+strings.Replace(tlsFlag, "--tls", "--dest-tls", 1)+" oci:DIR docker://"+reg+"/base:latest")
	return out
}

// printStartup writes the start-up lines after the ready line.
func printStartup(w io.Writer, s startup) {
	for _, l := range s.lines() {
		fmt.Fprintln(w, l)
	}
}
