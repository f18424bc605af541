package sanitize

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/internal/testevents"
	"github.com/peertape/peertape/proto/pb"
)

// withUnknown inserts unknown fields into ev at the top level and inside
// the innermost message the fast path rewrites or keeps, the way a newer
// extractor would write them.
func withUnknown(t testing.TB, ev event.Event) event.Event {
	t.Helper()
	raw := appendUnknown(bytes.Clone(ev.Raw), []byte("future "+v4a))
	// An unknown varint at the front of the event, too.
	front := protowire.AppendTag(nil, 77, protowire.VarintType)
	front = protowire.AppendVarint(front, 5)
	out, err := event.Parse(append(front, raw...))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fastCorpus(t testing.TB) []event.Event {
	var evs []event.Event
	evs = append(evs, realisticMix(t, 3000)...)
	evs = append(evs, testevents.Mixed(700, 3, ts0)...)
	for _, p := range places() {
		orig := p.orig
		if orig == "" {
			orig = onion3Short(t)
		}
		evs = append(evs, build(t, p.mk(orig)))
	}
	// Every arm the fast path handles, plus unknown fields and enum values.
	nonce := uint64(ts0)*1e6 + 99
	more := []*pb.Event{
		ebpfMsg(ts0, v4a+":8333", "ping", &pb.MessageEvent{Msg: &pb.MessageEvent_Ping{Ping: &pb.Ping{Value: proto.Uint64(nonce)}}}),
		ebpfMsg(ts0, v4a+":8333", "pong", &pb.MessageEvent{Msg: &pb.MessageEvent_Pong{Pong: &pb.Pong{Value: proto.Uint64(nonce)}}}),
		ebpfMsg(ts0, "", "verack", &pb.MessageEvent{Msg: &pb.MessageEvent_Verack{Verack: true}}),
		ebpfMsg(ts0, "["+v6a+"]:8333", "block", &pb.MessageEvent{Msg: &pb.MessageEvent_Block{Block: &pb.Block{Transactions: []*pb.Transaction{{Txid: make([]byte, 32), Raw: []byte{1, 2, 3}}}}}}),
		connEv(ts0, &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Closed{Closed: &pb.ClosedConnection{Conn: conn(onion3 + ":8333"), TimeEstablished: proto.Uint64(ts0/1000 - 5)}}}),
		connEv(ts0, &pb.ConnectionEvent{Event: &pb.ConnectionEvent_InboundEvicted{InboundEvicted: &pb.EvictedInboundConnection{Conn: conn(v4b + ":1"), TimeEstablished: proto.Uint64(0)}}}),
		{Timestamp: proto.Uint64(ts0), PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Mempool{Mempool: &pb.MempoolEvent{
			Event: &pb.MempoolEvent_Replaced{Replaced: &pb.Replaced{ReplacedTxid: make([]byte, 32), ReplacedEntryTime: proto.Uint64(ts0 / 1000), ReplacementId: make([]byte, 32)}}}}}}},
		{Timestamp: proto.Uint64(ts0), PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Validation{Validation: &pb.ValidationEvent{
			Event: &pb.ValidationEvent_BlockConnected{BlockConnected: &pb.BlockConnected{Hash: make([]byte, 32), Height: proto.Int32(5)}}}}}}},
		// debug.log lines: every arm, times zero and not, text with and
		// without addresses, a category this build does not know.
		logEv(ts0, &pb.Log{LogTimestamp: proto.Uint64(ts0*1000 + 7), Category: pb.LogDebugCategory_NET.Enum(), Threadname: proto.String("net-" + v4a),
			LogEvent: &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String("connection from [" + v6a + "]:8333 and " + onion3 + ":8333 peer=5")}}}),
		logEv(ts0, &pb.Log{LogTimestamp: proto.Uint64(0), Category: pb.LogDebugCategory_VALIDATION.Enum(),
			LogEvent: &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String("UpdateTip: nothing to hide")}}}),
		logEv(ts0, &pb.Log{LogTimestamp: proto.Uint64(ts0 * 1000), Category: pb.LogDebugCategory_VALIDATION.Enum(),
			LogEvent: &pb.Log_BlockCheckedLog{BlockCheckedLog: &pb.BlockCheckedLog{BlockHash: proto.String("00ab"), State: proto.String("bad-txns " + v4b), DebugMessage: proto.String("from " + i2pA)}}}),
		logEv(ts0, &pb.Log{LogTimestamp: proto.Uint64(ts0 * 1000), Category: pb.LogDebugCategory_VALIDATION.Enum(), Threadname: proto.String(""),
			LogEvent: &pb.Log_BlockConnectedLog{BlockConnectedLog: &pb.BlockConnectedLog{BlockHash: proto.String("00cd"), BlockHeight: proto.Uint32(880000)}}}),
		logEv(ts0, &pb.Log{LogTimestamp: proto.Uint64(ts0 * 1000), Category: pb.LogDebugCategory(250).Enum(),
			LogEvent: &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String("")}}}),
		logEv(ts0, &pb.Log{Category: pb.LogDebugCategory_NET.Enum()}), // required log_timestamp missing
	}
	for _, m := range more {
		evs = append(evs, build(t, m))
	}
	n := len(evs)
	for i := 0; i < n; i += 7 {
		evs = append(evs, withUnknown(t, evs[i]))
	}
	// A conn_type value the closed enum does not define is an unknown
	// field to a decoder.
	m := decode(t, build(t, ebpfMsg(ts0, v4a+":1", "verack", &pb.MessageEvent{Msg: &pb.MessageEvent_Verack{Verack: true}})))
	m.GetEbpfExtractor().GetMessage().GetMeta().ConnType = pb.ConnType(99).Enum()
	evs = append(evs, build(t, m))
	return evs
}

// The fast path produces exactly what the full rewrite produces, under
// every option that changes what it does, and takes most events.
func TestFastPathMatchesFullRewrite(t *testing.T) {
	corpus := fastCorpus(t)
	dk, _ := event.NewFilter([]string{"netmsg:tx"}, nil)
	for _, o := range []Options{
		{},
		{TimeShift: -90 * time.Minute},
		{KeyedTimeShift: true, ScrubPorts: true, Self: []string{v4b}},
		{DropPublicData: true, DropKinds: dk},
		{DropUnknownFields: true, KeepUnknownPayloads: true},
	} {
		t.Run(fmt.Sprint(o.Flags()), func(t *testing.T) {
			fast := newSanitizer(t, o)
			slow := newSanitizer(t, o)
			slow.noFast = true
			for i, ev := range corpus {
				a, keepA, errA := fast.Event(ev)
				b, keepB, errB := slow.Event(ev)
				if (errA != nil) != (errB != nil) || keepA != keepB {
					t.Fatalf("event %d (%s): fast keep=%v err=%v, full keep=%v err=%v", i, ev.Selector(), keepA, errA, keepB, errB)
				}
				if !keepA {
					continue
				}
				if a.Time != b.Time || a.Kind != b.Kind || a.Type != b.Type || a.Node != b.Node {
					t.Fatalf("event %d: fast %v %v %q, full %v %v %q", i, a.Time, a.Kind, a.Type, b.Time, b.Kind, b.Type)
				}
				ma, mb := decode(t, a), decode(t, b)
				if !proto.Equal(ma, mb) {
					t.Fatalf("event %d (%s) differs:\nfast %v\nfull %v", i, ev.Selector(), ma, mb)
				}
			}
			fs, ss := fast.Stats(), slow.Stats()
			if fs.FastPath < uint64(len(corpus))/2 {
				t.Errorf("fast path took only %d of %d events", fs.FastPath, len(corpus))
			}
			if ss.FastPath != 0 {
				t.Errorf("disabled fast path took %d events", ss.FastPath)
			}
			if fs.Addresses != ss.Addresses || fs.UnknownFields != ss.UnknownFields || fs.UnknownFieldEvents != ss.UnknownFieldEvents || fs.Dropped != ss.Dropped {
				t.Errorf("stats differ:\nfast %+v\nfull %+v", fs, ss)
			}
			t.Logf("fast %+v", fs)
			if fs.UnknownFieldEvents == 0 {
				t.Error("no unknown fields counted")
			}
		})
	}
}

// Unknown fields are copied byte-exactly by default and removed (with
// unknown-kind events) by DropUnknownFields, on both paths.
func TestDropUnknownFields(t *testing.T) {
	base := build(t, ebpfMsg(ts0, v4a+":8333", "inv", &pb.MessageEvent{Msg: &pb.MessageEvent_Inv{Inv: &pb.Inv{}}}))
	in := withUnknown(t, base)
	unknownKind, err := event.Parse(appendUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 10, protowire.VarintType), ts0), []byte(v4b)))
	if err != nil || unknownKind.Kind != event.Unknown {
		t.Fatalf("unknown-kind event: %v %v", unknownKind.Kind, err)
	}
	for _, noFast := range []bool{false, true} {
		keep := newSanitizer(t, Options{})
		drop := newSanitizer(t, Options{DropUnknownFields: true})
		keep.noFast, drop.noFast = noFast, noFast
		out, _, err := keep.Event(in)
		if err != nil || !bytes.Contains(out.Raw, []byte("future "+v4a)) {
			t.Fatalf("noFast=%v: unknown field not kept: %v", noFast, err)
		}
		out, _, err = drop.Event(in)
		if err != nil || bytes.Contains(out.Raw, []byte("future")) || len(decode(t, out).ProtoReflect().GetUnknown()) != 0 {
			t.Fatalf("noFast=%v: unknown field not dropped: %x %v", noFast, out.Raw, err)
		}
		if _, kept, _ := drop.Event(unknownKind); kept {
			t.Fatalf("noFast=%v: unknown-kind event kept", noFast)
		}
		if _, kept, _ := keep.Event(unknownKind); !kept {
			t.Fatalf("noFast=%v: unknown-kind event dropped by default", noFast)
		}
		if st := drop.Stats(); st.UnknownKindDropped != 1 || st.UnknownFieldEvents != 1 {
			t.Fatalf("noFast=%v: stats %+v", noFast, st)
		}
	}
}

func FuzzFastPath(f *testing.F) {
	for i, ev := range fastCorpus(f) {
		if i%10 == 0 {
			f.Add(ev.Raw)
		}
	}
	fast := newSanitizer(f, Options{TimeShift: -time.Hour, ScrubPorts: true})
	slow := newSanitizer(f, Options{TimeShift: -time.Hour, ScrubPorts: true})
	slow.noFast = true
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := event.Parse(raw)
		if err != nil {
			return
		}
		a, keepA, errA := fast.Event(ev)
		b, keepB, errB := slow.Event(ev)
		if (errA != nil) != (errB != nil) || keepA != keepB {
			t.Fatalf("fast keep=%v err=%v, full keep=%v err=%v", keepA, errA, keepB, errB)
		}
		if errA != nil || !keepA {
			return
		}
		ma, err := a.Decode()
		if err != nil {
			t.Fatalf("fast output does not decode: %v", err)
		}
		mb, _ := b.Decode()
		if !proto.Equal(ma, mb) || a.Time != b.Time || a.Kind != b.Kind {
			t.Fatalf("differs:\nfast %v\nfull %v", ma, mb)
		}
	})
}
