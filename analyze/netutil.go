package analyze

import (
	"net/netip"
	"strings"
)

// ipFromAddr returns the host part of a "host:port" peer address the way
// peer-observer does: everything before the last ':', brackets removed.
// An address without ':' is returned as it is.
func ipFromAddr(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr
	}
	return stripBrackets(addr[:i])
}

var bracketStripper = strings.NewReplacer("[", "", "]", "")

func stripBrackets(s string) string {
	if strings.ContainsAny(s, "[]") {
		return bracketStripper.Replace(s)
	}
	return s
}

// subnet returns the /24 of an IPv4 or the /64 of an IPv6 address in text
// form ("192.0.2.0", "2001:db8:1:2::"), or ip unchanged when it is not an
// IP address (onion, I2P), as peer-observer labels subnets. An
// IPv4-mapped IPv6 address counts as IPv6, as it does upstream.
func subnet(ip string) string {
	a, err := netip.ParseAddr(stripBrackets(ip))
	if err != nil {
		return ip
	}
	if a.Zone() != "" {
		a = a.WithZone("")
	}
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ip
	}
	return p.Addr().String()
}

// parseIP parses the host of a peer address for list lookups; the zero
// Addr when it is not an IP address.
func parseIP(host string) netip.Addr {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.WithZone("").Unmap()
}
