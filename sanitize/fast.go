package sanitize

import (
	"bytes"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/peertape/peertape/proto/pb"
)

// The fast path rewrites the common events (P2P messages other than
// version, addr, addrv2, reject and unknown; inbound, outbound and closed
// connections; mempool additions and replacements; validation; debug.log
// lines, which are most of a busy node's events) on the wire
// bytes, without decoding them into messages: it copies every field
// verbatim except the few it must change (a host:port string, a time).
// Decoding and re-encoding cost four times more than the rest of
// sanitizing a file.
//
// Its result decodes to exactly what the full rewrite (Sanitizer.rewrite)
// produces, which TestFastPathMatchesFullRewrite and FuzzFastPath check.
// Anything the fast path was not built for — a known field it has no
// action for, a known field with an unexpected wire type, malformed bytes,
// or an unknown field inside a verbatim subtree while unknown fields are
// being dropped — sends the event to the full rewrite. Subtrees copied
// verbatim are still walked against the schema, so a malformed event is
// refused exactly as a decoder refuses it.

// fastAct says what the fast path does with one field.
type fastAct uint8

const (
	fastSlow     fastAct = iota // known field the fast path does not handle: full rewrite
	fastKeep                    // copy verbatim (walked against the schema)
	fastMsg                     // nested message with its own rewrite table
	fastHostPort                // "host:port" string
	fastShiftMs                 // varint time in ms
	fastShiftSec                // varint uint64 time in s
	fastNonce                   // fixed64 ping/pong nonce that may hold a time
	fastShiftUs                 // varint uint64 time in µs
	fastText                    // free text: every address form in it rewritten
)

type fastField struct {
	known  bool
	act    fastAct
	typ    protowire.Type
	packed bool       // a repeated scalar, which may also come packed
	child  *fastTable // rewrite table (fastMsg) or schema table (fastKeep of a message)
	// enum holds the values of a closed (proto2) enum: a decoder keeps
	// any other value as an unknown field.
	enum protoreflect.EnumValueDescriptors
}

// unknownEnum reports whether the varint field val holds a value the
// closed enum f does not define.
func (f *fastField) unknownEnum(val []byte) bool {
	if f.enum == nil {
		return false
	}
	v, _ := protowire.ConsumeVarint(val)
	return f.enum.ByNumber(protoreflect.EnumNumber(int32(v))) == nil
}

// fastTable maps field numbers of one message to actions. Numbers beyond
// the slice are unknown fields.
type fastTable struct {
	name   protoreflect.FullName
	fields []fastField
}

func (t *fastTable) get(n protowire.Number) fastField {
	if int(n) < len(t.fields) {
		return t.fields[n]
	}
	return fastField{}
}

// schemaTables caches the verbatim (schema-only) tables by message name.
type tableBuilder struct {
	schema map[protoreflect.FullName]*fastTable
}

func wireType(fd protoreflect.FieldDescriptor) protowire.Type {
	switch fd.Kind() {
	case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Sint32Kind,
		protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		return protowire.VarintType
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.GroupKind:
		return protowire.StartGroupType
	}
	return protowire.BytesType
}

// schemaTable returns the table that copies md verbatim while checking
// its wire structure.
func (b *tableBuilder) schemaTable(md protoreflect.MessageDescriptor) *fastTable {
	if t, ok := b.schema[md.FullName()]; ok {
		return t
	}
	t := &fastTable{name: md.FullName()}
	b.schema[md.FullName()] = t // before recursing: message types may nest themselves
	fds := md.Fields()
	maxNum := 0
	for i := 0; i < fds.Len(); i++ {
		maxNum = max(maxNum, int(fds.Get(i).Number()))
	}
	t.fields = make([]fastField, maxNum+1)
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		f := fastField{known: true, act: fastKeep, typ: wireType(fd)}
		f.packed = fd.IsList() && f.typ != protowire.BytesType && f.typ != protowire.StartGroupType
		switch {
		case fd.IsMap():
			f.child = b.schemaTable(fd.Message())
		case fd.Kind() == protoreflect.MessageKind:
			f.child = b.schemaTable(fd.Message())
		case fd.Kind() == protoreflect.EnumKind && fd.Enum().IsClosed():
			f.enum = fd.Enum().Values()
		}
		t.fields[fd.Number()] = f
	}
	return t
}

// rewriteTable returns a table for md in which every known field goes to
// the full rewrite unless set names an action for it. Unknown names are a
// programming error.
func (b *tableBuilder) rewriteTable(md protoreflect.MessageDescriptor, set map[string]fastField) *fastTable {
	s := b.schemaTable(md)
	t := &fastTable{name: md.FullName(), fields: make([]fastField, len(s.fields))}
	for n, f := range s.fields {
		if f.known {
			f.act = fastSlow
			t.fields[n] = f
		}
	}
	for name, a := range set {
		fd := md.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			panic(fmt.Sprintf("sanitize: fast path: %s has no field %q", md.FullName(), name))
		}
		f := t.fields[fd.Number()]
		f.act = a.act
		if a.act == fastMsg {
			f.child = a.child
		}
		t.fields[fd.Number()] = f
	}
	return t
}

// keepAllBut returns a set that keeps every field of md except those in
// except, which get the given actions.
func keepAllBut(md protoreflect.MessageDescriptor, except map[string]fastField) map[string]fastField {
	set := map[string]fastField{}
	fds := md.Fields()
	for i := 0; i < fds.Len(); i++ {
		set[string(fds.Get(i).Name())] = fastField{act: fastKeep}
	}
	for k, v := range except {
		set[k] = v
	}
	return set
}

func msgAct(t *fastTable) fastField { return fastField{act: fastMsg, child: t} }

var (
	slowAct = fastField{act: fastSlow}
	keepAct = fastField{act: fastKeep}
)

// buildFastTables returns the rewrite table of event.Event for opts and a
// time shift.
func buildFastTables(opts Options, shiftMs int64) (root, schema *fastTable) {
	b := &tableBuilder{schema: map[protoreflect.FullName]*fastTable{}}
	desc := func(m interface {
		ProtoReflect() protoreflect.Message
	}) protoreflect.MessageDescriptor {
		return m.ProtoReflect().Descriptor()
	}
	shifting := shiftMs != 0
	timeAct := func(a fastAct) fastField {
		if shifting {
			return fastField{act: a}
		}
		return keepAct
	}
	publicAct := keepAct
	if opts.DropPublicData {
		publicAct = slowAct
	}
	hostPort := fastField{act: fastHostPort}

	conn := b.rewriteTable(desc(&pb.Connection{}), keepAllBut(desc(&pb.Connection{}), map[string]fastField{"addr": hostPort}))
	withConn := func(md protoreflect.MessageDescriptor) *fastTable {
		set := map[string]fastField{"conn": msgAct(conn)}
		if md.Fields().ByName("time_established") != nil {
			set["time_established"] = timeAct(fastShiftSec)
		}
		return b.rewriteTable(md, keepAllBut(md, set))
	}
	connEv := b.rewriteTable(desc(&pb.ConnectionEvent{}), map[string]fastField{
		"inbound":         msgAct(withConn(desc(&pb.InboundConnection{}))),
		"outbound":        msgAct(withConn(desc(&pb.OutboundConnection{}))),
		"closed":          msgAct(withConn(desc(&pb.ClosedConnection{}))),
		"inbound_evicted": msgAct(withConn(desc(&pb.EvictedInboundConnection{}))),
		// misbehaving carries free text: full rewrite.
	})

	meta := b.rewriteTable(desc(&pb.Metadata{}), keepAllBut(desc(&pb.Metadata{}), map[string]fastField{"addr": hostPort}))
	nonce := func(md protoreflect.MessageDescriptor) fastField {
		if !shifting {
			return keepAct
		}
		return msgAct(b.rewriteTable(md, map[string]fastField{"value": {act: fastNonce}}))
	}
	msg := b.rewriteTable(desc(&pb.MessageEvent{}), keepAllBut(desc(&pb.MessageEvent{}), map[string]fastField{
		"meta":         msgAct(meta),
		"version":      slowAct,
		"addr":         slowAct,
		"addrv2":       slowAct,
		"unknown":      slowAct,
		"reject":       slowAct,
		"ping":         nonce(desc(&pb.Ping{})),
		"pong":         nonce(desc(&pb.Pong{})),
		"tx":           publicAct,
		"block":        publicAct,
		"blocktxn":     publicAct,
		"compactblock": publicAct,
	}))

	mempool := b.rewriteTable(desc(&pb.MempoolEvent{}), map[string]fastField{
		"added": keepAct,
		"replaced": msgAct(b.rewriteTable(desc(&pb.Replaced{}), keepAllBut(desc(&pb.Replaced{}),
			map[string]fastField{"replaced_entry_time": timeAct(fastShiftSec)}))),
		// removed and rejected carry free-text reasons: full rewrite.
	})

	ebpf := b.rewriteTable(desc(&pb.Ebpf{}), map[string]fastField{
		"message":    msgAct(msg),
		"connection": msgAct(connEv),
		"mempool":    msgAct(mempool),
		"validation": keepAct,
		// addrman carries addresses in a layout rarely seen: full rewrite.
	})
	text := fastField{act: fastText}
	logEv := b.rewriteTable(desc(&pb.Log{}), map[string]fastField{
		"log_timestamp": timeAct(fastShiftUs),
		"category":      keepAct,
		"threadname":    text,
		"unknown_log_message": msgAct(b.rewriteTable(desc(&pb.UnknownLogMessage{}),
			keepAllBut(desc(&pb.UnknownLogMessage{}), map[string]fastField{"raw_message": text}))),
		"block_connected_log": keepAct,
		"block_checked_log": msgAct(b.rewriteTable(desc(&pb.BlockCheckedLog{}),
			keepAllBut(desc(&pb.BlockCheckedLog{}), map[string]fastField{"state": text, "debug_message": text}))),
	})
	root = b.rewriteTable(desc(&pb.Event{}), map[string]fastField{
		"timestamp":      timeAct(fastShiftMs),
		"ebpf_extractor": msgAct(ebpf),
		"log_extractor":  msgAct(logEv),
	})
	return root, b.schemaTable(desc(&pb.Event{}))
}

// fastState is the per-event state of the fast path.
type fastState struct {
	evMs    int64 // event time before the shift, for nonces
	unknown int   // unknown fields seen
	addrs   int   // addresses replaced
}

// fastEvent rewrites raw on the fast path; ok is false when the event
// must take the full rewrite.
func (s *Sanitizer) fastEvent(raw []byte) (out []byte, st fastState, ok bool) {
	st.evMs, ok = eventTime(raw)
	if !ok {
		return nil, st, false
	}
	buf, ok := s.fastMsg(s.fastRoot, raw, 0, &st)
	if !ok {
		return nil, st, false
	}
	if s.borrow {
		return buf, st, true
	}
	return bytes.Clone(buf), st, true
}

// eventTime returns Event.timestamp as a decoder sees it (the last
// occurrence), which ping nonces are compared with before it is shifted.
func eventTime(raw []byte) (int64, bool) {
	var t uint64
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 || num > protowire.MaxValidNumber {
			return 0, false
		}
		m := protowire.ConsumeFieldValue(num, typ, raw[n:])
		if m < 0 {
			return 0, false
		}
		if num == 10 && typ == protowire.VarintType {
			t, _ = protowire.ConsumeVarint(raw[n:])
		}
		raw = raw[n+m:]
	}
	return int64(t), true
}

// fastMsg rewrites the message b with table t into the scratch buffer of
// depth, which stays valid until the next call at that depth.
func (s *Sanitizer) fastMsg(t *fastTable, b []byte, depth int, st *fastState) ([]byte, bool) {
	if depth >= maxFastDepth {
		return nil, false
	}
	for len(s.fastBuf) <= depth {
		s.fastBuf = append(s.fastBuf, nil)
	}
	out := s.fastBuf[depth][:0]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber {
			return nil, false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, false
		}
		whole, val := b[:n+m], b[n:n+m]
		b = b[n+m:]
		f := t.get(num)
		if !f.known {
			st.unknown++
			if !s.opts.DropUnknownFields {
				out = append(out, whole...)
			}
			continue
		}
		if typ != f.typ {
			return nil, false // the decoder would keep it as an unknown field
		}
		switch f.act {
		case fastKeep:
			if f.unknownEnum(val) {
				st.unknown++
				if s.opts.DropUnknownFields {
					return nil, false
				}
			}
			if f.child != nil {
				v, _ := protowire.ConsumeBytes(val)
				if !s.checkSchema(f.child, v, depth+1, st) {
					return nil, false
				}
			}
			out = append(out, whole...)
		case fastMsg:
			v, _ := protowire.ConsumeBytes(val)
			child, ok := s.fastMsg(f.child, v, depth+1, st)
			if !ok {
				return nil, false
			}
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendBytes(out, child)
		case fastHostPort:
			v, _ := protowire.ConsumeBytes(val)
			if len(v) == 0 {
				out = append(out, whole...)
				break
			}
			st.addrs++
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendString(out, s.addr.hostPortBytes(v))
		case fastShiftMs, fastShiftSec, fastShiftUs:
			v, _ := protowire.ConsumeVarint(val)
			if v != 0 {
				d := s.shiftMs
				switch f.act {
				case fastShiftSec:
					d = s.shiftMs / 1000
				case fastShiftUs:
					d = s.shiftMs * 1000
				}
				v = uint64(max(int64(v)+d, 0))
			}
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendVarint(out, v)
		case fastText:
			v, _ := protowire.ConsumeBytes(val)
			if len(v) == 0 {
				out = append(out, whole...)
				break
			}
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendString(out, s.addr.Text(string(v)))
		case fastNonce:
			v, _ := protowire.ConsumeFixed64(val)
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendFixed64(out, s.shiftNonce(v, st.evMs))
		default:
			return nil, false
		}
	}
	s.fastBuf[depth] = out
	return out, true
}

// maxFastDepth bounds nesting; deeper events take the full rewrite (whose
// decoder has its own limit).
const maxFastDepth = 32

// checkSchema walks b as message t without copying: it fails where a
// decoder fails, and counts unknown fields (known fields of the wrong wire
// type count as unknown, as the decoder keeps them). While unknown fields
// are dropped, finding one fails, so the full rewrite drops it.
func (s *Sanitizer) checkSchema(t *fastTable, b []byte, depth int, st *fastState) bool {
	if depth >= maxFastDepth {
		return false
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber {
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return false
		}
		val := b[n : n+m]
		b = b[n+m:]
		f := t.get(num)
		if !f.known || (typ != f.typ && !(f.packed && typ == protowire.BytesType)) || (typ == f.typ && f.unknownEnum(val)) {
			st.unknown++
			if s.opts.DropUnknownFields {
				return false
			}
			continue
		}
		if f.child != nil && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(val)
			if !s.checkSchema(f.child, v, depth+1, st) {
				return false
			}
		}
		if f.packed && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(val)
			bad, ok := checkPacked(f, v)
			if !ok {
				return false
			}
			if bad > 0 {
				st.unknown += bad
				if s.opts.DropUnknownFields {
					return false
				}
			}
		}
	}
	return true
}

// checkPacked walks a packed repeated field; bad counts values a closed
// enum does not define, ok is false for malformed bytes.
func checkPacked(f fastField, b []byte) (bad int, ok bool) {
	for len(b) > 0 {
		var n int
		switch f.typ {
		case protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			if n > 0 && f.enum != nil && f.enum.ByNumber(protoreflect.EnumNumber(int32(v))) == nil {
				bad++
			}
		case protowire.Fixed32Type:
			_, n = protowire.ConsumeFixed32(b)
		case protowire.Fixed64Type:
			_, n = protowire.ConsumeFixed64(b)
		default:
			return 0, false
		}
		if n < 0 {
			return 0, false
		}
		b = b[n:]
	}
	return bad, true
}

// countUnknown returns how many unknown fields raw carries (for events
// the full rewrite handles).
func (s *Sanitizer) countUnknown(raw []byte) int {
	st := fastState{}
	keep := s.opts.DropUnknownFields
	s.opts.DropUnknownFields = false
	s.checkSchema(s.fastSchema, raw, 0, &st)
	s.opts.DropUnknownFields = keep
	return st.unknown
}

// shiftNonce moves a ping nonce that holds a nanosecond time within a day
// of the event time (evMs, before the shift).
func (s *Sanitizer) shiftNonce(v uint64, evMs int64) uint64 {
	if s.shiftMs == 0 || evMs == 0 {
		return v
	}
	d := int64(v/uint64(time.Millisecond)) - evMs
	if d < 0 {
		d = -d
	}
	if d <= nonceWindow.Milliseconds() {
		return uint64(int64(v) + s.shiftMs*int64(time.Millisecond))
	}
	return v
}
