package event

import (
	"encoding/hex"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/peertape/peertape/proto/pb"
)

// Rendering straight from the wire.
//
// Decoding into *pb.Event and walking it with protoreflect cost cat about
// 3.5 µs per event (allocations for every sub-message, reflection for
// every field). AppendTextLine and AppendJSONLine called with msg == nil
// instead parse ev.Raw once, field by field against the schema's
// descriptors, and print as they go: every field is still decoded, just
// not into Go structs. The fast path handles what well-formed encoders
// produce and declines (returns ok == false) on anything where the proto
// decoder's view could differ from a single pass: unknown fields or wire
// types, a non-repeated field or a oneof set twice, closed-enum values the
// schema lacks (proto2 moves them to unknown fields), map fields, groups,
// invalid UTF-8, empty packed lists, malformed bytes. Then the caller
// decodes and renders the slow way, so output and errors are byte for
// byte what they were; TestWireRenderMatches checks that on a synthetic
// mix, the golden events and mutations of both.

// wireMsg is the rendering plan of one message type.
type wireMsg struct {
	md     protoreflect.MessageDescriptor
	byNum  []*wireField // by field number; nil: not in the schema
	oneofs int
}

type wireField struct {
	fd    protoreflect.FieldDescriptor
	index int
	name  string // JSON-quoted name followed by ':'
	kind  protoreflect.Kind
	list  bool
	hash  bool
	oneof int // index among the message's real oneofs, -1 if none
	enum  protoreflect.EnumValueDescriptors
	sub   *wireMsg
	bad   bool // map or group: always decline
}

var (
	wirePlanOnce sync.Once
	wireEvent    *wireMsg
)

func wirePlan() *wireMsg {
	wirePlanOnce.Do(func() {
		seen := map[protoreflect.FullName]*wireMsg{}
		wireEvent = buildWireMsg((&pb.Event{}).ProtoReflect().Descriptor(), seen)
	})
	return wireEvent
}

func buildWireMsg(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]*wireMsg) *wireMsg {
	if m := seen[md.FullName()]; m != nil {
		return m
	}
	m := &wireMsg{md: md}
	seen[md.FullName()] = m
	oneofIdx := map[protoreflect.FullName]int{}
	for i := 0; i < md.Oneofs().Len(); i++ {
		if od := md.Oneofs().Get(i); !od.IsSynthetic() {
			oneofIdx[od.FullName()] = m.oneofs
			m.oneofs++
		}
	}
	fields := md.Fields()
	maxNum := 0
	for i := 0; i < fields.Len(); i++ {
		maxNum = max(maxNum, int(fields.Get(i).Number()))
	}
	if maxNum > 4096 {
		maxNum = 4096 // higher numbers decline as unknown
	}
	m.byNum = make([]*wireField, maxNum+1)
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if int(fd.Number()) > maxNum {
			continue
		}
		f := &wireField{fd: fd, index: fd.Index(), kind: fd.Kind(), list: fd.IsList(), hash: hashFields[fd.Name()], oneof: -1}
		f.name = string(appendString(nil, string(fd.Name()))) + ":"
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			f.oneof = oneofIdx[od.FullName()]
		}
		switch {
		case fd.IsMap() || fd.Kind() == protoreflect.GroupKind:
			f.bad = true
		case fd.Kind() == protoreflect.MessageKind:
			f.sub = buildWireMsg(fd.Message(), seen)
		case fd.Kind() == protoreflect.EnumKind:
			f.enum = fd.Enum().Values()
		}
		m.byNum[fd.Number()] = f
	}
	return m
}

// wireEntry is one field occurrence on the wire: v holds varints and
// fixed values, b length-delimited contents.
type wireEntry struct {
	f *wireField
	v uint64
	b []byte
}

// wireScratch holds the entry lists of the messages being rendered; one
// per nesting level, reused across events through a pool.
type wireScratch struct {
	levels [][]wireEntry
	depth  int
}

var wireScratches = sync.Pool{New: func() any { return &wireScratch{} }}

// parse splits b into entries ordered by declaration index (the order
// appendMessage prints), or reports false when the fast path must decline.
func (s *wireScratch) parse(m *wireMsg, b []byte) ([]wireEntry, bool) {
	if s.depth >= 64 {
		return nil, false
	}
	if s.depth == len(s.levels) {
		s.levels = append(s.levels, make([]wireEntry, 0, 16))
	}
	es := s.levels[s.depth][:0]
	var oneofSeen uint64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || int(num) >= len(m.byNum) {
			return nil, false
		}
		b = b[n:]
		f := m.byNum[num]
		if f == nil || f.bad {
			return nil, false
		}
		e := wireEntry{f: f}
		switch typ {
		case protowire.VarintType:
			e.v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			e.v = uint64(v)
		case protowire.Fixed64Type:
			e.v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			e.b, n = protowire.ConsumeBytes(b)
		default:
			return nil, false
		}
		if n < 0 || !wireTypeFits(f, typ) {
			return nil, false
		}
		b = b[n:]
		if f.oneof >= 0 {
			if f.oneof >= 64 || oneofSeen&(1<<f.oneof) != 0 {
				return nil, false
			}
			oneofSeen |= 1 << f.oneof
		}
		if f.kind == protoreflect.EnumKind && typ == protowire.VarintType && f.enum.ByNumber(protoreflect.EnumNumber(int32(e.v))) == nil {
			return nil, false // closed enum: the decoder keeps it as an unknown field
		}
		// Insert by declaration index; equal indexes only for lists.
		i := len(es)
		for i > 0 && es[i-1].f.index > f.index {
			i--
		}
		if i > 0 && es[i-1].f == f && !f.list {
			return nil, false
		}
		if i < len(es) && es[i].f == f { // a list's elements split by another field
			return nil, false
		}
		es = append(es, wireEntry{})
		copy(es[i+1:], es[i:])
		es[i] = e
	}
	s.levels[s.depth] = es
	return es, true
}

// wireTypeFits reports whether the decoder would accept typ for f (a
// mismatch makes the occurrence an unknown field).
func wireTypeFits(f *wireField, typ protowire.Type) bool {
	switch f.kind {
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return typ == protowire.BytesType
	}
	want := protowire.VarintType
	switch f.kind {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		want = protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		want = protowire.Fixed64Type
	}
	return typ == want || (f.list && typ == protowire.BytesType)
}

// appendWireMessage renders the message in b as appendMessage renders its
// decoded form.
func (s *wireScratch) appendMessage(dst []byte, m *wireMsg, b []byte) ([]byte, bool) {
	es, ok := s.parse(m, b)
	if !ok {
		return dst, false
	}
	return s.appendEntries(dst, es)
}

func (s *wireScratch) appendEntries(dst []byte, es []wireEntry) ([]byte, bool) {
	s.depth++
	defer func() { s.depth-- }()
	dst = append(dst, '{')
	var ok bool
	for i := 0; i < len(es); i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		f := es[i].f
		dst = append(dst, f.name...)
		if !f.list {
			if dst, ok = s.appendValue(dst, f, es[i]); !ok {
				return dst, false
			}
			continue
		}
		dst = append(dst, '[')
		first := true
		for ; i < len(es) && es[i].f == f; i++ {
			e := es[i]
			if e.b != nil && f.kind != protoreflect.StringKind && f.kind != protoreflect.BytesKind && f.kind != protoreflect.MessageKind {
				// Packed scalars.
				if len(e.b) == 0 {
					return dst, false
				}
				for p := e.b; len(p) > 0; {
					var n int
					switch f.kind {
					case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
						var v uint32
						v, n = protowire.ConsumeFixed32(p)
						e.v = uint64(v)
					case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
						e.v, n = protowire.ConsumeFixed64(p)
					default:
						e.v, n = protowire.ConsumeVarint(p)
					}
					if n < 0 {
						return dst, false
					}
					if f.kind == protoreflect.EnumKind && f.enum.ByNumber(protoreflect.EnumNumber(int32(e.v))) == nil {
						return dst, false
					}
					p = p[n:]
					if !first {
						dst = append(dst, ',')
					}
					first = false
					sv := wireEntry{f: f, v: e.v}
					if dst, ok = s.appendValue(dst, f, sv); !ok {
						return dst, false
					}
				}
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			if dst, ok = s.appendValue(dst, f, e); !ok {
				return dst, false
			}
		}
		i--
		dst = append(dst, ']')
	}
	return append(dst, '}'), true
}

// appendValue renders one scalar or message as appendValue does.
func (s *wireScratch) appendValue(dst []byte, f *wireField, e wireEntry) ([]byte, bool) {
	switch f.kind {
	case protoreflect.BoolKind:
		return strconv.AppendBool(dst, e.v != 0), true
	case protoreflect.Int32Kind:
		return strconv.AppendInt(dst, int64(int32(e.v)), 10), true
	case protoreflect.Sint32Kind:
		return strconv.AppendInt(dst, int64(int32(protowire.DecodeZigZag(e.v&math.MaxUint32))), 10), true
	case protoreflect.Sfixed32Kind:
		return strconv.AppendInt(dst, int64(int32(uint32(e.v))), 10), true
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(dst, int64(e.v), 10), true
	case protoreflect.Sint64Kind:
		return strconv.AppendInt(dst, protowire.DecodeZigZag(e.v), 10), true
	case protoreflect.Uint32Kind:
		return strconv.AppendUint(dst, uint64(uint32(e.v)), 10), true
	case protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(dst, e.v, 10), true
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		v := math.Float64frombits(e.v)
		if f.kind == protoreflect.FloatKind {
			v = float64(math.Float32frombits(uint32(e.v)))
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return appendString(dst, strconv.FormatFloat(v, 'g', -1, 64)), true
		}
		return strconv.AppendFloat(dst, v, 'g', -1, 64), true
	case protoreflect.StringKind:
		if !utf8.Valid(e.b) {
			return dst, false
		}
		return appendStringBytes(dst, e.b), true
	case protoreflect.BytesKind:
		dst = append(dst, '"')
		if f.hash {
			dst = appendReversedHex(dst, e.b)
		} else {
			dst = hex.AppendEncode(dst, e.b)
		}
		return append(dst, '"'), true
	case protoreflect.EnumKind:
		ev := f.enum.ByNumber(protoreflect.EnumNumber(int32(e.v)))
		if ev == nil {
			return dst, false
		}
		return appendString(dst, string(ev.Name())), true
	case protoreflect.MessageKind:
		return s.appendMessage(dst, f.sub, e.b)
	}
	return dst, false
}

// appendStringBytes is appendString for valid UTF-8 bytes.
func appendStringBytes(dst []byte, b []byte) []byte {
	clean := 0
	for clean < len(b) && safeASCII[b[clean]] {
		clean++
	}
	if clean == len(b) {
		dst = append(dst, '"')
		dst = append(dst, b...)
		return append(dst, '"')
	}
	return appendString(dst, string(b))
}

// appendTextWire is AppendTextLine's body after the time, node and kind,
// rendered from raw. ok == false: decline, nothing useful appended.
func appendTextWire(dst []byte, raw []byte) ([]byte, bool) {
	s := wireScratches.Get().(*wireScratch)
	defer wireScratches.Put(s)
	s.depth = 0
	top := wirePlan()
	es, ok := s.parse(top, raw)
	if !ok {
		return dst, false
	}
	// The P2P message layout: event.ebpf_extractor.message.
	if me, ok := s.p2pMessage(top, es); ok {
		return s.appendP2P(dst, me)
	} else if me.f != nil {
		return dst, false
	}
	return s.appendInnermost(dst, es, "")
}

// p2pMessage finds ebpf_extractor.message in the top-level entries; a
// non-nil f with ok == false means it is there but the fast path declines.
func (s *wireScratch) p2pMessage(top *wireMsg, es []wireEntry) (wireEntry, bool) {
	for _, e := range es {
		if e.f.fd.Name() != "ebpf_extractor" || e.f.oneof < 0 {
			continue
		}
		s.depth++
		defer func() { s.depth-- }()
		inner, ok := s.parse(e.f.sub, e.b)
		if !ok {
			return wireEntry{f: e.f}, false
		}
		for _, ie := range inner {
			if ie.f.fd.Name() == "message" && ie.f.oneof >= 0 && ie.f.kind == protoreflect.MessageKind {
				return ie, true
			}
		}
	}
	return wireEntry{}, false
}

func (s *wireScratch) appendP2P(dst []byte, me wireEntry) ([]byte, bool) {
	s.depth += 2
	defer func() { s.depth -= 2 }()
	es, ok := s.parse(me.f.sub, me.b)
	if !ok {
		return dst, false
	}
	var meta *wireEntry
	for i := range es {
		if es[i].f.fd.Name() == "meta" {
			meta = &es[i]
		}
	}
	if meta == nil || meta.f.kind != protoreflect.MessageKind {
		return dst, false
	}
	s.depth++
	ms, ok := s.parse(meta.f.sub, meta.b)
	s.depth--
	if !ok {
		return dst, false
	}
	var inbound, peer, addr, conn, size *wireEntry
	for i := range ms {
		switch ms[i].f.fd.Name() {
		case "inbound":
			inbound = &ms[i]
		case "peer_id":
			peer = &ms[i]
		case "addr":
			addr = &ms[i]
		case "conn_type":
			conn = &ms[i]
		case "size":
			size = &ms[i]
		}
	}
	// Getters' defaults (absent fields) and kinds are the slow path's
	// business.
	if inbound == nil || peer == nil || addr == nil || conn == nil || size == nil ||
		inbound.f.kind != protoreflect.BoolKind || addr.f.kind != protoreflect.StringKind || conn.f.kind != protoreflect.EnumKind ||
		(peer.f.kind != protoreflect.Uint64Kind && peer.f.kind != protoreflect.Uint32Kind) ||
		(size.f.kind != protoreflect.Uint64Kind && size.f.kind != protoreflect.Uint32Kind) || !utf8.Valid(addr.b) {
		return dst, false
	}
	if inbound.v != 0 {
		dst = append(dst, "<- "...)
	} else {
		dst = append(dst, "-> "...)
	}
	dst = append(dst, "peer="...)
	dst = strconv.AppendUint(dst, fieldUint(peer), 10)
	dst = append(dst, ' ')
	for _, c := range addr.b {
		if c < 0x20 || c == 0x7f {
			c = '?'
		}
		dst = append(dst, c)
	}
	dst = append(dst, ' ')
	dst = append(dst, conn.f.enum.ByNumber(protoreflect.EnumNumber(int32(conn.v))).Name()...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, fieldUint(size), 10)
	dst = append(dst, 'B')
	mark := len(dst)
	dst = append(dst, ' ')
	out, ok := s.appendInnermost(dst, es, "meta")
	if !ok {
		return dst, false
	}
	if len(out) == len(dst) { // no inner value: drop the space
		return out[:mark], true
	}
	return out, true
}

func fieldUint(e *wireEntry) uint64 {
	if e.f.kind == protoreflect.Uint32Kind {
		return uint64(uint32(e.v))
	}
	return e.v
}

// appendInnermost renders what innermost would pick for the message with
// entries es, as appendInner renders it; a true bool arm below a skipped
// field (verack, sendheaders, ...) renders nothing.
func (s *wireScratch) appendInnermost(dst []byte, es []wireEntry, skip protoreflect.Name) ([]byte, bool) {
	{
		var arm *wireEntry
		others := 0
		for i := range es {
			switch {
			case es[i].f.fd.Name() == skip:
			case es[i].f.oneof >= 0 && arm == nil:
				arm = &es[i]
			default:
				others++
			}
		}
		if arm == nil || others > 0 {
			return s.appendEntries(dst, es)
		}
		f := arm.f
		if f.kind != protoreflect.MessageKind {
			switch f.kind {
			case protoreflect.BoolKind:
				if arm.v != 0 && skip != "" {
					return dst, true
				}
				return strconv.AppendBool(dst, arm.v != 0), true
			case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind,
				protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind,
				protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind,
				protoreflect.StringKind:
				return s.appendValue(dst, f, *arm)
			}
			return append(dst, "{}"...), true
		}
		s.depth++
		next, ok := s.parse(f.sub, arm.b)
		if !ok {
			s.depth--
			return dst, false
		}
		// Below the first level skip no longer applies.
		out, ok := s.appendInnermost(dst, next, "")
		s.depth--
		return out, ok
	}
}

// appendJSONWire renders the whole event as AppendMessageJSON renders the
// decoded form.
func appendJSONWire(dst []byte, raw []byte) ([]byte, bool) {
	s := wireScratches.Get().(*wireScratch)
	defer wireScratches.Put(s)
	s.depth = 0
	return s.appendMessage(dst, wirePlan(), raw)
}
