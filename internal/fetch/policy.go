// Package fetch is the one way kiln itself reaches out to a URL a caller
// named: component and Dockerfile-template documents, ImportDiskImage
// sources, container ADD URLs and the operator's S3 endpoint.
//
// A URL in an API request is chosen by whoever holds a key, so without a
// guard kiln becomes their proxy into the host's loopback services, the
// cloud metadata service and the private network around it. The guard
// sits where it cannot be raced: the address is checked when the socket
// connects (net.Dialer.Control sees the resolved IP), so a name that
// resolves to a public address at one moment and to 127.0.0.1 the next
// (DNS rebinding) gains nothing. Every redirect is a new connection and
// is checked the same way; sizes and times are bounded; and the errors a
// caller sees say only "refused by kiln's fetch policy" or "could not
// fetch" (with an HTTP status code at most), never what the remote end
// said, so the fetcher cannot be used to read or port-scan what it
// refuses. The details go to kiln's own log for the operator.
package fetch

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// blocked are the ranges no fetch may connect to unless the operator
// allows them: everything that is not the public internet. A destination
// there is either the host itself, the cloud's control plane (the
// metadata service at 169.254.169.254) or a private network kiln's
// callers are not entitled to reach through kiln.
var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network", includes the unspecified address
		"10.0.0.0/8",      // private (RFC 1918)
		"100.64.0.0/10",   // carrier-grade NAT (RFC 6598)
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, includes the metadata service
		"172.16.0.0/12",   // private (RFC 1918)
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
		"192.168.0.0/16",  // private (RFC 1918)
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, includes broadcast
		"::/128",          // unspecified
		"::1/128",         // loopback
		"::/96",           // IPv4-compatible (deprecated)
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard-only
		"2001::/32",       // Teredo: an IPv4 address kiln cannot check hides inside
		"2001:db8::/32",   // documentation
		"fc00::/7",        // unique local (private)
		"fe80::/10",       // link-local
		"fec0::/10",       // site-local (deprecated)
		"ff00::/8",        // multicast
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

var (
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	sixTo = netip.MustParsePrefix("2002::/16")
)

// Policy decides which addresses kiln may connect to.
type Policy struct {
	// Allow are ranges the operator opened (kiln serve --allow-fetch-cidr):
	// an address in one of them is allowed even if it is private.
	Allow []netip.Prefix
}

// ParseCIDRs parses --allow-fetch-cidr values: CIDR prefixes, or single
// addresses meaning a /32 or /128.
func ParseCIDRs(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		v = strings.TrimSpace(v)
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not a CIDR prefix like 10.0.0.0/8 or an IP address", v)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// errBlocked is why Check refuses; callers see only ErrRefused.
var errBlocked = errors.New("not a public address")

// Check reports whether kiln may connect to ip. IPv4 addresses written as
// IPv6 (::ffff:a.b.c.d, NAT64 and 6to4 forms) are judged by the IPv4
// address they carry, so no spelling of 127.0.0.1 gets through.
func (p Policy) Check(ip netip.Addr) error {
	ip = ip.WithZone("")
	if !ip.IsValid() {
		return errBlocked
	}
	if p.allowed(ip) {
		return nil
	}
	v4 := ip.Unmap()
	switch {
	case nat64.Contains(v4):
		b := v4.As16()
		v4 = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	case sixTo.Contains(v4):
		b := v4.As16()
		v4 = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
	}
	if v4 != ip && p.allowed(v4) {
		return nil
	}
	for _, b := range blocked {
		if b.Contains(v4) {
			return errBlocked
		}
	}
	return nil
}

func (p Policy) allowed(ip netip.Addr) bool {
	for _, a := range p.Allow {
		if a.Contains(ip) || a.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}
