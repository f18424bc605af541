package sanitize

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/peertape/peertape/event"
)

// AddressSet is every address found in an original stream, for checking
// a sanitized copy of it. It is filled independently of the rewriter's
// list of places: every string field, every unknown field and every bytes
// field is scanned as text, addr/addrv2/version payloads are parsed, and
// unknown-network address bytes are taken as they are. So a place the
// rewriter misses still contributes its addresses, and Check finds them
// wherever they survive.
//
// The fixed points (0.0.0.0/8, 127.0.0.0/8, ::, ::1) and the self
// placeholders are not collected: they identify nobody and appear in
// sanitized output by design.
type AddressSet struct {
	ips   map[netip.Addr]struct{}
	names map[string]struct{} // nameID forms: "t2"+10 bytes, "t3"+32, "i"+32, "l"+label
	raw   map[string]struct{} // unknown-network address bytes
	bin   *binaryIndex        // built lazily by Check
}

// NewAddressSet returns an empty set.
func NewAddressSet() *AddressSet {
	return &AddressSet{ips: map[netip.Addr]struct{}{}, names: map[string]struct{}{}, raw: map[string]struct{}{}}
}

// Len returns the number of distinct addresses collected.
func (s *AddressSet) Len() int { return len(s.ips) + len(s.names) + len(s.raw) }

// Addresses returns the collected addresses in text form, sorted (for
// reports and tests).
func (s *AddressSet) Addresses() []string {
	var out []string
	for ip := range s.ips {
		out = append(out, ip.String())
	}
	for n := range s.names {
		out = append(out, nameText(n))
	}
	for r := range s.raw {
		out = append(out, "unknown:"+hex.EncodeToString([]byte(r)))
	}
	sort.Strings(out)
	return out
}

func nameText(id string) string {
	switch id[0] {
	case 't':
		if id[1] == '2' {
			return b32.EncodeToString([]byte(id[2:])) + ".onion"
		}
		return torV3String([]byte(id[2:]), 3)
	case 'i':
		return b32.EncodeToString([]byte(id[1:])) + ".b32.i2p"
	}
	return id[1:]
}

// AddIP adds one IP address.
func (s *AddressSet) AddIP(ip netip.Addr) {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() || keptAsIs(ip) || ip == SelfIPv4 || ip == SelfIPv6 || ip == SelfCJDNS {
		return
	}
	if b := ip.As16(); ip.Is6() && isOnionCat(b) {
		s.addName("t2" + string(b[6:]))
		return
	}
	s.ips[ip] = struct{}{}
	s.bin = nil
}

func (s *AddressSet) addName(id string) {
	if isPlaceholderID(id) {
		return
	}
	s.names[id] = struct{}{}
	s.bin = nil
}

// isPlaceholderID reports whether a name id is a self placeholder: Tor
// and I2P placeholders encode all-zero keys.
func isPlaceholderID(id string) bool {
	var key string
	switch {
	case strings.HasPrefix(id, "t2"), strings.HasPrefix(id, "t3"):
		key = id[2:]
	case strings.HasPrefix(id, "i"):
		key = id[1:]
	default:
		return false
	}
	return strings.Trim(key, "\x00") == ""
}

// AddText adds every address found in free text.
func (s *AddressSet) AddText(t string) {
	scanText(t, func(tok token) {
		switch tok.kind {
		case tokIP:
			s.AddIP(tok.ip)
		default:
			s.addName(nameID(tok.kind, t[tok.start:tok.end]))
		}
	})
}

// nameID normalizes an onion or I2P name so that the 52- and 56-letter
// forms of one Tor v3 key are the same address.
func nameID(kind tokenKind, host string) string {
	lower := strings.ToLower(host)
	if kind == tokOnion {
		label := strings.TrimSuffix(lower, ".onion")
		if b, err := b32.DecodeString(label); err == nil {
			switch {
			case len(label) == 16 && len(b) == 10:
				return "t2" + string(b)
			case (len(label) == 52 && len(b) == 32) || (len(label) == 56 && len(b) == 35):
				return "t3" + string(b[:32])
			}
		}
		return "l" + lower
	}
	label := strings.TrimSuffix(lower, ".b32.i2p")
	if b, err := b32.DecodeString(label); err == nil && len(label) == 52 && len(b) == 32 {
		return "i" + string(b)
	}
	return "l" + lower
}

// Add collects the addresses of one original event.
func (s *AddressSet) Add(ev event.Event) error {
	m, err := ev.Decode()
	if err != nil {
		return fmt.Errorf("collect addresses: %w", err)
	}
	s.AddText(ev.Node)
	walkFields(m.ProtoReflect(), nil, func(f fieldValue) {
		switch {
		case f.isString:
			s.AddText(f.str)
		case f.msg == "bitcoin_primitives.UnknownAddress" && f.name == "address":
			if len(f.bytes) > 0 {
				s.raw[string(f.bytes)] = struct{}{}
				s.bin = nil
			}
		case f.msg == "ebpf_extractor.message.Unknown" && f.name == "payload":
			s.addBytesText(f.bytes)
			if cmd := f.parent.Get(f.parent.Descriptor().Fields().ByName("command")).String(); addressCommands[cmd] {
				_, _ = walkPayload(cmd, f.bytes, collector{s}) // what parsed before an error is collected
			}
		case f.msg == "bitcoin_primitives.Transaction" && f.name == "raw":
			// Public data; its text is not the node's secret.
		default:
			s.addBytesText(f.bytes)
		}
	})
	return nil
}

// minBytesIPv6Text is the shortest IPv6 text form counted inside bytes
// fields. Hashes and other random bytes hold short forms like "f::" or
// "8::1" by chance (three bytes suffice); an address hidden in a payload
// is written out ("2001:db8::1"). Strings are scanned without the limit.
const minBytesIPv6Text = 8

// bytesText scans bytes as text, leaving out IPv6 forms too short to be
// told from chance.
func bytesText(b []byte, fn func(t string, tok token)) {
	t := string(b)
	scanText(t, func(tok token) {
		if tok.kind == tokIP && tok.ip.Is6() && !tok.ip.Is4In6() && tok.end-tok.start < minBytesIPv6Text {
			return
		}
		fn(t, tok)
	})
}

func (s *AddressSet) addBytesText(b []byte) {
	bytesText(b, func(t string, tok token) {
		if tok.kind == tokIP {
			s.AddIP(tok.ip)
		} else {
			s.addName(nameID(tok.kind, t[tok.start:tok.end]))
		}
	})
}

// bytesTextHits is textHits for bytes fields (see minBytesIPv6Text).
func (s *AddressSet) bytesTextHits(b []byte) []string {
	var out []string
	bytesText(b, func(t string, tok token) {
		out = append(out, s.tokenHits(t, tok)...)
	})
	return out
}

// AddMessage collects the addresses in the string and bytes fields of
// any message (segment metadata, gaps), scanned as text.
func (s *AddressSet) AddMessage(m proto.Message) {
	walkFields(m.ProtoReflect(), nil, func(f fieldValue) {
		if f.isString {
			s.AddText(f.str)
		} else {
			s.AddText(string(f.bytes))
		}
	})
}

// CheckMessage reports every collected address in the string and bytes
// fields of m, in text form, with paths under prefix (e.g. "meta").
func (s *AddressSet) CheckMessage(prefix string, m proto.Message) []Leak {
	var leaks []Leak
	root := &fieldPath{name: prefix}
	walkFields(m.ProtoReflect(), root, func(f fieldValue) {
		t := f.str
		if !f.isString {
			t = string(f.bytes)
		}
		for _, a := range s.textHits(t) {
			leaks = append(leaks, Leak{Path: f.path.String(), Address: a, Form: "text"})
		}
	})
	return leaks
}

// TextHits returns the collected addresses that occur in t in text form.
func (s *AddressSet) TextHits(t string) []string { return s.textHits(t) }

// collector is the payload visitor that records instead of rewriting.
type collector struct{ s *AddressSet }

func (c collector) ip16(b [16]byte) [16]byte {
	c.s.AddIP(netip.AddrFrom16(b))
	return b
}

func (c collector) addrV2(netID uint8, b []byte) []byte {
	switch {
	case netID == 1 && len(b) == 4:
		c.s.AddIP(netip.AddrFrom4([4]byte(b)))
	case (netID == 2 || netID == 6) && len(b) == 16:
		c.s.AddIP(netip.AddrFrom16([16]byte(b)))
	case netID == 3 && len(b) == 10:
		c.s.addName("t2" + string(b))
	case netID == 4 && len(b) == 32:
		c.s.addName("t3" + string(b))
	case netID == 5 && len(b) == 32:
		c.s.addName("i" + string(b))
	case len(b) > 0:
		c.s.raw[string(b)] = struct{}{}
		c.s.bin = nil
	}
	return b
}

func (c collector) port(p uint16) uint16      { return p }
func (c collector) unixSeconds(t int64) int64 { return t }
func (c collector) text(t string) string      { c.s.AddText(t); return t }

var _ visitor = collector{}

// checker is the payload visitor that looks every address up in the set.
type checker struct {
	s    *AddressSet
	hits []string
}

func (c *checker) ip16(b [16]byte) [16]byte {
	c.hits = append(c.hits, c.s.ipHits(netip.AddrFrom16(b))...)
	return b
}

func (c *checker) addrV2(netID uint8, b []byte) []byte {
	var id string
	switch {
	case netID == 1 && len(b) == 4:
		c.hits = append(c.hits, c.s.ipHits(netip.AddrFrom4([4]byte(b)))...)
		return b
	case (netID == 2 || netID == 6) && len(b) == 16:
		c.hits = append(c.hits, c.s.ipHits(netip.AddrFrom16([16]byte(b)))...)
		return b
	case netID == 3 && len(b) == 10:
		id = "t2" + string(b)
	case (netID == 4 || netID == 5) && len(b) == 32:
		id = map[uint8]string{4: "t3", 5: "i"}[netID] + string(b)
	default:
		if _, ok := c.s.raw[string(b)]; ok {
			c.hits = append(c.hits, "unknown:"+hex.EncodeToString(b))
		}
		return b
	}
	if _, ok := c.s.names[id]; ok {
		c.hits = append(c.hits, nameText(id))
	}
	return b
}

func (c *checker) port(p uint16) uint16      { return p }
func (c *checker) unixSeconds(t int64) int64 { return t }
func (c *checker) text(t string) string {
	c.hits = append(c.hits, c.s.textHits(t)...)
	return t
}

// ipHits returns ip if it was collected (OnionCat as its Tor v2 name).
func (s *AddressSet) ipHits(ip netip.Addr) []string {
	ip = ip.Unmap()
	if b := ip.As16(); ip.Is6() && isOnionCat(b) {
		if _, ok := s.names["t2"+string(b[6:])]; ok {
			return []string{nameText("t2" + string(b[6:]))}
		}
		return nil
	}
	if _, ok := s.ips[ip]; ok {
		return []string{ip.String()}
	}
	return nil
}

var _ visitor = (*checker)(nil)

// Leak is one original address found in sanitized output.
type Leak struct {
	Event   uint64 // ordinal of the event in the sanitized stream
	Path    string // field path, e.g. ebpf_extractor.message.meta.addr
	Address string // the original address, in text form
	Form    string // "text" or "binary"
}

// String formats the leak as "event N PATH: ADDRESS (FORM)".
func (l Leak) String() string {
	return fmt.Sprintf("event %d %s: %s (%s)", l.Event, l.Path, l.Address, l.Form)
}

// Check reports every occurrence of a collected address in ev, which has
// ordinal in its stream: in text form in every string, bytes and unknown
// field (and in Node), and in binary form in bytes and unknown fields
// (4-byte IPv4 only where raw addresses live: unknown payloads, unknown
// network addresses and unknown fields; elsewhere the IPv4-mapped and
// addrv2 forms, to keep random transaction bytes from matching).
func (s *AddressSet) Check(ordinal uint64, ev event.Event) ([]Leak, error) {
	m, err := ev.Decode()
	if err != nil {
		return nil, fmt.Errorf("check event %d: %w", ordinal, err)
	}
	if s.bin == nil {
		s.bin = s.buildIndex()
	}
	var leaks []Leak
	add := func(path, addr, form string) {
		leaks = append(leaks, Leak{Event: ordinal, Path: path, Address: addr, Form: form})
	}
	for _, a := range s.textHits(ev.Node) {
		add("node", a, "text")
	}
	walkFields(m.ProtoReflect(), nil, func(f fieldValue) {
		if f.isString {
			for _, a := range s.textHits(f.str) {
				add(f.path.String(), a, "text")
			}
			return
		}
		for _, a := range s.bytesTextHits(f.bytes) {
			add(f.path.String(), a, "text")
		}
		payload := f.msg == "ebpf_extractor.message.Unknown" && f.name == "payload"
		if payload {
			// A payload that parses as addr, addrv2 or version is checked
			// address by address: a sliding window over its pseudonyms
			// would match some 4-byte IPv4 by chance on a large archive.
			if cmd := f.parent.Get(f.parent.Descriptor().Fields().ByName("command")).String(); addressCommands[cmd] {
				c := &checker{s: s}
				if _, err := walkPayload(cmd, f.bytes, c); err == nil {
					for _, a := range c.hits {
						add(f.path.String(), a, "binary")
					}
					return
				}
			}
		}
		rawField := f.unknown || payload || (f.msg == "bitcoin_primitives.UnknownAddress" && f.name == "address")
		for _, a := range s.bin.hits(f.bytes, rawField) {
			add(f.path.String(), a, "binary")
		}
	})
	return leaks, nil
}

func (s *AddressSet) textHits(t string) []string {
	var out []string
	scanText(t, func(tok token) {
		out = append(out, s.tokenHits(t, tok)...)
	})
	return out
}

// tokenHits returns the collected address tok (found in t) is, if any.
func (s *AddressSet) tokenHits(t string, tok token) []string {
	if tok.kind == tokIP {
		return s.ipHits(tok.ip.WithZone(""))
	}
	id := nameID(tok.kind, t[tok.start:tok.end])
	if _, ok := s.names[id]; ok {
		return []string{nameText(id)}
	}
	return nil
}

// binaryIndex finds binary forms of the collected addresses in bytes.
type binaryIndex struct {
	first  [1 << 16]bool // first two bytes of any pattern
	v4     map[[4]byte]string
	b16    map[[16]byte]string // IPv6, IPv4-mapped, CJDNS
	b10    map[[10]byte]string // Tor v2
	b32    map[[32]byte]string // Tor v3, I2P
	raw    map[string]string   // unknown-network bytes, by length
	rawLen []int
}

func (s *AddressSet) buildIndex() *binaryIndex {
	x := &binaryIndex{v4: map[[4]byte]string{}, b16: map[[16]byte]string{}, b10: map[[10]byte]string{}, b32: map[[32]byte]string{}, raw: map[string]string{}}
	mark := func(b []byte) { x.first[binary.BigEndian.Uint16(b)] = true }
	for ip := range s.ips {
		if ip.Is4() {
			b := ip.As4()
			x.v4[b] = ip.String()
			mark(b[:])
			mark([]byte{1, 4}) // addrv2: network id 1, length 4
			m := netip.AddrFrom16(ip.As16()).As16()
			x.b16[m] = ip.String()
			mark(m[:])
			continue
		}
		b := ip.As16()
		x.b16[b] = ip.String()
		mark(b[:])
	}
	for id := range s.names {
		switch {
		case strings.HasPrefix(id, "t2"):
			x.b10[[10]byte([]byte(id[2:]))] = nameText(id)
			mark([]byte(id[2:]))
		case strings.HasPrefix(id, "t3"):
			x.b32[[32]byte([]byte(id[2:]))] = nameText(id)
			mark([]byte(id[2:]))
		case id[0] == 'i':
			x.b32[[32]byte([]byte(id[1:]))] = nameText(id)
			mark([]byte(id[1:]))
		}
	}
	lens := map[int]bool{}
	for r := range s.raw {
		x.raw[r] = "unknown:" + hex.EncodeToString([]byte(r))
		lens[len(r)] = true
		if len(r) >= 2 {
			mark([]byte(r))
		}
	}
	for n := range lens {
		x.rawLen = append(x.rawLen, n)
	}
	sort.Ints(x.rawLen)
	return x
}

// hits returns the addresses whose binary forms occur in b. Short
// patterns (4-byte IPv4, unknown-network bytes under 8 bytes) count only
// in raw fields.
func (x *binaryIndex) hits(b []byte, rawField bool) []string {
	var out []string
	for i := 0; i+2 <= len(b); i++ {
		if !x.first[binary.BigEndian.Uint16(b[i:])] {
			continue
		}
		rest := b[i:]
		if rawField && len(rest) >= 4 {
			if a, ok := x.v4[[4]byte(rest)]; ok {
				out = append(out, a)
			}
		}
		if !rawField && len(rest) >= 6 && rest[0] == 1 && rest[1] == 4 {
			if a, ok := x.v4[[4]byte(rest[2:])]; ok {
				out = append(out, a)
			}
		}
		if len(rest) >= 10 {
			if a, ok := x.b10[[10]byte(rest)]; ok {
				out = append(out, a)
			}
		}
		if len(rest) >= 16 {
			if a, ok := x.b16[[16]byte(rest)]; ok {
				out = append(out, a)
			}
		}
		if len(rest) >= 32 {
			if a, ok := x.b32[[32]byte(rest)]; ok {
				out = append(out, a)
			}
		}
		for _, n := range x.rawLen {
			if n > len(rest) || (n < 8 && !rawField) {
				continue
			}
			if a, ok := x.raw[string(rest[:n])]; ok {
				out = append(out, a)
			}
		}
	}
	return out
}

// fieldPath is a field path rendered only when a leak is found.
type fieldPath struct {
	parent *fieldPath
	name   string
	index  string // "[3]", "[key]" or ""
}

// String renders the path with dots, e.g. "rpc_extractor.peer_infos.infos[0].address".
func (p *fieldPath) String() string {
	if p == nil {
		return ""
	}
	var parts []string
	for q := p; q != nil; q = q.parent {
		parts = append(parts, q.name+q.index)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".")
}

// fieldValue is one string or bytes value found by walkFields.
type fieldValue struct {
	path     *fieldPath
	msg      protoreflect.FullName // the message holding the field
	name     protoreflect.Name
	parent   protoreflect.Message
	isString bool
	str      string
	bytes    []byte
	unknown  bool // the raw bytes of unknown fields
}

// walkFields calls fn for every string and bytes value in m, including
// list elements, map keys and values, and the raw bytes of unknown fields.
func walkFields(m protoreflect.Message, path *fieldPath, fn func(fieldValue)) {
	full := m.Descriptor().FullName()
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := &fieldPath{parent: path, name: string(fd.Name())}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walkValue(m, fd, l.Get(i), &fieldPath{parent: path, name: string(fd.Name()), index: "[" + strconv.Itoa(i) + "]"}, fn)
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				kp := &fieldPath{parent: path, name: string(fd.Name()), index: "[" + k.String() + "]"}
				if fd.MapKey().Kind() == protoreflect.StringKind {
					fn(fieldValue{path: kp, msg: full, name: fd.Name(), parent: m, isString: true, str: k.String()})
				}
				walkValue(m, fd.MapValue(), mv, kp, fn)
				return true
			})
		default:
			walkValue(m, fd, v, p, fn)
		}
		return true
	})
	if u := m.GetUnknown(); len(u) > 0 {
		fn(fieldValue{path: &fieldPath{parent: path, name: "<unknown fields>"}, msg: full, parent: m, bytes: u, unknown: true})
	}
}

func walkValue(parent protoreflect.Message, fd protoreflect.FieldDescriptor, v protoreflect.Value, p *fieldPath, fn func(fieldValue)) {
	full := parent.Descriptor().FullName()
	switch fd.Kind() {
	case protoreflect.StringKind:
		fn(fieldValue{path: p, msg: full, name: fd.Name(), parent: parent, isString: true, str: v.String()})
	case protoreflect.BytesKind:
		fn(fieldValue{path: p, msg: full, name: fd.Name(), parent: parent, bytes: v.Bytes()})
	case protoreflect.MessageKind, protoreflect.GroupKind:
		walkFields(v.Message(), p, fn)
	}
}
