package ebpf

import (
	"bytes"
	"encoding/binary"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/peertape/peertape/extract/internal/wirepb"
	"github.com/peertape/peertape/proto/pb"
)

// The fast path writes the wire bytes of the most frequent P2P message
// events (ping, pong, inv, getdata, notfound, feefilter, tx, the flag
// messages, unknown commands) straight from the payload, without building
// protobuf structs: at hundreds of thousands of messages a second the
// generic marshaller is the extractor's largest cost. It produces exactly
// the bytes the general path (decodeMessage + proto.Marshal,
// deterministic) produces, field order included: TestFastPathMatches and
// FuzzDecodeRecord compare the two. Anything it does not handle, or a
// payload that does not parse, goes to the general path.

// Field numbers (proto/ebpf_extractor/message.proto, event.proto,
// bitcoin_primitives.proto).
const (
	fEventTimestamp = 10
	fEventEbpf      = 1
	fEbpfMessage    = 1
	fMsgMeta        = 1
	fMetaPeerID     = 1
	fMetaAddr       = 2
	fMetaConnType   = 3
	fMetaCommand    = 4
	fMetaInbound    = 5
	fMetaSize       = 6
	fArmPing        = 2
	fArmPong        = 3
	fArmInv         = 4
	fArmGetdata     = 5
	fArmTx          = 6
	fArmFeefilter   = 10
	fArmNotfound    = 14
	fArmUnknown     = 31
	fValue          = 1 // Ping.value, Pong.value, FeeFilter.fee, Inv.items, Unknown.command
	fUnknownPayload = 2
	fUnknownItem    = 7
	fErrorItem      = 15
)

// flagArms are the messages without payload that become a bool arm.
var flagArms = map[string]protowire.Number{
	"verack": 32, "sendheaders": 33, "getaddr": 34, "mempool": 35,
	"wtxidrelay": 36, "sendaddrv2": 37, "filterclear": 38,
}

// knownCommands are the commands decodeMessage gives their own arm; any
// other command is Unknown, which the fast path can encode.
var knownCommands = map[string]bool{
	"version": true, "verack": true, "addr": true, "inv": true, "getdata": true, "notfound": true,
	"getblocks": true, "getheaders": true, "mempool": true, "tx": true, "block": true, "headers": true,
	"sendheaders": true, "getaddr": true, "ping": true, "pong": true, "merkleblock": true,
	"filterload": true, "filteradd": true, "filterclear": true, "getcfilters": true, "cfilter": true,
	"getcfheaders": true, "cfheaders": true, "getcfcheckpt": true, "cfcheckpt": true, "sendcmpct": true,
	"cmpctblock": true, "getblocktxn": true, "blocktxn": true, "alert": true, "reject": true,
	"feefilter": true, "wtxidrelay": true, "addrv2": true, "sendaddrv2": true,
}

// msgMeta holds a message record's metadata.
type msgMeta struct {
	peer     uint64
	addr     string
	connType pb.ConnType
	command  string
	inbound  bool
	size     uint64
}

// fastArm appends the MessageEvent oneof arm for command and payload to
// b. ok is false when the fast path does not handle the message.
func fastArm(b []byte, command string, payload []byte) (_ []byte, ok bool) {
	switch command {
	case "ping", "pong":
		if len(payload) != 8 {
			return b, false // oldping, or malformed: general path
		}
		num := protowire.Number(fArmPing)
		if command == "pong" {
			num = fArmPong
		}
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, 9)
		b = protowire.AppendTag(b, fValue, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, binary.LittleEndian.Uint64(payload)), true
	case "feefilter":
		if len(payload) != 8 {
			return b, false
		}
		fee := protowire.EncodeZigZag(int64(binary.LittleEndian.Uint64(payload)))
		b = protowire.AppendTag(b, fArmFeefilter, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(1+protowire.SizeVarint(fee)))
		b = protowire.AppendTag(b, fValue, protowire.VarintType)
		return protowire.AppendVarint(b, fee), true
	case "inv", "getdata", "notfound":
		return fastInv(b, command, payload)
	case "tx":
		return fastTx(b, payload)
	}
	if num, ok := flagArms[command]; ok {
		b = protowire.AppendTag(b, num, protowire.VarintType)
		return protowire.AppendVarint(b, 1), true
	}
	if knownCommands[command] {
		return b, false
	}
	n := protowire.SizeTag(fValue) + protowire.SizeBytes(len(command)) +
		protowire.SizeTag(fUnknownPayload) + protowire.SizeBytes(len(payload))
	b = protowire.AppendTag(b, fArmUnknown, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	b = protowire.AppendTag(b, fValue, protowire.BytesType)
	b = protowire.AppendString(b, command)
	b = protowire.AppendTag(b, fUnknownPayload, protowire.BytesType)
	return protowire.AppendBytes(b, payload), true
}

// fastTx appends the Tx arm: Tx{tx: Transaction{txid, wtxid, raw}}.
func fastTx(b []byte, payload []byte) ([]byte, bool) {
	r := bytes.NewReader(payload)
	tx, err := readTx(r, payload)
	if err != nil || r.Len() != 0 {
		return b, false
	}
	txBody := 2*(1+protowire.SizeBytes(32)) + 1 + protowire.SizeBytes(len(tx.Raw))
	b = protowire.AppendTag(b, fArmTx, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(1+protowire.SizeBytes(txBody)))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(txBody))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, tx.Txid)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, tx.Wtxid)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	return protowire.AppendBytes(b, tx.Raw), true
}

// invItemSize is the encoded size of one InventoryItem message body.
func invItemSize(typ uint32) int {
	switch typ {
	case wirepb.InvError:
		return protowire.SizeTag(fErrorItem) + 1
	case wirepb.InvTx, wirepb.InvBlock, wirepb.InvWTx, wirepb.InvWitnessTx, wirepb.InvWitnessBlock, wirepb.InvCmpctBlock:
		return 1 + protowire.SizeBytes(32)
	}
	// UnknownItem{inv_type, hash}
	inner := 1 + protowire.SizeVarint(uint64(typ)) + 1 + protowire.SizeBytes(32)
	return 1 + protowire.SizeBytes(inner)
}

// invArmField maps a known inventory type to its InventoryItem field.
func invArmField(typ uint32) protowire.Number {
	switch typ {
	case wirepb.InvTx:
		return 1
	case wirepb.InvBlock:
		return 2
	case wirepb.InvWTx:
		return 3
	case wirepb.InvWitnessTx:
		return 4
	case wirepb.InvWitnessBlock:
		return 5
	case wirepb.InvCmpctBlock:
		return 6
	}
	return 0
}

// maxInvItems is btcd's (and Core's) limit; larger messages take the
// general path, which reports them as malformed.
const maxInvItems = 50000

func fastInv(b []byte, command string, payload []byte) ([]byte, bool) {
	count, n := readVarint(payload)
	if n == 0 || count > maxInvItems || uint64(len(payload)-n) != count*36 {
		return b, false
	}
	items := payload[n:]
	body := 0
	for i := 0; i < int(count); i++ {
		s := invItemSize(binary.LittleEndian.Uint32(items[i*36:]))
		body += protowire.SizeTag(fValue) + protowire.SizeBytes(s)
	}
	num := protowire.Number(fArmInv)
	switch command {
	case "getdata":
		num = fArmGetdata
	case "notfound":
		num = fArmNotfound
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(body))
	for i := 0; i < int(count); i++ {
		typ := binary.LittleEndian.Uint32(items[i*36:])
		h := items[i*36+4 : i*36+36]
		b = protowire.AppendTag(b, fValue, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(invItemSize(typ)))
		switch f := invArmField(typ); {
		case typ == wirepb.InvError:
			b = protowire.AppendTag(b, fErrorItem, protowire.VarintType)
			b = protowire.AppendVarint(b, 1)
		case f != 0:
			b = protowire.AppendTag(b, f, protowire.BytesType)
			b = protowire.AppendBytes(b, h)
		default:
			inner := 1 + protowire.SizeVarint(uint64(typ)) + 1 + protowire.SizeBytes(32)
			b = protowire.AppendTag(b, fUnknownItem, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(inner))
			b = protowire.AppendTag(b, 1, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(typ))
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendBytes(b, h)
		}
	}
	return b, true
}

// readVarint reads a canonical Bitcoin CompactSize; n is 0 when it is
// truncated or not minimally encoded (btcd rejects those too).
func readVarint(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	switch b[0] {
	case 0xfd:
		if len(b) < 3 {
			return 0, 0
		}
		v, n = uint64(binary.LittleEndian.Uint16(b[1:])), 3
		if v < 0xfd {
			return 0, 0
		}
	case 0xfe:
		if len(b) < 5 {
			return 0, 0
		}
		v, n = uint64(binary.LittleEndian.Uint32(b[1:])), 5
		if v <= 0xffff {
			return 0, 0
		}
	case 0xff:
		if len(b) < 9 {
			return 0, 0
		}
		v, n = binary.LittleEndian.Uint64(b[1:]), 9
		if v <= 0xffffffff {
			return 0, 0
		}
	default:
		v, n = uint64(b[0]), 1
	}
	return v, n
}

// metaSize is the encoded size of the Metadata message body.
func metaSize(m *msgMeta) int {
	return 1 + protowire.SizeVarint(m.peer) +
		1 + protowire.SizeBytes(len(m.addr)) +
		1 + protowire.SizeVarint(uint64(m.connType)) +
		1 + protowire.SizeBytes(len(m.command)) +
		1 + 1 +
		1 + protowire.SizeVarint(m.size)
}

// appendMeta appends the Metadata message (field 1 of MessageEvent).
func appendMeta(b []byte, m *msgMeta) []byte {
	inbound := uint64(0)
	if m.inbound {
		inbound = 1
	}
	size := metaSize(m)
	b = protowire.AppendTag(b, fMsgMeta, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b = protowire.AppendTag(b, fMetaPeerID, protowire.VarintType)
	b = protowire.AppendVarint(b, m.peer)
	b = protowire.AppendTag(b, fMetaAddr, protowire.BytesType)
	b = protowire.AppendString(b, m.addr)
	b = protowire.AppendTag(b, fMetaConnType, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(m.connType))
	b = protowire.AppendTag(b, fMetaCommand, protowire.BytesType)
	b = protowire.AppendString(b, m.command)
	b = protowire.AppendTag(b, fMetaInbound, protowire.VarintType)
	b = protowire.AppendVarint(b, inbound)
	b = protowire.AppendTag(b, fMetaSize, protowire.VarintType)
	return protowire.AppendVarint(b, m.size)
}

// fastMessageEvent returns the complete event.Event bytes for a message
// record, or ok=false to use the general path. scratch is reused between
// calls of one goroutine.
func fastMessageEvent(scratch *[]byte, ts uint64, m *msgMeta, payload []byte) ([]byte, bool) {
	arm, ok := fastArm((*scratch)[:0], m.command, payload)
	*scratch = arm
	if !ok {
		return nil, false
	}
	msgSize := protowire.SizeTag(fMsgMeta) + protowire.SizeBytes(metaSize(m)) + len(arm)
	ebpfSize := protowire.SizeTag(fEbpfMessage) + protowire.SizeBytes(msgSize)
	total := protowire.SizeTag(fEventTimestamp) + protowire.SizeVarint(ts) +
		protowire.SizeTag(fEventEbpf) + protowire.SizeBytes(ebpfSize)
	b := make([]byte, 0, total)
	b = protowire.AppendTag(b, fEventTimestamp, protowire.VarintType)
	b = protowire.AppendVarint(b, ts)
	b = protowire.AppendTag(b, fEventEbpf, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(ebpfSize))
	b = protowire.AppendTag(b, fEbpfMessage, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(msgSize))
	b = appendMeta(b, m)
	return append(b, arm...), true
}
