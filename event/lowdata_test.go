package event

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// unknownField is a field number no schema uses, so it lands in the
// unknown-field set of whatever message it is attached to.
func unknownField(tag protowire.Number, s string) []byte {
	b := protowire.AppendTag(nil, tag, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func withUnknown[M proto.Message](m M, b []byte) M {
	r := m.ProtoReflect()
	r.SetUnknown(append(r.GetUnknown(), b...))
	return m
}

func lowDataHash(seed byte) []byte { return bytes.Repeat([]byte{seed}, 32) }

func lowDataHeader() *pb.BlockHeader {
	return &pb.BlockHeader{Version: proto.Int32(2), PrevBlockhash: lowDataHash(1), MerkleRoot: lowDataHash(2), Time: proto.Uint32(1700000000),
		Bits: proto.Uint32(0x1d00ffff), Nonce: proto.Uint32(7), Hash: lowDataHash(3)}
}

func lowDataTx(seed byte, raw bool) *pb.Transaction {
	t := &pb.Transaction{Txid: lowDataHash(seed), Wtxid: lowDataHash(seed + 1)}
	if raw {
		t.Raw = bytes.Repeat([]byte{seed}, 200)
	}
	return t
}

// msgEvent wraps a P2P message arm in a full event with an unknown field at
// the top level and in the metadata.
func msgEvent(cmd string, size uint64, arm func(*pb.MessageEvent)) *pb.Event {
	meta := withUnknown(&pb.Metadata{PeerId: proto.Uint64(3), Addr: proto.String("192.0.2.7:8333"), ConnType: pb.ConnType_Inbound.Enum(),
		Command: proto.String(cmd), Inbound: proto.Bool(true), Size: proto.Uint64(size)}, unknownField(99, "meta-future"))
	m := &pb.MessageEvent{Meta: meta}
	arm(m)
	ev := &pb.Event{Timestamp: proto.Uint64(1_700_000_000_123), PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: m}}}}
	return withUnknown(ev, unknownField(77, "event-future"))
}

type lowDataCase struct {
	name string
	in   func() *pb.Event
	// want builds the expected stripped message; nil means the event must
	// come back byte-identical (same slice).
	want func() *pb.Event
}

func lowDataCases() []lowDataCase {
	tx := func(raw bool) func() *pb.Event {
		return func() *pb.Event {
			return msgEvent("tx", 250, func(m *pb.MessageEvent) {
				m.Msg = &pb.MessageEvent_Tx{Tx: withUnknown(&pb.Tx{Tx: withUnknown(lowDataTx(10, raw), unknownField(50, "tx-future"))}, unknownField(51, "txmsg-future"))}
			})
		}
	}
	block := func(txs bool) func() *pb.Event {
		return func() *pb.Event {
			return msgEvent("block", 4_000_000, func(m *pb.MessageEvent) {
				b := withUnknown(&pb.Block{Header: lowDataHeader()}, unknownField(60, "block-future"))
				if txs {
					b.Transactions = []*pb.Transaction{lowDataTx(20, true), lowDataTx(22, true)}
				}
				m.Msg = &pb.MessageEvent_Block{Block: b}
			})
		}
	}
	blocktxn := func(raw bool) func() *pb.Event {
		return func() *pb.Event {
			return msgEvent("blocktxn", 900, func(m *pb.MessageEvent) {
				m.Msg = &pb.MessageEvent_Blocktxn{Blocktxn: &pb.BlockTxn{BlockHash: lowDataHash(9),
					Transactions: []*pb.Transaction{lowDataTx(30, raw), withUnknown(lowDataTx(32, raw), unknownField(61, "btx-future"))}}}
			})
		}
	}
	cmpct := func(raw bool) func() *pb.Event {
		return func() *pb.Event {
			return msgEvent("cmpctblock", 1200, func(m *pb.MessageEvent) {
				m.Msg = &pb.MessageEvent_Compactblock{Compactblock: &pb.CompactBlock{Header: lowDataHeader(), Nonce: proto.Uint64(5),
					ShortIds:     [][]byte{{1, 2, 3, 4, 5, 6}, {6, 5, 4, 3, 2, 1}},
					Transactions: []*pb.PrefilledTransaction{{DiffIndex: proto.Uint32(0), Tx: lowDataTx(40, raw)}}}}
			})
		}
	}
	return []lowDataCase{
		{name: "tx", in: tx(true), want: tx(false)},
		{name: "tx without raw", in: tx(false)},
		{name: "block", in: block(true), want: block(false)},
		{name: "block without transactions", in: block(false)},
		{name: "blocktxn", in: blocktxn(true), want: blocktxn(false)},
		{name: "blocktxn without raw", in: blocktxn(false)},
		{name: "cmpctblock", in: cmpct(true), want: cmpct(false)},
		{name: "cmpctblock without raw", in: cmpct(false)},
		{name: "inv", in: func() *pb.Event {
			return msgEvent("inv", 37, func(m *pb.MessageEvent) {
				m.Msg = &pb.MessageEvent_Inv{Inv: &pb.Inv{Items: []*pb.InventoryItem{{Item: &pb.InventoryItem_Wtx{Wtx: lowDataHash(4)}}}}}
			})
		}},
		{name: "headers", in: func() *pb.Event {
			return msgEvent("headers", 81, func(m *pb.MessageEvent) {
				m.Msg = &pb.MessageEvent_Headers{Headers: &pb.Headers{Headers: []*pb.BlockHeader{lowDataHeader()}}}
			})
		}},
		{name: "mempool added", in: func() *pb.Event {
			return &pb.Event{Timestamp: proto.Uint64(5), PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Mempool{Mempool: &pb.MempoolEvent{
				Event: &pb.MempoolEvent_Added{Added: &pb.Added{Txid: lowDataHash(1), Vsize: proto.Int32(100), Fee: proto.Int64(1000)}}}}}}}
		}},
		{name: "rpc", in: func() *pb.Event {
			return &pb.Event{Timestamp: proto.Uint64(6), PeerObserverEvent: &pb.Event_RpcExtractor{RpcExtractor: &pb.Rpc{RpcEvent: &pb.Rpc_Uptime{Uptime: 9}}}}
		}},
	}
}

// marshalPartial encodes like the recorder's re-encoding does.
func marshalPartial(t *testing.T, m *pb.Event) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true, AllowPartial: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStripLowData(t *testing.T) {
	for _, c := range lowDataCases() {
		t.Run(c.name, func(t *testing.T) {
			ev, err := Parse(marshalPartial(t, c.in()))
			if err != nil {
				t.Fatal(err)
			}
			got, changed, err := StripLowData(ev)
			if err != nil {
				t.Fatal(err)
			}
			if c.want == nil {
				if changed || &got.Raw[0] != &ev.Raw[0] || len(got.Raw) != len(ev.Raw) {
					t.Fatalf("event changed (changed=%v); want the same bytes back", changed)
				}
				return
			}
			if !changed {
				t.Fatal("nothing stripped")
			}
			want := marshalPartial(t, c.want())
			if !bytes.Equal(got.Raw, want) {
				t.Fatalf("stripped bytes differ\n got %x\nwant %x", got.Raw, want)
			}
			if len(got.Raw) >= len(ev.Raw) {
				t.Fatalf("stripped event is %d bytes, original %d", len(got.Raw), len(ev.Raw))
			}
			if got.Time != ev.Time || got.Kind != ev.Kind || got.Type != ev.Type {
				t.Fatalf("classification changed: %v %v %q -> %v %v %q", ev.Time, ev.Kind, ev.Type, got.Time, got.Kind, got.Type)
			}
			// Unknown fields at every level survived, and meta.size is
			// still the original wire size.
			for _, s := range []string{"event-future", "meta-future"} {
				if !bytes.Contains(got.Raw, []byte(s)) {
					t.Errorf("unknown field %q lost", s)
				}
			}
			m, err := got.Decode()
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := ev.Decode()
			if m.GetEbpfExtractor().GetMessage().GetMeta().GetSize() != orig.GetEbpfExtractor().GetMessage().GetMeta().GetSize() {
				t.Error("meta.size changed")
			}
			// Stripping is idempotent.
			again, changed, err := StripLowData(got)
			if err != nil || changed || !bytes.Equal(again.Raw, got.Raw) {
				t.Fatalf("second strip changed the event again (changed=%v, err=%v)", changed, err)
			}
		})
	}
}

// Unknown fields inside the stripped message itself are kept too.
func TestStripLowDataKeepsNestedUnknownFields(t *testing.T) {
	c := lowDataCases()[0] // tx
	ev, err := Parse(marshalPartial(t, c.in()))
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := StripLowData(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"tx-future", "txmsg-future"} {
		if !bytes.Contains(got.Raw, []byte(s)) {
			t.Errorf("unknown field %q lost", s)
		}
	}
}

// Non-P2P events, unknown kinds and events from a newer extractor pass
// untouched, even when malformed deeper down than Parse looks.
func TestStripLowDataLeavesOthersByteIdentical(t *testing.T) {
	raws := [][]byte{
		{0x50, 0xb8, 0x17, 0x4a, 0x02, 0x08, 0x01}, // timestamp + unknown oneof arm 9
	}
	for _, c := range goldenCases() {
		raws = append(raws, []byte(c.raw))
	}
	for i, raw := range raws {
		ev, err := Parse(raw)
		if err != nil {
			continue
		}
		got, changed, err := StripLowData(ev)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		strippable := ev.Kind == NetMsg && (ev.Type == "tx" || ev.Type == "block" || ev.Type == "blocktxn" || ev.Type == "cmpctblock")
		if !strippable && (changed || !bytes.Equal(got.Raw, raw)) {
			t.Errorf("case %d (%s): changed", i, ev.Selector())
		}
	}
}

func TestStripLowDataMalformed(t *testing.T) {
	// A P2P message whose tx arm is cut short: Parse does not look inside
	// it, the decoder does.
	raw := []byte{0x0a, 0x06, 0x0a, 0x04, 0x32, 0x05, 0x0a, 0x01}
	ev := Event{Kind: NetMsg, Type: "tx", Raw: raw}
	got, changed, err := StripLowData(ev)
	if err == nil {
		t.Fatal("no error for a malformed event")
	}
	if changed || !bytes.Equal(got.Raw, raw) {
		t.Fatal("malformed event was altered")
	}
}

func FuzzStripLowData(f *testing.F) {
	for _, raw := range lowDataSeeds(f) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := Parse(raw)
		if err != nil {
			return
		}
		got, changed, err := StripLowData(ev)
		if err != nil || !changed {
			if !bytes.Equal(got.Raw, raw) {
				t.Fatal("unchanged event has different bytes")
			}
			return
		}
		re, err := Parse(got.Raw)
		if err != nil {
			t.Fatalf("stripped event does not parse: %v", err)
		}
		if re.Kind != ev.Kind || re.Time != ev.Time {
			t.Fatalf("classification changed: %v/%d -> %v/%d", ev.Kind, ev.Time, re.Kind, re.Time)
		}
		if _, again, err := StripLowData(re); err != nil || again {
			t.Fatalf("not idempotent (again=%v, err=%v)", again, err)
		}
	})
}

func lowDataSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, c := range lowDataCases() {
		b, err := proto.MarshalOptions{Deterministic: true, AllowPartial: true}.Marshal(c.in())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestLowDataFuzzSeeds keeps the seed corpus in testdata/fuzz in step with
// the cases (rewrite with -update), so `go test -fuzz` starts from real events.
func TestLowDataFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzStripLowData")
	seeds := lowDataSeeds(t)
	for i, raw := range seeds {
		p := filepath.Join(dir, fmt.Sprintf("case%02d", i))
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", raw)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run go test ./event -run LowDataFuzzSeeds -update)", err)
		}
		if string(b) != content {
			t.Fatalf("%s is stale (run go test ./event -run LowDataFuzzSeeds -update)", p)
		}
	}
}
