// Package testevents builds small, varied, deterministic event streams for
// tests of packages that store or move events without caring what they
// mean (format, cmd). Realistic streams come from package synth.
package testevents

import (
	"fmt"
	"math/rand/v2"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// Mixed returns n events cycling through P2P inv, tx and ping messages,
// inbound connections, RPC uptime and log lines, with non-decreasing times
// from start (ms) and payload sizes that vary with seed. It panics only if
// the schema changes under it.
func Mixed(n int, seed uint64, start int64) []event.Event {
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
			panic(fmt.Sprintf("testevents: %v", err))
		}
		evs = append(evs, ev)
	}
	return evs
}
