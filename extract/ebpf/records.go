package ebpf

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/bpf"
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

func (e *RecordError) Error() string {
	s := "record " + recTypeName(e.Type)
	if e.Command != "" {
		s += " " + e.Command
	}
	return s + ": " + e.Err.Error()
}

func (e *RecordError) Unwrap() error { return e.Err }

// recordInfo describes a decoded record beyond its event.
type recordInfo struct {
	Type    uint16
	Flags   uint16
	Pid     uint32
	Command string
	// PayloadErr is set when a message's payload did not parse as its
	// command; the event then carries the payload in the Unknown arm.
	PayloadErr error
}

// load copies the fixed part of a record into a value of its generated Go
// type. Copying (rather than casting) keeps alignment right for any input.
func load[T any](raw []byte) (T, bool) {
	var v T
	n := int(unsafe.Sizeof(v))
	if len(raw) < n {
		return v, false
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&v)), n), raw)
	return v, true
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
// the problem in info.PayloadErr.
func decodeRecord(raw []byte, timeMs func(bootNs uint64) uint64) (*pb.Event, recordInfo, error) {
	hdr, ok := load[bpf.TracingRecHdr](raw)
	if !ok {
		return nil, recordInfo{}, &RecordError{Err: fmt.Errorf("%w: %d bytes", ErrShortRecord, len(raw))}
	}
	info := recordInfo{Type: hdr.Type, Flags: hdr.Flags, Pid: hdr.Pid}
	fail := func(err error) (*pb.Event, recordInfo, error) {
		return nil, info, &RecordError{Type: hdr.Type, Command: info.Command, Err: err}
	}
	var e pb.Ebpf
	switch hdr.Type {
	case recInboundMessage, recOutboundMessage:
		m, ok := load[bpf.TracingNetMsg](raw)
		if !ok {
			return fail(fmt.Errorf("%w: %d bytes", ErrShortRecord, len(raw)))
		}
		info.Command = cstr(m.MsgType[:])
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
		msg, err := decodeMessage(info.Command, payload)
		if err != nil {
			info.PayloadErr = err
			msg = unknownMessage(info.Command, payload)
		}
		msg.Meta = &pb.Metadata{
			PeerId:   proto.Uint64(uint64(m.PeerId)),
			Addr:     proto.String(cstr(m.Addr[:])),
			ConnType: connType(cstr(m.ConnType[:])).Enum(),
			Command:  proto.String(info.Command),
			Inbound:  proto.Bool(hdr.Type == recInboundMessage),
			Size:     proto.Uint64(m.MsgSize),
		}
		e.EbpfEvent = &pb.Ebpf_Message{Message: msg}
	case recInboundConnection, recOutboundConnection, recClosedConnection, recEvictedConnection:
		c, ok := load[bpf.TracingNetConn](raw)
		if !ok {
			return fail(fmt.Errorf("%w: %d bytes", ErrShortRecord, len(raw)))
		}
		if hdr.Flags&flagReadError != 0 {
			return fail(ErrReadFailed)
		}
		conn := &pb.Connection{
			PeerId:   proto.Uint64(uint64(c.PeerId)),
			Addr:     proto.String(cstr(c.Addr[:])),
			ConnType: connType(cstr(c.ConnType[:])).Enum(),
			Network:  proto.Uint32(uint32(c.Network)),
		}
		ce := &pb.ConnectionEvent{}
		switch hdr.Type {
		case recInboundConnection:
			ce.Event = &pb.ConnectionEvent_Inbound{Inbound: &pb.InboundConnection{Conn: conn, ExistingConnections: proto.Uint64(c.Value)}}
		case recOutboundConnection:
			ce.Event = &pb.ConnectionEvent_Outbound{Outbound: &pb.OutboundConnection{Conn: conn, ExistingConnections: proto.Uint64(c.Value)}}
		case recClosedConnection:
			ce.Event = &pb.ConnectionEvent_Closed{Closed: &pb.ClosedConnection{Conn: conn, TimeEstablished: proto.Uint64(c.Value)}}
		default:
			ce.Event = &pb.ConnectionEvent_InboundEvicted{InboundEvicted: &pb.EvictedInboundConnection{Conn: conn, TimeEstablished: proto.Uint64(c.Value)}}
		}
		e.EbpfEvent = &pb.Ebpf_Connection{Connection: ce}
	case recMisbehaving:
		m, ok := load[bpf.TracingNetMisbehaving](raw)
		if !ok {
			return fail(fmt.Errorf("%w: %d bytes", ErrShortRecord, len(raw)))
		}
		if hdr.Flags&flagReadError != 0 {
			return fail(ErrReadFailed)
		}
		e.EbpfEvent = &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Misbehaving{
			Misbehaving: &pb.MisbehavingConnection{Id: proto.Uint64(uint64(m.PeerId)), Message: proto.String(cstr(m.Message[:]))}}}}
	case recMempoolAdded:
		m, ok := load[bpf.TracingMempoolAdded](raw)
		if !ok {
			return fail(fmt.Errorf("%w: %d bytes", ErrShortRecord, len(raw)))
		}
		if hdr.Flags&flagReadError != 0 {
			return fail(ErrReadFailed)
		}
		e.EbpfEvent = mempool(&pb.MempoolEvent{Event: &pb.MempoolEvent_Added{Added: &pb.Added{
			Txid: hash(m.Txid[:]), Vsize: proto.Int32(m.Vsize), Fee: proto.Int64(m.Fee)}}})
	case recMempoolRemoved:
		m, ok := load[bpf.TracingMempoolRemoved](raw)
		if !ok {
			return fail(fmt.Errorf("%w: %d bytes", ErrShortRecord, len(raw)))
		}
		if hdr.Flags&flagReadError != 0 {
			return fail(ErrReadFailed)
		}
		e.EbpfEvent = mempool(&pb.MempoolEvent{Event: &pb.MempoolEvent_Removed{Removed: &pb.Removed{
			Txid: hash(m.Txid[:]), Reason: proto.String(cstr(m.Reason[:])), Vsize: proto.Int32(m.Vsize),
			Fee: proto.Int64(m.Fee), EntryTime: proto.Uint64(m.EntryTime)}}})
	case recMempoolReplaced:
		m, ok := load[bpf.TracingMempoolReplaced](raw)
		if !ok {
			return fail(fmt.Errorf("%w: %d bytes", ErrShortRecord, len(raw)))
		}
		if hdr.Flags&flagReadError != 0 {
			return fail(ErrReadFailed)
		}
		e.EbpfEvent = mempool(&pb.MempoolEvent{Event: &pb.MempoolEvent_Replaced{Replaced: &pb.Replaced{
			ReplacedTxid: hash(m.ReplacedTxid[:]), ReplacedVsize: proto.Int32(m.ReplacedVsize),
			ReplacedFee: proto.Int64(m.ReplacedFee), ReplacedEntryTime: proto.Uint64(m.ReplacedEntryTime),
			ReplacementId: hash(m.ReplacementId[:]), ReplacementVsize: proto.Int32(m.ReplacementVsize),
			ReplacementFee: proto.Int64(m.ReplacementFee), ReplacedByTransaction: proto.Bool(m.ReplacedByTransaction != 0)}}})
	case recMempoolRejected:
		m, ok := load[bpf.TracingMempoolRejected](raw)
		if !ok {
			return fail(fmt.Errorf("%w: %d bytes", ErrShortRecord, len(raw)))
		}
		if hdr.Flags&flagReadError != 0 {
			return fail(ErrReadFailed)
		}
		e.EbpfEvent = mempool(&pb.MempoolEvent{Event: &pb.MempoolEvent_Rejected{Rejected: &pb.Rejected{
			Txid: hash(m.Txid[:]), Reason: proto.String(cstr(m.Reason[:]))}}})
	case recBlockConnected:
		b, ok := load[bpf.TracingBlockConnected](raw)
		if !ok {
			return fail(fmt.Errorf("%w: %d bytes", ErrShortRecord, len(raw)))
		}
		if hdr.Flags&flagReadError != 0 {
			return fail(ErrReadFailed)
		}
		e.EbpfEvent = &pb.Ebpf_Validation{Validation: &pb.ValidationEvent{Event: &pb.ValidationEvent_BlockConnected{
			BlockConnected: &pb.BlockConnected{Hash: hash(b.Hash[:]), Height: proto.Int32(b.Height),
				Transactions: proto.Int64(int64(b.Transactions)), Inputs: proto.Int32(b.Inputs),
				Sigops: proto.Int64(b.Sigops), ConnectionTime: proto.Uint64(b.ConnectionTimeNs)}}}}
	default:
		return fail(fmt.Errorf("%w %d", ErrUnknownRecord, hdr.Type))
	}
	return &pb.Event{
		Timestamp:         proto.Uint64(timeMs(hdr.TsNs)),
		PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &e},
	}, info, nil
}

func mempool(m *pb.MempoolEvent) *pb.Ebpf_Mempool { return &pb.Ebpf_Mempool{Mempool: m} }
