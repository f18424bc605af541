package sanitize_test

import (
	"fmt"
	"net/netip"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
	"github.com/peertape/peertape/sanitize"
)

// A fixed key so the output is stable; real keys come from NewKey.
func exampleKey() sanitize.Key {
	b := make([]byte, sanitize.KeySize)
	for i := range b {
		b[i] = byte(i)
	}
	k, _ := sanitize.KeyFromBytes(b)
	return k
}

func ExampleAddress() {
	a, _ := sanitize.NewAddress(exampleKey(), false, []string{"198.51.100.1"})
	for _, s := range []string{"203.0.113.7", "203.0.113.8", "::ffff:203.0.113.7", "2001:db8::1", "fc00::1234", "127.0.0.1", "198.51.100.1"} {
		fmt.Println(s, "->", a.IP(netip.MustParseAddr(s)))
	}
	fmt.Println(a.HostPort("pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion:8333"))
	fmt.Println(a.Text("Added connection to [2001:db8::1]:8333 peer=3, addr 203.0.113.7:8333"))
	fmt.Println("fingerprint", exampleKey().Fingerprint())
	// Output:
	// 203.0.113.7 -> 48.94.103.215
	// 203.0.113.8 -> 48.94.103.217
	// ::ffff:203.0.113.7 -> ::ffff:48.94.103.215
	// 2001:db8::1 -> 2a48:cd46:5c10:52a7:37b4:da76:4143:cf51
	// fc00::1234 -> fc45:4b56:1af6:3c40:ac13:bbd3:a1b5:f97
	// 127.0.0.1 -> 127.0.0.1
	// 198.51.100.1 -> 192.0.2.1
	// e7fwao35ixekcwnvoeim3n4n4zsbcdpf2dp6pzmjrjjgheqtyl4pcwyd.onion:8333
	// Added connection to [2a48:cd46:5c10:52a7:37b4:da76:4143:cf51]:8333 peer=3, addr 48.94.103.215:8333
	// fingerprint 8fefeaca058c893b
}

func ExampleSanitizer_Event() {
	s, _ := sanitize.New(exampleKey(), sanitize.Options{})
	in, _ := event.New(&pb.Event{Timestamp: proto.Uint64(1775552833133), PeerObserverEvent: &pb.Event_EbpfExtractor{
		EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Inbound{
			Inbound: &pb.InboundConnection{Conn: &pb.Connection{PeerId: proto.Uint64(7), Addr: proto.String("203.0.113.7:50123"),
				ConnType: pb.ConnType_Inbound.Enum(), Network: proto.Uint32(1)}, ExistingConnections: proto.Uint64(12)}}}}}}})
	out, _, _ := s.Event(in)
	line, _ := event.AppendJSONLine(nil, out, nil)
	fmt.Print(string(line))
	// Output:
	// {"time_ms":1775552833133,"kind":"netconn","type":"inbound","event":{"timestamp":1775552833133,"ebpf_extractor":{"connection":{"inbound":{"conn":{"peer_id":7,"addr":"48.94.103.215:50123","conn_type":"Inbound","network":1},"existing_connections":12}}}}}
}
