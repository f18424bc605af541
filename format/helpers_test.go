package format

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// testEvents returns n varied events of every kind with increasing times
// from start (ms), deterministic for a seed. Payload sizes vary so frames
// fill at different record boundaries.
func testEvents(t testing.TB, n int, seed uint64, start int64) []event.Event {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	hash := func() []byte {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	evs := make([]event.Event, 0, n)
	ts := start
	for i := 0; i < n; i++ {
		ts += int64(rng.IntN(5))
		msg := &pb.Event{Timestamp: proto.Uint64(uint64(ts))}
		meta := func(cmd string, size int) *pb.Metadata {
			return &pb.Metadata{PeerId: proto.Uint64(uint64(rng.IntN(100))), Addr: proto.String(fmt.Sprintf("10.0.%d.%d:8333", rng.IntN(256), rng.IntN(256))),
				ConnType: pb.ConnType_Inbound.Enum(), Command: proto.String(cmd), Inbound: proto.Bool(rng.IntN(2) == 0), Size: proto.Uint64(uint64(size))}
		}
		ebpf := func(e *pb.Ebpf) { msg.PeerObserverEvent = &pb.Event_EbpfExtractor{EbpfExtractor: e} }
		switch i % 7 {
		case 0, 1:
			var items []*pb.InventoryItem
			for j := 0; j < 1+rng.IntN(8); j++ {
				items = append(items, &pb.InventoryItem{Item: &pb.InventoryItem_Wtx{Wtx: hash()}})
			}
			ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: &pb.MessageEvent{Meta: meta("inv", 1+36*len(items)), Msg: &pb.MessageEvent_Inv{Inv: &pb.Inv{Items: items}}}}})
		case 2:
			raw := make([]byte, 100+rng.IntN(400))
			for j := range raw {
				raw[j] = byte(rng.Uint32())
			}
			ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: &pb.MessageEvent{Meta: meta("tx", len(raw)),
				Msg: &pb.MessageEvent_Tx{Tx: &pb.Tx{Tx: &pb.Transaction{Txid: hash(), Wtxid: hash(), Raw: raw}}}}}})
		case 3:
			ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: &pb.MessageEvent{Meta: meta("ping", 8), Msg: &pb.MessageEvent_Ping{Ping: &pb.Ping{Value: proto.Uint64(rng.Uint64())}}}}})
		case 4:
			ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Inbound{Inbound: &pb.InboundConnection{
				Conn:                &pb.Connection{PeerId: proto.Uint64(uint64(i)), Addr: proto.String("192.0.2.1:1234"), ConnType: pb.ConnType_Inbound.Enum(), Network: proto.Uint32(1)},
				ExistingConnections: proto.Uint64(uint64(rng.IntN(100))),
			}}}}})
		case 5:
			msg.PeerObserverEvent = &pb.Event_RpcExtractor{RpcExtractor: &pb.Rpc{RpcEvent: &pb.Rpc_Uptime{Uptime: uint32(i)}}}
		case 6:
			msg.PeerObserverEvent = &pb.Event_LogExtractor{LogExtractor: &pb.Log{LogTimestamp: proto.Uint64(uint64(ts) * 1000), Category: pb.LogDebugCategory_NET.Enum(),
				LogEvent: &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String(fmt.Sprintf("line %d", i))}}}}
		}
		ev, err := event.New(msg)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// writeSegment writes evs into dir/name and returns the path.
func writeSegment(t testing.TB, dir, name string, evs []event.Event, o WriterOptions) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if o.Meta == nil {
		o.Meta = &pb.SegmentMeta{Node: "n1", CreatedMs: 1_700_000_000_000}
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = -1 // tests flush explicitly
	}
	w, err := Create(path, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if err := w.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// readAll reads every event of path with opts.
func readAll(t testing.TB, path string, opts ...ReadOptions) ([]event.Event, *Reader) {
	t.Helper()
	r, err := Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for r.Next() {
		evs = append(evs, r.Event())
	}
	if err := r.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	r.Close()
	return evs, r
}

func sameEvents(t testing.TB, got, want []event.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Raw, want[i].Raw) {
			t.Fatalf("event %d differs", i)
		}
		if got[i].Time != want[i].Time || got[i].Kind != want[i].Kind || got[i].Type != want[i].Type {
			t.Fatalf("event %d: got %d/%s/%s, want %d/%s/%s", i, got[i].Time, got[i].Kind, got[i].Type, want[i].Time, want[i].Kind, want[i].Type)
		}
	}
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

var _ = time.Second
