package ebpf

import (
	"bytes"
	"errors"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/bpf"
	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// raw returns the bytes of a generated record struct, followed by extra.
func rawRecord[T any](v *T, extra []byte) []byte {
	b := unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
	return append(bytes.Clone(b), extra...)
}

func setStr(dst []int8, s string) {
	for i := range dst {
		dst[i] = 0
	}
	for i := 0; i < len(s) && i < len(dst)-1; i++ {
		dst[i] = int8(s[i])
	}
}

func fixedTime(bootNs uint64) uint64 { return 1_700_000_000_000 + bootNs/1e6 }

// msgRecord builds a net:*_message record the way the BPF program does:
// the fixed part, then the payload, padded to its size class.
func msgRecord(inbound bool, peer int64, addr, ct, command string, payload []byte) []byte {
	var m bpf.TracingNetMsg
	m.Hdr = bpf.TracingRecHdr{TsNs: 5e9, Pid: 42, Type: recOutboundMessage}
	if inbound {
		m.Hdr.Type = recInboundMessage
	}
	m.PeerId, m.MsgSize, m.PayloadLen, m.ClassSize = peer, uint64(len(payload)), uint32(len(payload)), 256
	setStr(m.Addr[:], addr)
	setStr(m.ConnType[:], ct)
	setStr(m.MsgType[:], command)
	b := rawRecord(&m, nil)[:netMsgHeaderSize]
	b = append(b, payload...)
	if pad := 256 - len(payload); pad > 0 {
		b = append(b, make([]byte, pad)...)
	}
	return b
}

// otherRecords are one record of every non-message type.
func otherRecords() map[string][]byte {
	recs := map[string][]byte{}
	for _, typ := range []uint16{recInboundConnection, recOutboundConnection, recClosedConnection, recEvictedConnection} {
		c := bpf.TracingNetConn{Hdr: bpf.TracingRecHdr{TsNs: 1e9, Type: typ}, PeerId: 7, Value: 1_700_000_000, Network: 3}
		setStr(c.Addr[:], "[2001:db8::1]:8333")
		setStr(c.ConnType[:], "block-relay-only")
		recs[recTypeName(typ)] = rawRecord(&c, nil)
	}
	mb := bpf.TracingNetMisbehaving{Hdr: bpf.TracingRecHdr{Type: recMisbehaving}, PeerId: 9}
	setStr(mb.Message[:], "header with invalid proof of work")
	recs["misbehaving"] = rawRecord(&mb, nil)
	ad := bpf.TracingMempoolAdded{Hdr: bpf.TracingRecHdr{Type: recMempoolAdded}, Vsize: 141, Fee: 300}
	copy(ad.Txid[:], seq32(1))
	recs["added"] = rawRecord(&ad, nil)
	rm := bpf.TracingMempoolRemoved{Hdr: bpf.TracingRecHdr{Type: recMempoolRemoved}, Vsize: 200, Fee: 100, EntryTime: 1_700_000_000}
	copy(rm.Txid[:], seq32(2))
	setStr(rm.Reason[:], "sizelimit")
	recs["removed"] = rawRecord(&rm, nil)
	rp := bpf.TracingMempoolReplaced{Hdr: bpf.TracingRecHdr{Type: recMempoolReplaced}, ReplacedVsize: 1, ReplacementVsize: 2,
		ReplacedFee: 3, ReplacementFee: 4, ReplacedEntryTime: 5, ReplacedByTransaction: 1}
	copy(rp.ReplacedTxid[:], seq32(3))
	copy(rp.ReplacementId[:], seq32(4))
	recs["replaced"] = rawRecord(&rp, nil)
	rj := bpf.TracingMempoolRejected{Hdr: bpf.TracingRecHdr{Type: recMempoolRejected}}
	copy(rj.Txid[:], seq32(5))
	setStr(rj.Reason[:], "min relay fee not met")
	recs["rejected"] = rawRecord(&rj, nil)
	bc := bpf.TracingBlockConnected{Hdr: bpf.TracingRecHdr{Type: recBlockConnected}, Height: 1, Inputs: 2, Transactions: 3, Sigops: 4, ConnectionTimeNs: 5}
	copy(bc.Hash[:], seq32(6))
	recs["block_connected"] = rawRecord(&bc, nil)
	return recs
}

// checkEvent holds every decoded event to the library's own rules: it
// classifies as event.Parse would, carries every required field, and is
// byte-for-byte what event.New makes of its decoded form.
func checkEvent(t *testing.T, ev event.Event) {
	t.Helper()
	parsed, err := event.Parse(ev.Raw)
	if err != nil {
		t.Fatalf("event bytes do not parse: %v", err)
	}
	if parsed.Time != ev.Time || parsed.Kind != ev.Kind || parsed.Type != ev.Type {
		t.Fatalf("event says %d %v %q, its bytes %d %v %q", ev.Time, ev.Kind, ev.Type, parsed.Time, parsed.Kind, parsed.Type)
	}
	var msg pb.Event
	if err := proto.Unmarshal(ev.Raw, &msg); err != nil {
		t.Fatalf("strict decode (required fields): %v", err)
	}
	again, err := event.New(&msg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Raw, ev.Raw) {
		t.Fatalf("re-encoding differs:\n%x\n%x", ev.Raw, again.Raw)
	}
}

// TestFastPathMatches holds the fast path to the general one: the same
// bytes for every message it takes, and it takes the frequent ones.
func TestFastPathMatches(t *testing.T) {
	fast := map[string]bool{}
	for _, tc := range messageCases(t) {
		for _, inbound := range []bool{true, false} {
			rec := msgRecord(inbound, 1<<40+3, "[2001:db8::1]:8333", "feeler", tc.command, tc.payload)
			var scratch []byte
			got, _, err := decodeRecord(rec, fixedTime, &scratch)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			want, _, err := decodeRecord(rec, fixedTime, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Raw, want.Raw) || got.Kind != want.Kind || got.Type != want.Type || got.Time != want.Time {
				t.Errorf("%s: fast path\n%x\ngeneral path\n%x", tc.name, got.Raw, want.Raw)
			}
			checkEvent(t, got)
			_, ok := fastArm(nil, tc.command, tc.payload)
			fast[tc.name] = ok
		}
	}
	for _, name := range []string{"ping", "pong", "inv", "getdata", "notfound", "feefilter", "tx", "verack", "sendheaders", "wtxidrelay", "unknown"} {
		if !fast[name] {
			t.Errorf("%s does not take the fast path", name)
		}
	}
	for _, name := range []string{"version", "block", "addrv2", "oldping", "malformed-tx", "superfluous-witness", "trailing-ping", "emptyaddrv2"} {
		if fast[name] {
			t.Errorf("%s took the fast path", name)
		}
	}
}

func TestDecodeRecordTypes(t *testing.T) {
	want := map[string]struct {
		kind event.Kind
		typ  string
	}{
		"net:inbound_connection": {event.NetConn, "inbound"}, "net:outbound_connection": {event.NetConn, "outbound"},
		"net:closed_connection": {event.NetConn, "closed"}, "net:evicted_inbound_connection": {event.NetConn, "inbound_evicted"},
		"misbehaving": {event.NetConn, "misbehaving"}, "added": {event.Mempool, "added"}, "removed": {event.Mempool, "removed"},
		"replaced": {event.Mempool, "replaced"}, "rejected": {event.Mempool, "rejected"},
		"block_connected": {event.Validation, "block_connected"},
	}
	for name, rec := range otherRecords() {
		ev, _, err := decodeRecord(rec, fixedTime, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if w := want[name]; ev.Kind != w.kind || ev.Type != w.typ {
			t.Errorf("%s: %v %q, want %v %q", name, ev.Kind, ev.Type, w.kind, w.typ)
		}
		checkEvent(t, ev)
	}
	// The removal reason peer-observer cuts to "sizelimi" arrives whole.
	ev, _, _ := decodeRecord(otherRecords()["removed"], fixedTime, nil)
	msg, _ := ev.Decode()
	if r := msg.GetEbpfExtractor().GetMempool().GetRemoved().GetReason(); r != "sizelimit" {
		t.Errorf("removal reason %q", r)
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	good := msgRecord(true, 1, "a", "inbound", "ping", le64(1))
	flagged := func(f uint16) []byte {
		b := bytes.Clone(good)
		hdr := (*bpf.TracingRecHdr)(unsafe.Pointer(&b[0]))
		hdr.Flags |= f
		return b
	}
	short := bytes.Clone(good)
	(*bpf.TracingNetMsg)(unsafe.Pointer(&short[0])).PayloadLen = 1000
	unknown := bytes.Clone(good)
	(*bpf.TracingRecHdr)(unsafe.Pointer(&unknown[0])).Type = 99
	// As BPF emits an oversized message: the header and no payload
	// bytes (shorter than the Go struct, which pads its trailing array).
	oversized := flagged(flagOversized)[:netMsgHeaderSize]
	(*bpf.TracingNetMsg)(unsafe.Pointer(&oversized[0])).PayloadLen = 0
	(*bpf.TracingNetMsg)(unsafe.Pointer(&oversized[0])).MsgSize = 4<<20 + 1
	conn := otherRecords()["net:inbound_connection"]
	for _, tc := range []struct {
		name   string
		raw    []byte
		is     error
		reason string
	}{
		{"empty", nil, ErrShortRecord, "malformed"},
		{"truncated header", good[:10], ErrShortRecord, "malformed"},
		{"truncated message", good[:100], ErrShortRecord, "malformed"},
		{"payload past record", short, ErrShortRecord, "malformed"},
		{"read error", flagged(flagReadError), ErrReadFailed, "read_error"},
		{"oversized", flagged(flagOversized), ErrOversized, "oversized"},
		{"oversized without payload", oversized, ErrOversized, "oversized"},
		{"unknown type", unknown, ErrUnknownRecord, "unknown_type"},
		{"truncated connection", conn[:len(conn)-1], ErrShortRecord, "malformed"},
	} {
		_, _, err := decodeRecord(tc.raw, fixedTime, nil)
		var re *RecordError
		if !errors.Is(err, tc.is) || !errors.As(err, &re) || recordErrorReason(err) != tc.reason {
			t.Errorf("%s: %v, want %v (%s)", tc.name, err, tc.is, tc.reason)
		}
	}
	// Truncation flags still publish, and are reported.
	ev, info, err := decodeRecord(flagged(flagTruncAddr), fixedTime, nil)
	if err != nil || info.Flags&flagTruncAddr == 0 || ev.Raw == nil {
		t.Errorf("truncated addr: %v %+v", err, info)
	}
}

// FuzzDecodeRecord feeds arbitrary ring buffer records to the decoder: it
// must not panic, and every event it returns must be well formed and
// identical on the fast and the general path.
func FuzzDecodeRecord(f *testing.F) {
	for _, tc := range messageCases(f) {
		if len(tc.payload) <= 256 {
			f.Add(msgRecord(true, 1, "1.2.3.4:8333", "inbound", tc.command, tc.payload))
		}
	}
	for _, rec := range otherRecords() {
		f.Add(rec)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var scratch []byte
		ev, _, err := decodeRecord(raw, fixedTime, &scratch)
		slow, _, slowErr := decodeRecord(raw, fixedTime, nil)
		if (err == nil) != (slowErr == nil) {
			t.Fatalf("fast path err %v, general path err %v", err, slowErr)
		}
		if err != nil {
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RecordError", err)
			}
			return
		}
		if !bytes.Equal(ev.Raw, slow.Raw) {
			t.Fatalf("fast path %x\ngeneral path %x", ev.Raw, slow.Raw)
		}
		checkEvent(t, ev)
	})
}

// FuzzDecodeMessage fuzzes P2P payloads of every command through a
// message record: no panics, fast and general path agree, well-formed
// events.
func FuzzDecodeMessage(f *testing.F) {
	for _, tc := range messageCases(f) {
		f.Add(tc.command, tc.payload)
	}
	f.Fuzz(func(t *testing.T, command string, payload []byte) {
		if len(command) > 12 || len(payload) > 256 {
			return // the BPF side bounds both
		}
		rec := msgRecord(len(payload)%2 == 0, 1, "1.2.3.4:8333", "inbound", command, payload)
		var scratch []byte
		ev, info, err := decodeRecord(rec, fixedTime, &scratch)
		if err != nil {
			t.Fatal(err) // a well-formed record always yields an event
		}
		slow, _, err := decodeRecord(rec, fixedTime, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ev.Raw, slow.Raw) {
			t.Fatalf("fast path %x\ngeneral path %x", ev.Raw, slow.Raw)
		}
		if info.PayloadErr != nil {
			msg, _ := ev.Decode()
			if msg.GetEbpfExtractor().GetMessage().GetUnknown() == nil {
				t.Fatalf("undecodable %s payload not published as unknown", command)
			}
		}
		checkEvent(t, ev)
	})
}
