package edit

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/peertape/peertape/event"
)

// Peers selects the events about some peers, read off the wire bytes
// without decoding. A peer is given by Core's peer id ("12") or by
// address: an IP address, a .onion or a .b32.i2p name, with or without a
// port ("203.0.113.7", "203.0.113.7:8333", "[2001:db8::1]:8333",
// "x….onion:8333"). Without a port an address matches every port.
//
// An event matches when
//   - netmsg: its P2P message metadata has the peer id or address;
//   - netconn: the connection (inbound, outbound, closed, evicted) has the
//     peer id or address, or a misbehaving event has the peer id;
//   - addrman (tracepoint): the inserted address or its source is the
//     address;
//   - rpc getpeerinfo: any entry has the peer id or address (the whole
//     poll is kept: events are copied, never cut);
//   - log: a debug.log message, block-check message or thread name
//     contains "peer=ID" or the address as Core prints it (an IPv6
//     address in its canonical form) between non-address characters.
//
// Nothing else matches: not the addresses listed inside addr, addrv2 or
// p2p-extractor announcements (the message matches by its sender), not
// getrawaddrman snapshots, not mempool or validation events. Peer ids are
// per node and start again when the node restarts, so an id matches that
// id on every node of the input and across restarts.
type Peers struct {
	ids   map[uint64]bool
	addrs []peerAddr
	spec  []string
}

type peerAddr struct {
	ip   netip.Addr // valid for IP addresses
	name string     // lower-case .onion or .b32.i2p name otherwise
	port string     // "" matches any port
	text string     // host as Core prints it, for log lines
}

// ParsePeers parses peer ids and addresses; each element may itself be a
// comma-separated list, as flags deliver them.
func ParsePeers(specs []string) (*Peers, error) {
	p := &Peers{ids: map[uint64]bool{}}
	for _, spec := range specs {
		for _, s := range strings.Split(spec, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			p.spec = append(p.spec, s)
			if id, err := strconv.ParseUint(s, 10, 64); err == nil {
				p.ids[id] = true
				continue
			}
			a, ok := parsePeerAddr(s)
			if !ok {
				return nil, fmt.Errorf("peer %q: want a peer id or an IP, .onion or .b32.i2p address with optional port", s)
			}
			p.addrs = append(p.addrs, a)
		}
	}
	return p, nil
}

// Empty reports whether no peer was given (a nil Peers is empty).
func (p *Peers) Empty() bool { return p == nil || (len(p.ids) == 0 && len(p.addrs) == 0) }

// String lists the peers as given.
func (p *Peers) String() string {
	if p == nil {
		return ""
	}
	return strings.Join(p.spec, ",")
}

func parsePeerAddr(s string) (peerAddr, bool) {
	host, port := hostPort(s)
	if n, err := strconv.Atoi(port); port != "" && (err != nil || n < 0 || n > 65535) {
		return peerAddr{}, false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap().WithZone("")
		return peerAddr{ip: ip, port: port, text: ip.String()}, true
	}
	host = strings.ToLower(host)
	if (strings.HasSuffix(host, ".onion") || strings.HasSuffix(host, ".b32.i2p")) && !strings.ContainsAny(host, ":/ []") {
		return peerAddr{name: host, port: port, text: host}, true
	}
	return peerAddr{}, false
}

// hostPort splits an address as Core prints it ("1.2.3.4:8333",
// "[2001:db8::1]:8333", "x.onion:8333") or as a user may give it without
// port ("2001:db8::1", "[2001:db8::1]").
func hostPort(s string) (host, port string) {
	if h, p, err := net.SplitHostPort(s); err == nil {
		return h, p
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return s[1 : len(s)-1], ""
	}
	return s, ""
}

// matchAddr reports whether the host:port text an event carries is one of
// the peers.
func (p *Peers) matchAddr(b []byte) bool {
	if len(p.addrs) == 0 || len(b) == 0 {
		return false
	}
	host, port := hostPort(string(b))
	var ip netip.Addr
	isIP := false
	if a, err := netip.ParseAddr(host); err == nil {
		ip, isIP = a.Unmap().WithZone(""), true
	}
	for _, a := range p.addrs {
		if a.port != "" && a.port != port {
			continue
		}
		if isIP && a.ip.IsValid() && a.ip == ip {
			return true
		}
		if !isIP && a.name != "" && strings.EqualFold(host, a.name) {
			return true
		}
	}
	return false
}

// matchText reports whether free text mentions one of the peers.
func (p *Peers) matchText(b []byte) bool {
	s := string(b)
	for id := range p.ids {
		needle := "peer=" + strconv.FormatUint(id, 10)
		for off := 0; ; {
			i := strings.Index(s[off:], needle)
			if i < 0 {
				break
			}
			end := off + i + len(needle)
			if end == len(s) || s[end] < '0' || s[end] > '9' {
				return true
			}
			off = end
		}
	}
	for _, a := range p.addrs {
		for off := 0; ; {
			i := indexFold(s[off:], a.text)
			if i < 0 {
				break
			}
			start, end := off+i, off+i+len(a.text)
			off = end
			if a.mentionedAt(s, start, end) {
				return true
			}
		}
	}
	return false
}

// mentionedAt reports whether the occurrence of a's host at s[start:end]
// stands alone (not inside a longer address or word) and has a's port,
// if one was given.
func (a peerAddr) mentionedAt(s string, start, end int) bool {
	if start > 0 && isAddrChar(s[start-1]) {
		return false
	}
	rest := s[end:]
	bracketed := start > 0 && s[start-1] == '[' && strings.HasPrefix(rest, "]")
	if bracketed {
		rest = rest[1:]
	}
	if a.port != "" {
		p := ":" + a.port
		return strings.HasPrefix(rest, p) && (len(rest) == len(p) || !isDigit(rest[len(p)]))
	}
	if rest == "" {
		return true
	}
	switch c := rest[0]; {
	case c == '.':
		return len(rest) == 1 || !isAddrChar(rest[1]) // end of a sentence, not a longer name
	case c == ':':
		// A port follows an IPv4 address or a name; after an IPv6
		// address a colon would continue it.
		return bracketed || !a.ip.IsValid() || a.ip.Is4() || len(rest) == 1 || !isHex(rest[1])
	default:
		return !isAddrChar(c)
	}
}

func isHex(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') }

func indexFold(s, sub string) int {
	if sub == "" {
		return -1
	}
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return i
		}
	}
	return -1
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isAddrChar: characters that continue an address or a word around it.
func isAddrChar(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == ':' || c == '_'
}

// Field numbers on the paths Match reads (see proto/).
const (
	fEbpf, fRPC, fLog             = 1, 2, 4
	fEbpfMessage, fEbpfConnection = 1, 2
	fEbpfAddrman                  = 3
	fMessageMeta                  = 1
	fMetaPeerID, fMetaAddr        = 1, 2
	fConnPeerID, fConnAddr        = 1, 2
	fMisbehavingID                = 1
	fRPCPeerInfos                 = 1
	fPeerInfosInfos               = 1
	fPeerInfoID, fPeerInfoAddress = 1, 2
	fLogThread                    = 3
	fLogUnknown, fLogChecked      = 4, 6
	fUnknownRaw, fCheckedDebug    = 1, 3
)

// Match reports whether ev is about one of the peers. Malformed bytes
// match nothing.
func (p *Peers) Match(ev event.Event) bool {
	if p.Empty() {
		return true
	}
	switch ev.Kind {
	case event.NetMsg:
		return p.anyAt(ev.Raw, []protowire.Number{fEbpf, fEbpfMessage, fMessageMeta}, func(meta []byte) bool {
			return p.idOrAddr(meta, fMetaPeerID, fMetaAddr)
		})
	case event.NetConn:
		return p.anyAt(ev.Raw, []protowire.Number{fEbpf, fEbpfConnection}, func(c []byte) bool {
			return eachField(c, func(num protowire.Number, typ protowire.Type, v uint64, b []byte) bool {
				switch {
				case num >= 1 && num <= 4 && typ == protowire.BytesType:
					return eachField(b, func(num protowire.Number, typ protowire.Type, _ uint64, conn []byte) bool {
						return num == 1 && typ == protowire.BytesType && p.idOrAddr(conn, fConnPeerID, fConnAddr)
					})
				case num == 5 && typ == protowire.BytesType:
					return eachField(b, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) bool {
						return num == fMisbehavingID && typ == protowire.VarintType && p.ids[v]
					})
				}
				return false
			})
		})
	case event.Addrman:
		return p.anyAt(ev.Raw, []protowire.Number{fEbpf, fEbpfAddrman}, func(a []byte) bool {
			return eachField(a, func(num protowire.Number, typ protowire.Type, _ uint64, b []byte) bool {
				if typ != protowire.BytesType {
					return false
				}
				addr, src := protowire.Number(4), protowire.Number(6) // InsertNew
				if num == 2 {
					addr, src = 3, 5 // InsertTried
				} else if num != 1 {
					return false
				}
				return eachField(b, func(n protowire.Number, t protowire.Type, _ uint64, s []byte) bool {
					return (n == addr || n == src) && t == protowire.BytesType && p.matchAddr(s)
				})
			})
		})
	case event.RPC:
		if ev.Type != "peer_infos" {
			return false
		}
		return p.anyAt(ev.Raw, []protowire.Number{fRPC, fRPCPeerInfos}, func(infos []byte) bool {
			return eachField(infos, func(num protowire.Number, typ protowire.Type, _ uint64, info []byte) bool {
				return num == fPeerInfosInfos && typ == protowire.BytesType && p.idOrAddr(info, fPeerInfoID, fPeerInfoAddress)
			})
		})
	case event.Log:
		return p.anyAt(ev.Raw, []protowire.Number{fLog}, func(l []byte) bool {
			return eachField(l, func(num protowire.Number, typ protowire.Type, _ uint64, b []byte) bool {
				if typ != protowire.BytesType {
					return false
				}
				switch num {
				case fLogThread:
					return p.matchText(b)
				case fLogUnknown, fLogChecked:
					want := protowire.Number(fUnknownRaw)
					if num == fLogChecked {
						want = fCheckedDebug
					}
					return eachField(b, func(n protowire.Number, t protowire.Type, _ uint64, s []byte) bool {
						return n == want && t == protowire.BytesType && p.matchText(s)
					})
				}
				return false
			})
		})
	}
	return false
}

// idOrAddr reports whether message b has a peer id field idNum (varint)
// or an address field addrNum (host:port string) naming a peer.
func (p *Peers) idOrAddr(b []byte, idNum, addrNum protowire.Number) bool {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v uint64, s []byte) bool {
		switch {
		case num == idNum && typ == protowire.VarintType:
			return p.ids[v]
		case num == addrNum && typ == protowire.BytesType:
			return p.matchAddr(s)
		}
		return false
	})
}

// anyAt descends the path of message fields in b (every occurrence, as a
// decoder merges repeated ones) and reports whether fn holds for any
// message found there.
func (p *Peers) anyAt(b []byte, path []protowire.Number, fn func([]byte) bool) bool {
	if len(path) == 0 {
		return fn(b)
	}
	return eachField(b, func(num protowire.Number, typ protowire.Type, _ uint64, v []byte) bool {
		return num == path[0] && typ == protowire.BytesType && p.anyAt(v, path[1:], fn)
	})
}

// eachField calls fn for the fields of message b until fn returns true,
// and reports whether it did. Malformed bytes end the walk with false.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, buf []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var v uint64
		var buf []byte
		m := 0
		switch typ {
		case protowire.VarintType:
			v, m = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			buf, m = protowire.ConsumeBytes(b)
		default:
			m = protowire.ConsumeFieldValue(num, typ, b)
		}
		if m < 0 {
			return false
		}
		if fn(num, typ, v, buf) {
			return true
		}
		b = b[m:]
	}
	return false
}
