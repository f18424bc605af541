package analyze

import "google.golang.org/protobuf/encoding/protowire"

// Thin names for the protowire calls used to read fields this build's
// schema does not have (newer extractors' additions, kept by protobuf as
// unknown fields).
const (
	varintType  = protowire.VarintType
	fixed64Type = protowire.Fixed64Type
	bytesType   = protowire.BytesType
)

func consumeTag(b []byte) (protowire.Number, protowire.Type, int) { return protowire.ConsumeTag(b) }

func consumeVarint(b []byte) (uint64, int) { return protowire.ConsumeVarint(b) }

func consumeFixed64(b []byte) (uint64, int) { return protowire.ConsumeFixed64(b) }

// consumeValue skips one field value; for length-delimited fields it also
// returns the contents.
func consumeValue(num protowire.Number, typ protowire.Type, b []byte) ([]byte, int) {
	if typ == protowire.BytesType {
		return protowire.ConsumeBytes(b)
	}
	return nil, protowire.ConsumeFieldValue(num, typ, b)
}
