package edit

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
	"github.com/peertape/peertape/sanitize/sanitizetest"
)

func build(t testing.TB, m *pb.Event) event.Event {
	t.Helper()
	raw, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := event.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func netmsg(id uint64, addr string) *pb.Event {
	return &pb.Event{Timestamp: proto.Uint64(t0), PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: &pb.MessageEvent{
		Meta: &pb.Metadata{PeerId: proto.Uint64(id), Addr: proto.String(addr), Command: proto.String("verack")}, Msg: &pb.MessageEvent_Verack{Verack: true}}}}}}
}

func logLine(s string) *pb.Event {
	return &pb.Event{Timestamp: proto.Uint64(t0), PeerObserverEvent: &pb.Event_LogExtractor{LogExtractor: &pb.Log{
		LogEvent: &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String(s)}}}}}
}

func connection(c *pb.ConnectionEvent) *pb.Event {
	return &pb.Event{Timestamp: proto.Uint64(t0), PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: c}}}}
}

func TestPeersMatch(t *testing.T) {
	onion := sanitizetest.SelfOnion
	for _, c := range []struct {
		peer string
		ev   *pb.Event
		want bool
	}{
		{"12", netmsg(12, "1.2.3.4:8333"), true},
		{"12", netmsg(1, "1.2.3.4:8333"), false},
		{"1.2.3.4", netmsg(1, "1.2.3.4:8333"), true},
		{"1.2.3.4:8333", netmsg(1, "1.2.3.4:8333"), true},
		{"1.2.3.4:8334", netmsg(1, "1.2.3.4:8333"), false},
		{"1.2.3.4", netmsg(1, "11.2.3.4:8333"), false},
		{"1.2.3.4", netmsg(1, "[::ffff:1.2.3.4]:8333"), true},
		{"[2001:db8::1]:8333", netmsg(1, "[2001:db8:0::1]:8333"), true},
		{"2001:db8::1", netmsg(1, "[2001:db8::10]:8333"), false},
		{onion, netmsg(1, onion+":8333"), true},
		{"12", connection(&pb.ConnectionEvent{Event: &pb.ConnectionEvent_Closed{Closed: &pb.ClosedConnection{Conn: &pb.Connection{PeerId: proto.Uint64(12), Addr: proto.String("5.6.7.8:1")}}}}), true},
		{"5.6.7.8", connection(&pb.ConnectionEvent{Event: &pb.ConnectionEvent_Inbound{Inbound: &pb.InboundConnection{Conn: &pb.Connection{PeerId: proto.Uint64(1), Addr: proto.String("5.6.7.8:1")}}}}), true},
		{"12", connection(&pb.ConnectionEvent{Event: &pb.ConnectionEvent_Misbehaving{Misbehaving: &pb.MisbehavingConnection{Id: proto.Uint64(12), Message: proto.String("x")}}}), true},
		{"13", connection(&pb.ConnectionEvent{Event: &pb.ConnectionEvent_Misbehaving{Misbehaving: &pb.MisbehavingConnection{Id: proto.Uint64(12), Message: proto.String("peer=13")}}}), false},
		{"12", logLine("received: inv (37 bytes) peer=12"), true},
		{"12", logLine("received: inv (37 bytes) peer=123"), false},
		{"12", logLine("peer=12, peeraddr=x"), true},
		{"1.2.3.4", logLine("Added connection to 1.2.3.4:8333 peer=3"), true},
		{"1.2.3.4:8333", logLine("Added connection to 1.2.3.4:8333 peer=3"), true},
		{"1.2.3.4:8334", logLine("Added connection to 1.2.3.4:8333 peer=3"), false},
		{"1.2.3.4", logLine("Added connection to 1.2.3.45:8333"), false},
		{"1.2.3.4", logLine("Added connection to 11.2.3.4:8333"), false},
		{"1.2.3.4", logLine("connected to 1.2.3.4."), true},
		{"2001:db8::1", logLine("to [2001:db8::1]:8333 peer=3"), true},
		{"2001:db8::1", logLine("to 2001:db8::1:5 peer=3"), false},
		{"[2001:db8::1]:8333", logLine("to [2001:db8::1]:8333 peer=3"), true},
		{"1.2.3.4", &pb.Event{Timestamp: proto.Uint64(t0), PeerObserverEvent: &pb.Event_RpcExtractor{RpcExtractor: &pb.Rpc{RpcEvent: &pb.Rpc_PeerInfos{PeerInfos: &pb.PeerInfos{Infos: []*pb.PeerInfo{
			{Id: proto.Uint32(3), Address: proto.String("9.9.9.9:8333")}, {Id: proto.Uint32(4), Address: proto.String("1.2.3.4:8333")}}}}}}}, true},
		{"5", &pb.Event{Timestamp: proto.Uint64(t0), PeerObserverEvent: &pb.Event_RpcExtractor{RpcExtractor: &pb.Rpc{RpcEvent: &pb.Rpc_PeerInfos{PeerInfos: &pb.PeerInfos{Infos: []*pb.PeerInfo{
			{Id: proto.Uint32(3), Address: proto.String("9.9.9.9:8333")}}}}}}}, false},
		{"1.2.3.4", &pb.Event{Timestamp: proto.Uint64(t0), PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Addrman{Addrman: &pb.AddrmanEvent{
			Event: &pb.AddrmanEvent_Tried{Tried: &pb.InsertTried{Addr: proto.String("7.7.7.7:1"), Source: proto.String("1.2.3.4:8333")}}}}}}}, true},
		// The addresses inside an addr message do not match; its sender does.
		{"1.2.3.4", &pb.Event{Timestamp: proto.Uint64(t0), PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: &pb.MessageEvent{
			Meta: &pb.Metadata{PeerId: proto.Uint64(1), Addr: proto.String("9.9.9.9:8333")}, Msg: &pb.MessageEvent_Addr{Addr: &pb.Addr{Addresses: []*pb.Address{{Address: &pb.Address_Ipv4{Ipv4: "1.2.3.4"}}}}}}}}}}, false},
	} {
		p, err := ParsePeers([]string{c.peer})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Match(build(t, c.ev)); got != c.want {
			t.Errorf("peer %s, event %v: match %v, want %v", c.peer, c.ev, got, c.want)
		}
	}
	for _, bad := range []string{"example.com", "1.2.3.4:99999", "[::1", "peer7"} {
		if _, err := ParsePeers([]string{bad}); err == nil {
			t.Errorf("ParsePeers(%q) accepted", bad)
		}
	}
	if p, _ := ParsePeers(nil); !p.Empty() || !p.Match(build(t, netmsg(1, "x"))) {
		t.Error("empty peers do not match everything")
	}
}

func FuzzPeersMatch(f *testing.F) {
	for _, ev := range sanitizetest.Events(60, 3, t0, sanitizetest.Options{}) {
		f.Add(ev.Raw)
	}
	p, err := ParsePeers([]string{"3,1.2.3.4,[2001:db8::1]:8333," + sanitizetest.SelfOnion})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := event.Parse(raw)
		if err != nil {
			return
		}
		p.Match(ev) // must not panic on any bytes
	})
}
