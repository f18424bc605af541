package event

import (
	"encoding/hex"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/peertape/peertape/proto/pb"
)

// AppendJSONLine appends one JSON line (with trailing newline) describing
// ev to dst:
//
//	{"time_ms":…,"kind":"netmsg","type":"inv","node":"…","event":{…}}
//
// "event" holds every set field of the decoded event.Event under its proto
// field name. Hashes and txids (bytes in Bitcoin's internal order) are hex
// in the order block explorers show; other bytes are plain hex; enums are
// their names; 64-bit integers are JSON numbers. Unknown fields appear as
// hex under "_unknown". msg may be nil, in which case ev is decoded; pass a
// decoded message to avoid decoding twice.
//
// With msg == nil the line is rendered straight from ev.Raw (text_wire.go)
// with the same bytes, several times faster than decoding first.
func AppendJSONLine(dst []byte, ev Event, msg *pb.Event) ([]byte, error) {
	start := len(dst)
	dst = appendJSONHead(dst, ev)
	if msg == nil {
		if out, ok := appendJSONWire(dst, ev.Raw); ok {
			return append(out, "}\n"...), nil
		}
		dst = dst[:start]
		var err error
		if msg, err = ev.Decode(); err != nil {
			return dst, err
		}
		dst = appendJSONHead(dst, ev)
	}
	dst = AppendMessageJSON(dst, msg.ProtoReflect())
	dst = append(dst, "}\n"...)
	return dst, nil
}

// appendJSONHead appends the line up to the event object.
func appendJSONHead(dst []byte, ev Event) []byte {
	dst = append(dst, `{"time_ms":`...)
	dst = strconv.AppendInt(dst, ev.Time, 10)
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, ev.Kind.String())
	if ev.Type != "" {
		dst = append(dst, `,"type":`...)
		dst = appendString(dst, ev.Type)
	}
	if ev.Node != "" {
		dst = append(dst, `,"node":`...)
		dst = appendString(dst, ev.Node)
	}
	return append(dst, `,"event":`...)
}

// AppendMessageJSON appends m as a JSON object using the rules of
// AppendJSONLine.
func AppendMessageJSON(dst []byte, m protoreflect.Message) []byte {
	return appendMessage(dst, m)
}

// Bytes fields holding a 32-byte hash in internal byte order. The names are
// unambiguous across peer-observer's schemas when the field is bytes.
var hashFields = map[protoreflect.Name]bool{
	"txid": true, "wtxid": true, "hash": true, "prev_blockhash": true, "merkle_root": true,
	"block_hash": true, "stop_hash": true, "locator_hashes": true, "replaced_txid": true,
	"replacement_id": true, "filter_headers": true, "filter_hashes": true,
	"previous_filter_header": true, "hashes": true,
	// InventoryItem arms
	"transaction": true, "block": true, "wtx": true, "witness_transaction": true,
	"witness_block": true, "compact_block": true,
}

// setField is one populated field of a message being rendered.
type setField struct {
	fd protoreflect.FieldDescriptor
	v  protoreflect.Value
}

// fieldSet collects a message's populated fields with one Range call,
// which resolves each oneof once instead of asking Has of every arm (the
// P2P message oneof has dozens); the collector closure is made once per
// pooled set so Range does not allocate.
type fieldSet struct {
	fields []setField
	add    func(protoreflect.FieldDescriptor, protoreflect.Value) bool
}

var fieldSets = sync.Pool{New: func() any {
	s := &fieldSet{fields: make([]setField, 0, 16)}
	s.add = func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		s.fields = append(s.fields, setField{fd, v})
		return true
	}
	return s
}}

func appendMessage(dst []byte, m protoreflect.Message) []byte {
	set := fieldSets.Get().(*fieldSet)
	m.Range(set.add)
	fields := set.fields
	// Field order, not Range order (deliberately unstable), so output is
	// stable. Insertion sort: messages have few set fields.
	for i := 1; i < len(fields); i++ {
		for j := i; j > 0 && fields[j].fd.Index() < fields[j-1].fd.Index(); j-- {
			fields[j], fields[j-1] = fields[j-1], fields[j]
		}
	}
	dst = append(dst, '{')
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		fd, v := f.fd, f.v
		dst = appendString(dst, string(fd.Name()))
		dst = append(dst, ':')
		switch {
		case fd.IsList():
			l := v.List()
			dst = append(dst, '[')
			for j := 0; j < l.Len(); j++ {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendValue(dst, fd, l.Get(j))
			}
			dst = append(dst, ']')
		case fd.IsMap():
			dst = appendMap(dst, fd, v.Map())
		default:
			dst = appendValue(dst, fd, v)
		}
	}
	first := len(fields) == 0
	clear(fields)
	set.fields = fields[:0]
	fieldSets.Put(set)
	if u := m.GetUnknown(); len(u) > 0 {
		if !first {
			dst = append(dst, ',')
		}
		dst = append(dst, `"_unknown":"`...)
		dst = hex.AppendEncode(dst, u)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

func appendMap(dst []byte, fd protoreflect.FieldDescriptor, mv protoreflect.Map) []byte {
	keys := make([]protoreflect.MapKey, 0, mv.Len())
	mv.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	sortMapKeys(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k.String())
		dst = append(dst, ':')
		dst = appendValue(dst, fd.MapValue(), mv.Get(k))
	}
	return append(dst, '}')
}

func sortMapKeys(keys []protoreflect.MapKey) {
	less := func(a, b protoreflect.MapKey) bool {
		switch a.Interface().(type) {
		case string:
			return a.String() < b.String()
		case int32, int64:
			return a.Int() < b.Int()
		case uint32, uint64:
			return a.Uint() < b.Uint()
		case bool:
			return !a.Bool() && b.Bool()
		}
		return a.String() < b.String()
	}
	// Insertion sort: maps in events are small.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && less(keys[j], keys[j-1]); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}

func appendValue(dst []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(dst, v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(dst, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(dst, v.Uint(), 10)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return appendString(dst, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case protoreflect.StringKind:
		return appendString(dst, v.String())
	case protoreflect.BytesKind:
		b := v.Bytes()
		dst = append(dst, '"')
		if hashFields[fd.Name()] {
			dst = appendReversedHex(dst, b)
		} else {
			dst = hex.AppendEncode(dst, b)
		}
		return append(dst, '"')
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return appendString(dst, string(ev.Name()))
		}
		return strconv.AppendInt(dst, int64(v.Enum()), 10)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendMessage(dst, v.Message())
	}
	return append(dst, "null"...)
}

const hexDigits = "0123456789abcdef"

// safeASCII marks the bytes appendString copies unchanged.
var safeASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func appendReversedHex(dst []byte, b []byte) []byte {
	for i := len(b) - 1; i >= 0; i-- {
		dst = append(dst, hexDigits[b[i]>>4], hexDigits[b[i]&0x0f])
	}
	return dst
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD and
// control characters are escaped, so terminal escapes in hostile input (user
// agents, log lines) cannot reach a terminal raw.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	// Most strings (field names, addresses, user agents) need no escaping:
	// copy the clean prefix in one append.
	clean := 0
	for clean < len(s) && safeASCII[s[clean]] {
		clean++
	}
	dst = append(dst, s[:clean]...)
	for i := clean; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
