package ebpf

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/bpf"
	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// Record types and flags, named after the generated C enums.
const (
	recInboundMessage      = uint16(bpf.TracingRecTypeREC_NET_INBOUND_MESSAGE)
	recOutboundMessage     = uint16(bpf.TracingRecTypeREC_NET_OUTBOUND_MESSAGE)
	recInboundConnection   = uint16(bpf.TracingRecTypeREC_NET_INBOUND_CONNECTION)
	recOutboundConnection  = uint16(bpf.TracingRecTypeREC_NET_OUTBOUND_CONNECTION)
	recClosedConnection    = uint16(bpf.TracingRecTypeREC_NET_CLOSED_CONNECTION)
	recEvictedConnection   = uint16(bpf.TracingRecTypeREC_NET_EVICTED_INBOUND_CONNECTION)
	recMisbehaving         = uint16(bpf.TracingRecTypeREC_NET_MISBEHAVING_CONNECTION)
	recMempoolAdded        = uint16(bpf.TracingRecTypeREC_MEMPOOL_ADDED)
	recMempoolRemoved      = uint16(bpf.TracingRecTypeREC_MEMPOOL_REMOVED)
	recMempoolReplaced     = uint16(bpf.TracingRecTypeREC_MEMPOOL_REPLACED)
	recMempoolRejected     = uint16(bpf.TracingRecTypeREC_MEMPOOL_REJECTED)
	recBlockConnected      = uint16(bpf.TracingRecTypeREC_VALIDATION_BLOCK_CONNECTED)
	recUSDTArgs            = uint16(bpf.TracingRecTypeREC_USDT_ARGS)
	numRecTypes            = int(bpf.TracingRecTypeREC_TYPE_COUNT)
	flagReadError          = uint16(bpf.TracingRecFlagFLAG_READ_ERROR)
	flagOversized          = uint16(bpf.TracingRecFlagFLAG_OVERSIZED)
	flagTruncAddr          = uint16(bpf.TracingRecFlagFLAG_TRUNC_ADDR)
	flagTruncConnType      = uint16(bpf.TracingRecFlagFLAG_TRUNC_CONN_TYPE)
	flagTruncMsgType       = uint16(bpf.TracingRecFlagFLAG_TRUNC_MSG_TYPE)
	flagTruncReason        = uint16(bpf.TracingRecFlagFLAG_TRUNC_REASON)
	netMsgHeaderSize       = int(unsafe.Offsetof(bpf.TracingNetMsg{}.Payload)) // not Sizeof: Go pads the trailing zero-size array
	maxMessagePayloadBytes = bpf.MaxMessageSize
)

// recTypeNames label metrics and logs by tracepoint.
var recTypeNames = [numRecTypes]string{
	0:                     "none",
	recInboundMessage:     "net:inbound_message",
	recOutboundMessage:    "net:outbound_message",
	recInboundConnection:  "net:inbound_connection",
	recOutboundConnection: "net:outbound_connection",
	recClosedConnection:   "net:closed_connection",
	recEvictedConnection:  "net:evicted_inbound_connection",
	recMisbehaving:        "net:misbehaving_connection",
	recMempoolAdded:       "mempool:added",
	recMempoolRemoved:     "mempool:removed",
	recMempoolReplaced:    "mempool:replaced",
	recMempoolRejected:    "mempool:rejected",
	recBlockConnected:     "validation:block_connected",
	recUSDTArgs:           "usdt_args",
}

func recTypeName(t uint16) string {
	if int(t) < numRecTypes {
		return recTypeNames[t]
	}
	return fmt.Sprintf("type_%d", t)
}

// truncFields names the string fields behind each truncation flag.
var truncFields = []struct {
	flag uint16
	name string
}{
	{flagTruncAddr, "addr"}, {flagTruncConnType, "conn_type"},
	{flagTruncMsgType, "msg_type"}, {flagTruncReason, "reason"},
}

// Errors a record can fail with (wrapped in *RecordError).
var (
	ErrShortRecord   = errors.New("record shorter than its type")
	ErrUnknownRecord = errors.New("unknown record type")
	ErrReadFailed    = errors.New("a string, hash or payload could not be read from the traced process")
	ErrOversized     = errors.New("P2P message larger than the largest payload class (4 MiB)")
)

// RecordError is a ring buffer record that did not become an event.
type RecordError struct {
	Type    uint16 // record type (enum rec_type)
	Command string // P2P command, for messages
	Err     error
}

// Error names the tracepoint (and command) and what was wrong.
func (e *RecordError) Error() string {
	s := "record " + recTypeName(e.Type)
	if e.Command != "" {
		s += " " + e.Command
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause, one of the Err* values above.
func (e *RecordError) Unwrap() error { return e.Err }

// recordInfo describes a decoded record beyond its event.
type recordInfo struct {
	// Kind and Event are the event's kind and type, as event.Parse
	// would classify it (so the event need not be parsed again).
	Kind    event.Kind
	Event   string
	Type    uint16
	Flags   uint16
	Command string
	Size    uint64 // message payload size
	// PayloadErr is set when a message's payload did not parse as its
	// command; the event then carries the payload in the Unknown arm.
	PayloadErr error
}

// load copies the fixed part of a record into a value of its generated Go
// type. Copying (rather than casting) keeps alignment right for any input.
func load[T any](raw []byte) (T, error) {
	var v T
	return loadN[T](raw, int(unsafe.Sizeof(v)))
}

// loadN is load for a type whose C record is shorter than its Go value:
// only the first n bytes are required and copied. A message record ends
// in a flexible payload array, after which Go pads the struct; the
// record of an oversized message has no payload bytes at all.
func loadN[T any](raw []byte, n int) (T, error) {
	var v T
	if len(raw) < n {
		return v, fmt.Errorf("%w: %d bytes, want %d", ErrShortRecord, len(raw), n)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&v)), n), raw)
	return v, nil
}

// cstr returns the NUL-terminated string in a C char array.
func cstr(b []int8) string {
	bs := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
	if i := bytes.IndexByte(bs, 0); i >= 0 {
		bs = bs[:i]
	}
	return string(bs)
}

// connType maps Core's connection type string exactly as peer-observer
// does, quirks included: "feeler" becomes OutboundFullRelay and
// "manual", "addr-fetch" (and anything else) Unknown.
func connType(s string) pb.ConnType {
	switch s {
	case "inbound":
		return pb.ConnType_Inbound
	case "outbound-full-relay", "feeler":
		return pb.ConnType_OutboundFullRelay
	case "block-relay-only":
		return pb.ConnType_BlockRelayOnly
	}
	return pb.ConnType_Unknown
}

// decodeRecord converts one ring buffer record into a peer-observer event
// stamped with timeMs (Unix milliseconds of the probe hit, from the
// record's boot-clock timestamp). It fails, with a *RecordError, for a
// record it cannot turn into a faithful event: malformed, read errors in
// the traced process, an oversized message. A message whose payload does
// not parse still yields an event (Unknown arm, raw payload) and reports
// the problem in info.PayloadErr. scratch is a buffer the caller's
// goroutine lends for the fast path (nil: general path only).
func decodeRecord(raw []byte, timeMs func(bootNs uint64) uint64, scratch *[]byte) (event.Event, recordInfo, error) {
	msg, info, err := decodeRecordPB(raw, timeMs, scratch)
	if err != nil || msg.ev.Raw != nil {
		return msg.ev, info, err
	}
	ev, err := encode(msg.pb, info)
	return ev, info, err
}

// decoded is what decodeRecordPB produced: a finished event (fast path)
// or a message to encode.
type decoded struct {
	ev event.Event
	pb *pb.Event
}

func decodeRecordPB(raw []byte, timeMs func(bootNs uint64) uint64, scratch *[]byte) (decoded, recordInfo, error) {
	hdr, err := load[bpf.TracingRecHdr](raw)
	if err != nil {
		return decoded{}, recordInfo{}, &RecordError{Err: err}
	}
	info := recordInfo{Type: hdr.Type, Flags: hdr.Flags}
	fail := func(err error) (decoded, recordInfo, error) {
		return decoded{}, info, &RecordError{Type: hdr.Type, Command: info.Command, Err: err}
	}
	// A record with unreadable memory would be an event with holes.
	// (Message records check it below, once their command is known.)
	isMessage := hdr.Type == recInboundMessage || hdr.Type == recOutboundMessage
	if !isMessage && hdr.Flags&flagReadError != 0 {
		return fail(ErrReadFailed)
	}
	var e pb.Ebpf
	switch hdr.Type {
	case recInboundMessage, recOutboundMessage:
		m, err := loadN[bpf.TracingNetMsg](raw, netMsgHeaderSize)
		if err != nil {
			return fail(err)
		}
		info.Command = strs.intern(m.MsgType[:])
		info.Size = m.MsgSize
		if hdr.Flags&flagOversized != 0 {
			return fail(fmt.Errorf("%w: %d bytes", ErrOversized, m.MsgSize))
		}
		if hdr.Flags&flagReadError != 0 {
			return fail(ErrReadFailed)
		}
		if uint64(m.PayloadLen) != m.MsgSize || int(m.PayloadLen) > len(raw)-netMsgHeaderSize {
			return fail(fmt.Errorf("%w: payload of %d bytes for a %d-byte message in a %d-byte record",
				ErrShortRecord, m.PayloadLen, m.MsgSize, len(raw)))
		}
		payload := raw[netMsgHeaderSize : netMsgHeaderSize+int(m.PayloadLen)]
		meta := msgMeta{peer: uint64(m.PeerId), addr: strs.intern(m.Addr[:]), connType: connType(strs.intern(m.ConnType[:])),
			command: info.Command, inbound: hdr.Type == recInboundMessage, size: m.MsgSize}
		info.Kind, info.Event = event.NetMsg, info.Command
		ts := timeMs(hdr.TsNs)
		if scratch != nil {
			if b, ok := fastMessageEvent(scratch, ts, &meta, payload); ok {
				return decoded{ev: event.Event{Time: int64(ts), Kind: event.NetMsg, Type: info.Command, Raw: b}}, info, nil
			}
		}
		msg, err := decodeMessage(info.Command, payload)
		if err != nil {
			info.PayloadErr = err
			msg = unknownMessage(info.Command, payload)
		}
		msg.Meta = newMetadata(meta.peer, meta.addr, meta.connType, meta.command, meta.inbound, meta.size)
		return decoded{pb: &pb.Event{Timestamp: proto.Uint64(ts),
			PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: msg}}}}}, info, nil
	case recInboundConnection, recOutboundConnection, recClosedConnection, recEvictedConnection:
		c, err := load[bpf.TracingNetConn](raw)
		if err != nil {
			return fail(err)
		}
		conn := &pb.Connection{
			PeerId:   proto.Uint64(uint64(c.PeerId)),
			Addr:     proto.String(strs.intern(c.Addr[:])),
			ConnType: connType(strs.intern(c.ConnType[:])).Enum(),
			Network:  proto.Uint32(uint32(c.Network)),
		}
		ce := &pb.ConnectionEvent{}
		info.Kind = event.NetConn
		switch hdr.Type {
		case recInboundConnection:
			ce.Event = &pb.ConnectionEvent_Inbound{Inbound: &pb.InboundConnection{Conn: conn, ExistingConnections: proto.Uint64(c.Value)}}
			info.Event = "inbound"
		case recOutboundConnection:
			ce.Event = &pb.ConnectionEvent_Outbound{Outbound: &pb.OutboundConnection{Conn: conn, ExistingConnections: proto.Uint64(c.Value)}}
			info.Event = "outbound"
		case recClosedConnection:
			ce.Event = &pb.ConnectionEvent_Closed{Closed: &pb.ClosedConnection{Conn: conn, TimeEstablished: proto.Uint64(c.Value)}}
			info.Event = "closed"
		default:
			ce.Event = &pb.ConnectionEvent_InboundEvicted{InboundEvicted: &pb.EvictedInboundConnection{Conn: conn, TimeEstablished: proto.Uint64(c.Value)}}
			info.Event = "inbound_evicted"
		}
		e.EbpfEvent = &pb.Ebpf_Connection{Connection: ce}
	case recMisbehaving:
		m, err := load[bpf.TracingNetMisbehaving](raw)
		if err != nil {
			return fail(err)
		}
		e.EbpfEvent = &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Misbehaving{
			Misbehaving: &pb.MisbehavingConnection{Id: proto.Uint64(uint64(m.PeerId)), Message: proto.String(cstr(m.Message[:]))}}}}
		info.Kind, info.Event = event.NetConn, "misbehaving"
	case recMempoolAdded:
		m, err := load[bpf.TracingMempoolAdded](raw)
		if err != nil {
			return fail(err)
		}
		e.EbpfEvent = mempool(&pb.MempoolEvent{Event: &pb.MempoolEvent_Added{Added: &pb.Added{
			Txid: hash(m.Txid[:]), Vsize: proto.Int32(m.Vsize), Fee: proto.Int64(m.Fee)}}})
		info.Kind, info.Event = event.Mempool, "added"
	case recMempoolRemoved:
		m, err := load[bpf.TracingMempoolRemoved](raw)
		if err != nil {
			return fail(err)
		}
		e.EbpfEvent = mempool(&pb.MempoolEvent{Event: &pb.MempoolEvent_Removed{Removed: &pb.Removed{
			Txid: hash(m.Txid[:]), Reason: proto.String(cstr(m.Reason[:])), Vsize: proto.Int32(m.Vsize),
			Fee: proto.Int64(m.Fee), EntryTime: proto.Uint64(m.EntryTime)}}})
		info.Kind, info.Event = event.Mempool, "removed"
	case recMempoolReplaced:
		m, err := load[bpf.TracingMempoolReplaced](raw)
		if err != nil {
			return fail(err)
		}
		e.EbpfEvent = mempool(&pb.MempoolEvent{Event: &pb.MempoolEvent_Replaced{Replaced: &pb.Replaced{
			ReplacedTxid: hash(m.ReplacedTxid[:]), ReplacedVsize: proto.Int32(m.ReplacedVsize),
			ReplacedFee: proto.Int64(m.ReplacedFee), ReplacedEntryTime: proto.Uint64(m.ReplacedEntryTime),
			ReplacementId: hash(m.ReplacementId[:]), ReplacementVsize: proto.Int32(m.ReplacementVsize),
			ReplacementFee: proto.Int64(m.ReplacementFee), ReplacedByTransaction: proto.Bool(m.ReplacedByTransaction != 0)}}})
		info.Kind, info.Event = event.Mempool, "replaced"
	case recMempoolRejected:
		m, err := load[bpf.TracingMempoolRejected](raw)
		if err != nil {
			return fail(err)
		}
		e.EbpfEvent = mempool(&pb.MempoolEvent{Event: &pb.MempoolEvent_Rejected{Rejected: &pb.Rejected{
			Txid: hash(m.Txid[:]), Reason: proto.String(cstr(m.Reason[:]))}}})
		info.Kind, info.Event = event.Mempool, "rejected"
	case recBlockConnected:
		b, err := load[bpf.TracingBlockConnected](raw)
		if err != nil {
			return fail(err)
		}
		e.EbpfEvent = &pb.Ebpf_Validation{Validation: &pb.ValidationEvent{Event: &pb.ValidationEvent_BlockConnected{
			BlockConnected: &pb.BlockConnected{Hash: hash(b.Hash[:]), Height: proto.Int32(b.Height),
				Transactions: proto.Int64(int64(b.Transactions)), Inputs: proto.Int32(b.Inputs),
				Sigops: proto.Int64(b.Sigops), ConnectionTime: proto.Uint64(b.ConnectionTimeNs)}}}}
		info.Kind, info.Event = event.Validation, "block_connected"
	default:
		return fail(fmt.Errorf("%w %d", ErrUnknownRecord, hdr.Type))
	}
	return decoded{pb: &pb.Event{
		Timestamp:         proto.Uint64(timeMs(hdr.TsNs)),
		PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &e},
	}}, info, nil
}

func mempool(m *pb.MempoolEvent) *pb.Ebpf_Mempool { return &pb.Ebpf_Mempool{Mempool: m} }

// newMetadata builds a message's Metadata with its six proto2 fields in
// one allocation instead of six: it is on the path of every message.
func newMetadata(peer uint64, addr string, ct pb.ConnType, command string, inbound bool, size uint64) *pb.Metadata {
	v := &struct {
		meta          pb.Metadata
		peer, size    uint64
		addr, command string
		inbound       bool
		ct            pb.ConnType
	}{peer: peer, size: size, addr: addr, command: command, inbound: inbound, ct: ct}
	v.meta.PeerId, v.meta.Size, v.meta.Addr, v.meta.Command = &v.peer, &v.size, &v.addr, &v.command
	v.meta.Inbound, v.meta.ConnType = &v.inbound, &v.ct
	return &v.meta
}

// encode marshals an event decodeRecord built. Every proto2 required field
// is set by construction (the tests and the fuzzer check each record type
// with event.New), so the required-field walk is skipped on this hot path;
// Deterministic keeps the bytes identical to event.New's.
func encode(msg *pb.Event, info recordInfo) (event.Event, error) {
	raw, err := proto.MarshalOptions{AllowPartial: true, Deterministic: true}.Marshal(msg)
	if err != nil {
		return event.Event{}, fmt.Errorf("encode event: %w", err)
	}
	return event.Event{Time: int64(msg.GetTimestamp()), Kind: info.Kind, Type: info.Event, Raw: raw}, nil
}

// strs interns the short strings every message record repeats (command,
// connection type, peer address), so that they are not allocated per
// event.
var strs interner

type interner struct {
	mu sync.Mutex
	m  map[string]string
}

// maxInterned bounds the table: peer addresses come and go.
const maxInterned = 8192

func (in *interner) intern(c []int8) string {
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(c))), len(c))
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	if in.m == nil || len(in.m) >= maxInterned {
		in.m = make(map[string]string, 256)
	}
	s := string(b)
	in.m[s] = s
	return s
}
