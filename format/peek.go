package format

import "google.golang.org/protobuf/encoding/protowire"

// fieldTimestamp is event.Event's timestamp field (ms since epoch).
const fieldTimestamp = 10

// peekTime returns an event record's timestamp by walking only its
// top-level fields, as event.Parse reads it (the last varint field 10
// wins; absent means 0). ok is false when the record is not well-formed
// at the top level; the caller then classifies it fully so the damage is
// reported.
func peekTime(rec []byte) (t int64, ok bool) {
	for len(rec) > 0 {
		num, typ, n := protowire.ConsumeTag(rec)
		if n < 0 {
			return 0, false
		}
		rec = rec[n:]
		if num == fieldTimestamp && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(rec)
			if n < 0 {
				return 0, false
			}
			t, rec = int64(v), rec[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, rec)
		if n < 0 {
			return 0, false
		}
		rec = rec[n:]
	}
	return t, true
}

// outsideRange reports whether rec certainly lies outside From..To, so
// Next can pass over it without classifying it. A seek decodes on
// average half a frame of records before From; classifying them (kind,
// type) was a fifth of its CPU. Like records in frames the index skips,
// a record passed over here is not checked further.
func (r *Reader) outsideRange(rec []byte) bool {
	o := &r.opts
	if o.From == 0 && o.To == 0 {
		return false
	}
	t, ok := peekTime(rec)
	if !ok {
		return false
	}
	return (o.From != 0 && t < o.From) || (o.To != 0 && t >= o.To)
}
