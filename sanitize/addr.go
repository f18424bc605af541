package sanitize

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// The fixed placeholders for the node's own addresses. They come from the
// documentation ranges (RFC 5737, RFC 3849), so they never name a real
// host; a pseudonym may equal one only with probability 2^-32 (IPv4) or
// less per distinct address.
var (
	SelfIPv4  = netip.MustParseAddr("192.0.2.1")
	SelfIPv6  = netip.MustParseAddr("2001:db8::1")
	SelfCJDNS = netip.MustParseAddr("fc00::1")
	// The Tor and I2P placeholders encode all-zero keys: 16, 56 (or 52 in
	// peer-observer's rendering) and 52 letters "a" before the suffix.
	SelfTorV2 = strings.Repeat("a", 16) + ".onion"
	SelfTorV3 = torV3String(make([]byte, 32), 3)
	SelfI2P   = strings.Repeat("a", 52) + ".b32.i2p"
)

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Address is a pseudonymizer for single addresses: the building block of
// Sanitizer, exported for tools that need the pseudonym of one address
// (for example to select a peer in a sanitized archive). It is not safe
// for concurrent use.
type Address struct {
	v4, v6        *prefixPerm
	torV2Key      []byte
	torV3Key      []byte
	i2pKey        []byte
	unknownKey    []byte
	labelKey      []byte
	scrubPorts    bool
	self          map[string]struct{}
	ipCache       map[netip.Addr]netip.Addr
	hostPortCache map[string]string
}

// cacheLimit bounds each memo table; a full table is cleared, which costs
// only recomputation.
const cacheLimit = 1 << 18

// NewAddress returns the pseudonymizer for key. self lists the node's own
// addresses (any text form NewAddress can parse, with or without port).
func NewAddress(key Key, scrubPorts bool, self []string) (*Address, error) {
	a := &Address{
		v4:            newPrefixPerm(key.derive("ipv4"), 32, nil),
		v6:            newPrefixPerm(key.derive("ipv6"), 128, ipv6Pins),
		torV2Key:      key.derive("torv2"),
		torV3Key:      key.derive("torv3"),
		i2pKey:        key.derive("i2p"),
		unknownKey:    key.derive("unknown-network"),
		labelKey:      key.derive("label"),
		scrubPorts:    scrubPorts,
		self:          map[string]struct{}{},
		ipCache:       map[netip.Addr]netip.Addr{},
		hostPortCache: map[string]string{},
	}
	for _, s := range self {
		if err := a.AddSelf(s); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// AddSelf marks an address (with or without port) as one of the node's
// own: from now on it maps to the placeholder of its family.
func (a *Address) AddSelf(s string) error {
	id, ok := selfID(s)
	if !ok {
		return fmt.Errorf("self address %q: not an IPv4, IPv6, onion or I2P address", s)
	}
	if _, dup := a.self[id]; !dup {
		a.self[id] = struct{}{}
		// Earlier results may have pseudonymized it.
		clear(a.ipCache)
		clear(a.hostPortCache)
	}
	return nil
}

// SelfCount returns how many distinct own addresses are known.
func (a *Address) SelfCount() int { return len(a.self) }

func selfID(s string) (string, bool) {
	host := strings.TrimSpace(s)
	if h, _, ok := splitHostPort(host); ok {
		host = h
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ipID(ip), true
	}
	host = strings.ToLower(host)
	switch {
	case strings.HasSuffix(host, ".b32.i2p"):
		if b, err := b32.DecodeString(strings.TrimSuffix(host, ".b32.i2p")); err == nil && len(b) == 32 {
			return "i" + string(b), true
		}
	case strings.HasSuffix(host, ".onion"):
		b, err := b32.DecodeString(strings.TrimSuffix(host, ".onion"))
		if err != nil {
			return "", false
		}
		switch len(b) {
		case 10:
			return "t2" + string(b), true
		case 32, 35:
			return "t3" + string(b[:32]), true
		}
	}
	return "", false
}

func ipID(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		b := ip.As4()
		return "4" + string(b[:])
	}
	b := ip.As16()
	if isOnionCat(b) {
		return "t2" + string(b[6:])
	}
	return "6" + string(b[:])
}

var onionCatPrefix = [6]byte{0xfd, 0x87, 0xd8, 0x7e, 0xeb, 0x43}

func isOnionCat(b [16]byte) bool { return [6]byte(b[:6]) == onionCatPrefix }

func isCJDNS(b [16]byte) bool { return b[0] == 0xfc }

// IP returns the pseudonym of ip. IPv4-mapped addresses map to the mapped
// form of the IPv4 pseudonym, OnionCat addresses to the OnionCat form of
// the Tor v2 pseudonym, and the node's own addresses to the placeholders.
// Zones are dropped.
func (a *Address) IP(ip netip.Addr) netip.Addr {
	if !ip.IsValid() {
		return ip
	}
	ip = ip.WithZone("")
	if r, ok := a.ipCache[ip]; ok {
		return r
	}
	r := a.ip(ip)
	if len(a.ipCache) >= cacheLimit {
		clear(a.ipCache)
	}
	a.ipCache[ip] = r
	return r
}

func (a *Address) ip(ip netip.Addr) netip.Addr {
	if ip.Is4In6() {
		v4 := a.ip(ip.Unmap()).As4()
		return netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: v4[0], 13: v4[1], 14: v4[2], 15: v4[3]})
	}
	_, isSelf := a.self[ipID(ip)]
	if ip.Is4() {
		if isSelf {
			return SelfIPv4
		}
		if ip == ipv4Any || ip == ipv4Loopback {
			return ip
		}
		// Cycle walking: the permutation is a bijection, so following it
		// from ip leaves the two fixed points again before returning to ip.
		// Only the two addresses whose image is a fixed point are moved
		// further, and they alone lose prefix preservation.
		b4 := ip.As4()
		out := netip.AddrFrom4(b4)
		for {
			b := out.As4()
			p := a.v4.permute([16]byte{b[0], b[1], b[2], b[3]})
			out = netip.AddrFrom4([4]byte(p[:4]))
			if out != ipv4Any && out != ipv4Loopback {
				return out
			}
		}
	}
	b := ip.As16()
	if isOnionCat(b) {
		var out [16]byte
		copy(out[:6], onionCatPrefix[:])
		copy(out[6:], a.TorV2(b[6:]))
		return netip.AddrFrom16(out)
	}
	if isSelf {
		if isCJDNS(b) {
			return SelfCJDNS
		}
		return SelfIPv6
	}
	return netip.AddrFrom16(a.v6.permute(b))
}

// Port returns the port to publish: p, or 0 with ScrubPorts.
func (a *Address) Port(p uint32) uint32 {
	if a.scrubPorts {
		return 0
	}
	return p
}

func keyed(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// TorV2 returns the pseudonym of a 10-byte Tor v2 address.
func (a *Address) TorV2(b []byte) []byte {
	if _, ok := a.self["t2"+string(b)]; ok {
		return make([]byte, 10)
	}
	return keyed(a.torV2Key, b)[:10]
}

// TorV3 returns the pseudonym of a 32-byte Tor v3 public key.
func (a *Address) TorV3(pub []byte) []byte {
	if _, ok := a.self["t3"+string(pub)]; ok {
		return make([]byte, 32)
	}
	return keyed(a.torV3Key, pub)
}

// I2P returns the pseudonym of a 32-byte I2P destination hash.
func (a *Address) I2P(b []byte) []byte {
	if _, ok := a.self["i"+string(b)]; ok {
		return make([]byte, 32)
	}
	return keyed(a.i2pKey, b)
}

// Unknown returns keyed bytes of the same length for an address of a
// network this build does not know (BIP155 network id netID).
func (a *Address) Unknown(netID uint32, b []byte) []byte {
	out := make([]byte, 0, len(b)+sha256.Size)
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], netID)
	for j := uint32(0); len(out) < len(b); j++ {
		binary.BigEndian.PutUint32(hdr[4:], j)
		out = append(out, keyed(a.unknownKey, hdr[:], b)...)
	}
	return out[:len(b)]
}

// label returns a keyed string of the same length over the base32
// alphabet, for onion-like labels of no known length.
func (a *Address) label(s string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	out := make([]byte, 0, len(s))
	var ctr [4]byte
	for j := uint32(0); len(out) < len(s); j++ {
		binary.BigEndian.PutUint32(ctr[:], j)
		for _, c := range keyed(a.labelKey, ctr[:], []byte(strings.ToLower(s))) {
			if len(out) == len(s) {
				break
			}
			out = append(out, alphabet[c&31])
		}
	}
	return string(out)
}

func torV3String(pub []byte, version byte) string {
	return b32.EncodeToString(torV3Bytes(pub, version)) + ".onion"
}

// torV3Bytes appends Tor's checksum and version byte to pub, the 35 bytes
// a v3 onion name encodes.
func torV3Bytes(pub []byte, version byte) []byte {
	h := sha3.New256()
	h.Write([]byte(".onion checksum"))
	h.Write(pub)
	h.Write([]byte{version})
	sum := h.Sum(nil)
	out := make([]byte, 0, 35)
	out = append(out, pub...)
	out = append(out, sum[0], sum[1], version)
	return out
}

// onionLabel returns the pseudonym of the label before ".onion": 16
// characters (v2), 56 (v3, with a valid checksum) or 52 (peer-observer's
// rendering of a v3 key), keeping the length; other labels get a keyed
// label of the same length.
func (a *Address) onionLabel(label string) string {
	lower := strings.ToLower(label)
	switch len(lower) {
	case 16:
		if b, err := b32.DecodeString(lower); err == nil && len(b) == 10 {
			return b32.EncodeToString(a.TorV2(b))
		}
	case 52:
		if b, err := b32.DecodeString(lower); err == nil && len(b) == 32 {
			return b32.EncodeToString(a.TorV3(b))
		}
	case 56:
		if b, err := b32.DecodeString(lower); err == nil && len(b) == 35 {
			return b32.EncodeToString(torV3Bytes(a.TorV3(b[:32]), b[34]))
		}
	}
	return a.label(lower)
}

// i2pLabel returns the pseudonym of the label before ".b32.i2p".
func (a *Address) i2pLabel(label string) string {
	lower := strings.ToLower(label)
	if len(lower) == 52 {
		if b, err := b32.DecodeString(lower); err == nil && len(b) == 32 {
			return b32.EncodeToString(a.I2P(b))
		}
	}
	return a.label(lower)
}

// Host returns the pseudonym of a bare host: an IP address in any text
// form, a .onion or a .b32.i2p name. ok is false when host is none of
// these.
func (a *Address) Host(host string) (string, bool) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return a.IP(ip).String(), true
	}
	if label, ok := cutSuffixFold(host, ".b32.i2p"); ok && label != "" {
		return a.i2pLabel(label) + ".b32.i2p", true
	}
	if label, ok := cutSuffixFold(host, ".onion"); ok && label != "" && !strings.Contains(label, ".") {
		return a.onionLabel(label) + ".onion", true
	}
	return "", false
}

func cutSuffixFold(s, suffix string) (string, bool) {
	if len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}

// HostPort returns the pseudonym of an address as Bitcoin Core prints it:
// "1.2.3.4:8333", "[2001:db8::1]:8333", "name.onion:8333",
// "name.b32.i2p:0", or a bare host. Anything else is passed through the
// free-text scanner, so addresses inside it are still replaced.
func (a *Address) HostPort(s string) string {
	if s == "" {
		return s
	}
	if r, ok := a.hostPortCache[s]; ok {
		return r
	}
	r := a.hostPort(s)
	if len(a.hostPortCache) >= cacheLimit {
		clear(a.hostPortCache)
	}
	a.hostPortCache[s] = r
	return r
}

// hostPortBytes is HostPort for bytes, without a string copy when the
// answer is cached.
func (a *Address) hostPortBytes(b []byte) string {
	if r, ok := a.hostPortCache[string(b)]; ok {
		return r
	}
	return a.HostPort(string(b))
}

func (a *Address) hostPort(s string) string {
	if h, ok := a.Host(s); ok {
		return h
	}
	if host, port, ok := splitHostPort(s); ok {
		if h, ok := a.Host(host); ok {
			if strings.HasPrefix(s, "[") {
				h = "[" + h + "]"
			}
			if strings.HasSuffix(s, "]") {
				return h // "[host]" without port
			}
			return h + ":" + a.portText(port)
		}
	}
	return a.Text(s)
}

// portText returns the port digits to publish.
func (a *Address) portText(port string) string {
	if a.scrubPorts && port != "" {
		return "0"
	}
	return port
}

// splitHostPort splits "host:port" and "[host]:port" where port is empty
// or decimal digits (it may be cut short by the tracepoint's 67-byte
// limit). A bracketed host without port is also accepted.
func splitHostPort(s string) (host, port string, ok bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false
		}
		host, rest := s[1:end], s[end+1:]
		if rest == "" {
			return host, "", true
		}
		if rest[0] != ':' || !allDigits(rest[1:]) {
			return "", "", false
		}
		return host, rest[1:], true
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.IndexByte(s[:i], ':') >= 0 || !allDigits(s[i+1:]) {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

func allDigits(s string) bool {
	if len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

var (
	ipv4Any      = netip.AddrFrom4([4]byte{})
	ipv4Loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})
)

// keptAsIs reports whether ip is one of the fixed points (0.0.0.0,
// 127.0.0.1, ::, ::1 and the IPv4-mapped forms), which identify nobody
// and appear unchanged in sanitized output.
func keptAsIs(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	return ip == ipv4Any || ip == ipv4Loopback || ip == netip.IPv6Unspecified() || ip == netip.IPv6Loopback()
}
