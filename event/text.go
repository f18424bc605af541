package event

import (
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/peertape/peertape/proto/pb"
)

// AppendTextLine appends a one-line human rendering of ev to dst:
//
//	2026-04-07T09:07:13.133Z n1 netmsg:inv <- peer=7 1.2.3.4:8333 Inbound 37B {"items":[...]}
//	2026-04-07T09:07:14.001Z n1 netconn:inbound {"conn":{...},"existing_connections":12}
//
// For P2P messages it shows direction (<- received, -> sent), peer id,
// address, connection type and payload size, then the message's fields;
// for other events the innermost message as compact JSON (same value rules
// as AppendJSONLine). msg may be nil, in which case ev is decoded.
//
// With msg == nil the line is rendered straight from ev.Raw (text_wire.go),
// several times faster than decoding first, with the same bytes; callers
// that only print should pass nil.
func AppendTextLine(dst []byte, ev Event, msg *pb.Event) ([]byte, error) {
	start := len(dst)
	dst = appendTextHead(dst, ev)
	if msg == nil {
		if out, ok := appendTextWire(dst, ev.Raw); ok {
			return append(out, '\n'), nil
		}
		dst = dst[:start]
		var err error
		if msg, err = ev.Decode(); err != nil {
			return dst, err
		}
		dst = appendTextHead(dst, ev)
	}
	return appendTextBody(dst, msg), nil
}

// appendTextHead appends the time, node and kind:type of the line.
func appendTextHead(dst []byte, ev Event) []byte {
	dst = appendTime(dst, ev.Time)
	dst = append(dst, ' ')
	if ev.Node != "" {
		dst = appendPlain(dst, ev.Node)
		dst = append(dst, ' ')
	}
	dst = append(dst, ev.Kind.String()...)
	if ev.Type != "" {
		dst = append(dst, ':')
		dst = appendPlain(dst, ev.Type)
	}
	return append(dst, ' ')
}

func appendTextBody(dst []byte, msg *pb.Event) []byte {
	if me := msg.GetEbpfExtractor().GetMessage(); me != nil {
		m := me.GetMeta()
		if m.GetInbound() {
			dst = append(dst, "<- "...)
		} else {
			dst = append(dst, "-> "...)
		}
		dst = append(dst, "peer="...)
		dst = strconv.AppendUint(dst, m.GetPeerId(), 10)
		dst = append(dst, ' ')
		dst = appendPlain(dst, m.GetAddr())
		dst = append(dst, ' ')
		dst = append(dst, m.GetConnType().String()...)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, m.GetSize(), 10)
		dst = append(dst, 'B')
		if inner := innermost(me.ProtoReflect(), "meta"); inner.IsValid() {
			dst = append(dst, ' ')
			dst = appendInner(dst, inner)
		}
		return append(dst, '\n')
	}
	dst = appendInner(dst, innermost(msg.ProtoReflect(), ""))
	return append(dst, '\n')
}

// innermost descends through oneof arms that hold messages for as long as
// the message has nothing but that arm (and the skip field).
func innermost(m protoreflect.Message, skip protoreflect.Name) protoreflect.Value {
	cur := protoreflect.ValueOfMessage(m)
	set := fieldSets.Get().(*fieldSet)
	defer func() {
		clear(set.fields)
		set.fields = set.fields[:0]
		fieldSets.Put(set)
	}()
	for {
		msg := cur.Message()
		set.fields = set.fields[:0]
		msg.Range(set.add) // the pooled collector: no closure allocated per event
		var arm protoreflect.FieldDescriptor
		var armValue protoreflect.Value
		others := 0
		for _, f := range set.fields {
			switch {
			case f.fd.Name() == skip:
			case f.fd.ContainingOneof() != nil && arm == nil:
				arm, armValue = f.fd, f.v
			default:
				others++
			}
		}
		if arm == nil || others > 0 {
			return cur
		}
		v := armValue
		if arm.Kind() != protoreflect.MessageKind {
			if arm.Kind() == protoreflect.BoolKind && v.Bool() && skip != "" {
				return protoreflect.Value{} // verack, sendheaders, ...: the type says it all
			}
			return v
		}
		cur = v
		skip = ""
	}
}

func appendInner(dst []byte, v protoreflect.Value) []byte {
	switch x := v.Interface().(type) {
	case protoreflect.Message:
		return appendMessage(dst, x)
	case bool:
		return strconv.AppendBool(dst, x)
	case int32, int64:
		return strconv.AppendInt(dst, v.Int(), 10)
	case uint32, uint64:
		return strconv.AppendUint(dst, v.Uint(), 10)
	case string:
		return appendString(dst, x)
	}
	return append(dst, "{}"...)
}

// appendPlain appends s with control characters replaced, so hostile
// strings cannot drive the terminal.
func appendPlain(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			c = '?'
		}
		dst = append(dst, c)
	}
	return dst
}

// maxFastTime is 10000-01-01T00:00:00Z in ms: four-digit years render on
// appendTime's fast path.
const maxFastTime = 253402300800000

// appendTime appends FormatTime(ms) without going through time.Format,
// which was a tenth of cat's rendering cost. Times before 1970 or after
// year 9999 take the time package's path.
func appendTime(dst []byte, ms int64) []byte {
	if ms < 0 || ms >= maxFastTime {
		return append(dst, FormatTime(ms)...)
	}
	// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
	days, rem := ms/86_400_000, ms%86_400_000
	z := days + 719_468
	era := z / 146_097
	doe := z - era*146_097
	yoe := (doe - doe/1460 + doe/36_524 - doe/146_096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if mp >= 10 {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	sec, milli := rem/1000, rem%1000
	return append(dst,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+sec/36_000), byte('0'+sec/3600%10), ':',
		byte('0'+sec/60%60/10), byte('0'+sec/60%10), ':',
		byte('0'+sec%60/10), byte('0'+sec%10), '.',
		byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10), 'Z')
}
