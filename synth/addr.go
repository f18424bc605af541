package synth

import (
	"crypto/sha3"
	"encoding/base32"
	"net/netip"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// Core's Network enum, as the connection tracepoints pass it.
const (
	netUnroutable = 0
	netIPv4       = 1
	netIPv6       = 2
	netOnion      = 3
	netI2P        = 4
	netCJDNS      = 5
)

var netNames = [...]string{"not_publicly_routable", "ipv4", "ipv6", "onion", "i2p", "cjdns"}

// netAddr is one network address: a peer's, or an addrman entry.
type netAddr struct {
	net      uint32
	ip       [16]byte // IPv4 in the first 4 bytes; IPv6 and CJDNS all 16
	key      [32]byte // Tor v3 public key, I2P destination hash
	port     uint16
	services uint64
	time     uint32 // addrman timestamp, UNIX s
	asn      uint32
	host     string // Core's rendering, cached
	// addrman position
	tried       bool
	bucket, pos uint32
	source      *netAddr
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func lowerB32(b []byte) string { return strings.ToLower(b32.EncodeToString(b)) }

// coreHost renders the address as Core does (CNetAddr::ToStringAddr): a
// real Tor v3 address has the checksum and version after the key.
func (a *netAddr) coreHost() string {
	if a.host != "" {
		return a.host
	}
	switch a.net {
	case netIPv4:
		a.host = netip.AddrFrom4([4]byte(a.ip[:4])).String()
	case netIPv6, netCJDNS:
		a.host = netip.AddrFrom16(a.ip).String()
	case netOnion:
		h := sha3.New256()
		h.Write([]byte(".onion checksum"))
		h.Write(a.key[:])
		h.Write([]byte{3})
		sum := h.Sum(nil)
		full := append(append(a.key[:0:0], a.key[:]...), sum[0], sum[1], 3)
		a.host = lowerB32(full) + ".onion"
	case netI2P:
		a.host = lowerB32(a.key[:]) + ".b32.i2p"
	default:
		a.host = "127.0.0.1"
	}
	return a.host
}

// hostPort is CService::ToStringAddrPort: IPv6 and CJDNS in brackets.
func (a *netAddr) hostPort(port uint16) string {
	h := a.coreHost()
	if a.net == netIPv6 || a.net == netCJDNS {
		h = "[" + h + "]"
	}
	return h + ":" + strconv.Itoa(int(port))
}

// pbAddress renders the entry the way peer-observer's extractor decodes
// addr/addrv2 messages (reference §2.7): Tor v3 is base32 of the bare
// 32-byte key, 52 characters, without checksum.
func (a *netAddr) pbAddress(ts uint32) *pb.Address { return a.pbAddressPort(ts, a.port) }

func (a *netAddr) pbAddressPort(ts uint32, port uint16) *pb.Address {
	out := &pb.Address{Timestamp: proto.Uint32(ts), Services: proto.Uint64(a.services), Port: proto.Uint32(uint32(port))}
	switch a.net {
	case netIPv4:
		out.Address = &pb.Address_Ipv4{Ipv4: a.coreHost()}
	case netIPv6:
		out.Address = &pb.Address_Ipv6{Ipv6: a.coreHost()}
	case netOnion:
		out.Address = &pb.Address_Torv3{Torv3: lowerB32(a.key[:]) + ".onion"}
	case netI2P:
		out.Address = &pb.Address_I2P{I2P: a.coreHost()}
	case netCJDNS:
		out.Address = &pb.Address_Cjdns{Cjdns: a.coreHost()}
	}
	return out
}

// v1 reports whether the address fits a legacy addr message.
func (a *netAddr) v1() bool { return a.net == netIPv4 || a.net == netIPv6 }

// addrv2EntrySize is one BIP155 entry: time, compact services, network id,
// address length and bytes, port.
func (a *netAddr) addrv2EntrySize() int {
	n := 4 + varintLen(a.services) + 1 + 1 + 2
	switch a.net {
	case netIPv4:
		n += 4
	case netIPv6, netCJDNS:
		n += 16
	default:
		n += 32
	}
	return n
}

const addrV1EntrySize = 30

// Public-looking first octets for generated IPv4 addresses.
var v4FirstOctets = []byte{2, 5, 23, 31, 37, 45, 46, 51, 62, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81,
	82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 104, 107, 108, 109, 115, 116, 118, 121, 123,
	128, 129, 130, 131, 134, 135, 136, 137, 138, 139, 141, 142, 143, 144, 145, 146, 147, 148, 149, 151, 152, 154, 155,
	157, 158, 159, 162, 163, 164, 165, 167, 168, 170, 172, 173, 174, 176, 178, 180, 181, 185, 186, 188, 190, 193, 194,
	195, 197, 199, 201, 202, 203, 204, 206, 207, 208, 209, 211, 212, 213, 216, 217, 218, 219, 220, 221, 222}

// Common IPv6 /32 prefixes of residential and hosting networks.
var v6Prefixes = [][2]uint16{{0x2a01, 0x04f8}, {0x2a01, 0x04f9}, {0x2001, 0x41d0}, {0x2a02, 0x8108}, {0x2003, 0x00e5},
	{0x2600, 0x1700}, {0x2601, 0x0644}, {0x2604, 0xa880}, {0x2607, 0xf8b0}, {0x2a03, 0xb0c0}, {0x2a05, 0xd014},
	{0x2001, 0x0bc8}, {0x2a00, 0x1450}, {0x2406, 0xda14}, {0x2804, 0x0d4c}, {0x2a0e, 0x97c0}}

// ASNs for generated addresses (hosting providers and large ISPs).
var asns = []uint32{24940, 16276, 14061, 16509, 15169, 8075, 63949, 20473, 51167, 7922, 3320, 3215, 5089, 701, 7018,
	209, 12322, 6830, 1136, 3352, 2856, 4766, 4134, 9808, 13335, 36352, 197540, 60781, 12876, 29802, 58212, 43350,
	8560, 31898, 42708, 6939, 3462, 9009, 62240, 212238}

// randomAddr makes a fresh address on network net.
func randomAddr(r *rng, net uint32) *netAddr {
	a := &netAddr{net: net, port: 8333}
	switch net {
	case netIPv4:
		a.ip[0] = v4FirstOctets[r.intn(len(v4FirstOctets))]
		r.fill(a.ip[1:4])
		if a.ip[3] == 0 || a.ip[3] == 255 {
			a.ip[3] = byte(r.between(1, 254))
		}
		if a.ip[0] == 172 && a.ip[1]&0xf0 == 0x10 { // 172.16.0.0/12
			a.ip[1] = 0x40
		}
		if a.ip[0] == 192 && a.ip[1] == 168 {
			a.ip[1] = 169
		}
	case netIPv6:
		pre := v6Prefixes[r.intn(len(v6Prefixes))]
		a.ip[0], a.ip[1], a.ip[2], a.ip[3] = byte(pre[0]>>8), byte(pre[0]), byte(pre[1]>>8), byte(pre[1])
		r.fill(a.ip[4:])
		if r.chance(0.4) { // hosting: ::2, ::1:5 style interface ids
			for i := 8; i < 15; i++ {
				a.ip[i] = 0
			}
			a.ip[15] = byte(r.between(1, 32))
		}
	case netCJDNS:
		a.ip[0] = 0xfc
		r.fill(a.ip[1:])
	case netOnion, netI2P:
		r.fill(a.key[:])
	}
	if net == netI2P {
		a.port = 0
	} else if r.chance(0.04) {
		a.port = uint16(r.between(1024, 65535))
	}
	a.services = pickServices(r)
	if net == netIPv4 || net == netIPv6 {
		a.asn = asns[mix64(uint64(a.ip[0])<<24|uint64(a.ip[1])<<16|uint64(a.ip[2])<<8)%uint64(len(asns))]
	}
	return a
}

// pickServices draws the service bits full nodes advertise.
func pickServices(r *rng) uint64 {
	switch x := r.float(); {
	case x < 0.62:
		return 0x0c09 // NETWORK|WITNESS|NETWORK_LIMITED|P2P_V2
	case x < 0.80:
		return 0x0409 // NETWORK|WITNESS|NETWORK_LIMITED
	case x < 0.87:
		return 0x0c49 // ... |COMPACT_FILTERS
	case x < 0.93:
		return 0x0c08 // pruned: WITNESS|NETWORK_LIMITED|P2P_V2
	case x < 0.97:
		return 0x0009
	default:
		return 0x0449
	}
}

var netMix = newWeighted(55, 17, 20, 5, 3) // IPv4, IPv6, onion, I2P, CJDNS

func randomNet(r *rng) uint32 { return uint32(netMix.pick(r) + 1) }

// addrBook is the node's address manager, modelled at about a tenth of a
// mainnet addrman so that getrawaddrman stays modest: a new table and a
// tried table with bucket positions, sources and timestamps.
type addrBook struct {
	s       *sim
	entries []*netAddr
	used    map[uint64]*netAddr // bucket/position -> entry
	local   *netAddr            // our own IPv4 address
	onion   *netAddr            // our own onion service
	cache   []*netAddr          // cached getaddr response (Core caches it for ~24 h)
	cacheV1 []*netAddr
	cacheAt int64
	changes uint64
}

const (
	newBuckets, triedBuckets, bucketSize = 1024, 256, 64
	addrmanNew, addrmanTried             = 1700, 400
	getaddrMax                           = 1000
)

func newAddrBook(s *sim) *addrBook {
	b := &addrBook{s: s, used: make(map[uint64]*netAddr)}
	r := s.rAddr
	b.local = randomAddr(r, netIPv4)
	b.local.services = nodeServices
	b.onion = randomAddr(r, netOnion)
	b.onion.services = nodeServices
	now := uint32(s.start / 1000)
	var sources []*netAddr
	for range 300 {
		sources = append(sources, randomAddr(r, randomNet(r)))
	}
	for i := range addrmanNew + addrmanTried {
		a := randomAddr(r, randomNet(r))
		a.time = now - uint32(r.exp(3*86400))
		a.source = sources[r.intn(len(sources))]
		b.place(a, i >= addrmanNew)
		b.entries = append(b.entries, a)
	}
	b.refreshCache()
	return b
}

func posKey(tried bool, bucket, pos uint32) uint64 {
	k := uint64(bucket)<<8 | uint64(pos)
	if tried {
		k |= 1 << 40
	}
	return k
}

// place puts a in a free position of its table, picked from its hash like
// Core's bucketing; an occupied position is probed onwards.
func (b *addrBook) place(a *netAddr, tried bool) {
	n := uint32(newBuckets)
	if tried {
		n = triedBuckets
	}
	h := mix64(uint64(a.ip[0])<<32 | uint64(a.ip[3])<<24 | uint64(a.key[0])<<16 | uint64(a.key[5]) | uint64(a.port)<<40 ^ uint64(len(b.entries)))
	for i := uint64(0); ; i++ {
		x := mix64(h + i)
		bucket, pos := uint32(x%uint64(n)), uint32((x>>32)%bucketSize)
		k := posKey(tried, bucket, pos)
		if _, ok := b.used[k]; !ok {
			a.tried, a.bucket, a.pos = tried, bucket, pos
			b.used[k] = a
			return
		}
	}
}

func (b *addrBook) remove(a *netAddr) {
	delete(b.used, posKey(a.tried, a.bucket, a.pos))
}

// refreshCache picks the cached getaddr response: 23% of the addrman, at
// most 1,000 entries, kept for about a day.
func (b *addrBook) refreshCache() {
	r := b.s.rAddr
	n := min(getaddrMax, len(b.entries)*23/100)
	b.cache = b.cache[:0]
	b.cacheV1 = b.cacheV1[:0]
	for _, i := range r.r.Perm(len(b.entries))[:n] {
		a := *b.entries[i] // a snapshot: later gossip must not change it
		a.coreHost()
		b.cache = append(b.cache, &a)
		if a.v1() {
			b.cacheV1 = append(b.cacheV1, &a)
		}
	}
	b.cacheAt = b.s.now
}

// random returns a random addrman entry.
func (b *addrBook) random(r *rng) *netAddr { return b.entries[r.intn(len(b.entries))] }

// learn adds a gossiped address to the new table, sometimes replacing an
// old entry (Core replaces terrible entries on collision).
func (b *addrBook) learn(a *netAddr, src *netAddr) {
	a.source = src
	r := b.s.rAddr
	if len(b.entries) >= addrmanNew+addrmanTried+200 || r.chance(0.3) {
		i := r.intn(len(b.entries))
		old := b.entries[i]
		if old.tried {
			return
		}
		b.remove(old)
		b.place(a, false)
		b.entries[i] = a
	} else {
		b.place(a, false)
		b.entries = append(b.entries, a)
	}
	b.changes++
}

// promote moves an entry to the tried table (a feeler or outbound
// connection succeeded).
func (b *addrBook) promote(a *netAddr) {
	a.time = uint32(b.s.now / 1000)
	if a.tried {
		return
	}
	b.remove(a)
	b.place(a, true)
}

// counts returns new and tried entries per network name, for
// getaddrmaninfo.
func (b *addrBook) counts() map[string][2]uint64 {
	out := map[string][2]uint64{}
	for _, a := range b.entries {
		k := netNames[a.net]
		c := out[k]
		if a.tried {
			c[1]++
		} else {
			c[0]++
		}
		out[k] = c
	}
	return out
}
