package sanitize

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

func testKey(t testing.TB, seed byte) Key {
	t.Helper()
	b := make([]byte, KeySize)
	for i := range b {
		b[i] = seed + byte(i)
	}
	k, err := KeyFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newSanitizer(t testing.TB, opts Options) *Sanitizer {
	t.Helper()
	s, err := New(testKey(t, 1), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// build encodes m (required fields may be missing) into an Event.
func build(t testing.TB, m *pb.Event) event.Event {
	t.Helper()
	raw, err := proto.MarshalOptions{Deterministic: true, AllowPartial: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := event.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func decode(t testing.TB, ev event.Event) *pb.Event {
	t.Helper()
	m, err := ev.Decode()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ebpfMsg(ts uint64, addr, cmd string, msg *pb.MessageEvent) *pb.Event {
	msg.Meta = &pb.Metadata{PeerId: proto.Uint64(7), Addr: proto.String(addr), ConnType: pb.ConnType_Inbound.Enum(),
		Command: proto.String(cmd), Inbound: proto.Bool(true), Size: proto.Uint64(100)}
	return &pb.Event{Timestamp: proto.Uint64(ts), PeerObserverEvent: &pb.Event_EbpfExtractor{
		EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: msg}}}}
}

func connEv(ts uint64, c *pb.ConnectionEvent) *pb.Event {
	return &pb.Event{Timestamp: proto.Uint64(ts), PeerObserverEvent: &pb.Event_EbpfExtractor{
		EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: c}}}}
}

func rpcEv(ts uint64, r *pb.Rpc) *pb.Event {
	return &pb.Event{Timestamp: proto.Uint64(ts), PeerObserverEvent: &pb.Event_RpcExtractor{RpcExtractor: r}}
}

func logEv(ts uint64, l *pb.Log) *pb.Event {
	return &pb.Event{Timestamp: proto.Uint64(ts), PeerObserverEvent: &pb.Event_LogExtractor{LogExtractor: l}}
}

func conn(addr string) *pb.Connection {
	return &pb.Connection{PeerId: proto.Uint64(3), Addr: proto.String(addr), ConnType: pb.ConnType_Inbound.Enum(), Network: proto.Uint32(1)}
}

func ipv4Addr(ip string, port uint32, ts uint32) *pb.Address {
	return &pb.Address{Timestamp: proto.Uint32(ts), Address: &pb.Address_Ipv4{Ipv4: ip}, Services: proto.Uint64(1033), Port: proto.Uint32(port)}
}

func addrOf(arm any, port uint32, ts uint32) *pb.Address {
	a := &pb.Address{Timestamp: proto.Uint32(ts), Services: proto.Uint64(9), Port: proto.Uint32(port)}
	switch x := arm.(type) {
	case *pb.Address_Ipv4:
		a.Address = x
	case *pb.Address_Ipv6:
		a.Address = x
	case *pb.Address_Torv2:
		a.Address = x
	case *pb.Address_Torv3:
		a.Address = x
	case *pb.Address_I2P:
		a.Address = x
	case *pb.Address_Cjdns:
		a.Address = x
	case *pb.Address_Unknown:
		a.Address = x
	}
	return a
}

// Addresses used across the tests: each family and form, none a fixed
// point.
const (
	v4a     = "203.0.113.7"
	v4b     = "198.51.100.23"
	v4c     = "8.8.4.4"
	v6a     = "2001:db8:85a3::8a2e:370:7334"
	v6b     = "2a01:4f8:c2c:123f::1"
	cjdnsA  = "fc32:17ea:e415:c3bf:9808:149d:b5a2:c9aa"
	onion2  = "expyuzz4wqqyqhjn.onion"
	onion3  = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion" // 56 letters
	i2pA    = "ukeu3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq.b32.i2p"
	selfV4  = "192.0.2.200"
	proxyV4 = "10.11.12.13"
)

// onion3Short is peer-observer's 52-letter rendering of onion3's key.
func onion3Short(t testing.TB) string {
	b, err := b32.DecodeString(onion3[:56])
	if err != nil {
		t.Fatal(err)
	}
	return b32.EncodeToString(b[:32]) + ".onion"
}

// btcdAddrPayload encodes an addr message with btcd.
func btcdAddrPayload(t testing.TB, ips ...string) []byte {
	t.Helper()
	m := wire.NewMsgAddr()
	for i, s := range ips {
		na := wire.NewNetAddressIPPort(netip.MustParseAddr(s).AsSlice(), uint16(8333+i), wire.SFNodeNetwork)
		na.Timestamp = na.Timestamp.Truncate(1e9)
		if err := m.AddAddress(na); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := m.BtcEncode(&buf, wire.ProtocolVersion, wire.BaseEncoding); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// realisticMix returns n events shaped like one busy node's stream: mostly
// P2P messages (inv, tx, getdata, ping/pong, headers, some addr/addrv2)
// from 125 peers, plus connections, mempool, validation, periodic RPC
// polls and debug.log lines.
func realisticMix(t testing.TB, n int) []event.Event {
	r := rand.New(rand.NewPCG(1, 2))
	peers := make([]string, 125)
	for i := range peers {
		switch i % 10 {
		case 0, 1:
			peers[i] = "[2a01:4f8:" + hex4(r) + ":" + hex4(r) + "::" + hex4(r) + "]:8333"
		case 2:
			peers[i] = randOnion(r) + ":8333"
		default:
			peers[i] = netip.AddrFrom4([4]byte{byte(r.IntN(223) + 1), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}).String() + ":" + "8333"
		}
	}
	hash := func() []byte {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	ts := uint64(1_775_552_833_133)
	out := make([]event.Event, 0, n)
	for len(out) < n {
		ts += uint64(r.IntN(3))
		peer := peers[r.IntN(len(peers))]
		var m *pb.Event
		switch p := r.IntN(1000); {
		case p < 400:
			items := make([]*pb.InventoryItem, 1+r.IntN(6))
			for i := range items {
				items[i] = &pb.InventoryItem{Item: &pb.InventoryItem_Wtx{Wtx: hash()}}
			}
			m = ebpfMsg(ts, peer, "inv", &pb.MessageEvent{Msg: &pb.MessageEvent_Inv{Inv: &pb.Inv{Items: items}}})
		case p < 550:
			raw := make([]byte, 200+r.IntN(300))
			m = ebpfMsg(ts, peer, "tx", &pb.MessageEvent{Msg: &pb.MessageEvent_Tx{Tx: &pb.Tx{Tx: &pb.Transaction{Txid: hash(), Wtxid: hash(), Raw: raw}}}})
		case p < 650:
			m = ebpfMsg(ts, peer, "getdata", &pb.MessageEvent{Msg: &pb.MessageEvent_Getdata{Getdata: &pb.GetData{Items: []*pb.InventoryItem{{Item: &pb.InventoryItem_Wtx{Wtx: hash()}}}}}})
		case p < 700:
			m = ebpfMsg(ts, peer, "ping", &pb.MessageEvent{Msg: &pb.MessageEvent_Ping{Ping: &pb.Ping{Value: proto.Uint64(r.Uint64())}}})
		case p < 750:
			m = ebpfMsg(ts, peer, "pong", &pb.MessageEvent{Msg: &pb.MessageEvent_Pong{Pong: &pb.Pong{Value: proto.Uint64(r.Uint64())}}})
		case p < 770:
			as := make([]*pb.Address, 1+r.IntN(10))
			for i := range as {
				as[i] = ipv4Addr(netip.AddrFrom4([4]byte{byte(r.IntN(223) + 1), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}).String(), 8333, uint32(ts/1000))
			}
			m = ebpfMsg(ts, peer, "addrv2", &pb.MessageEvent{Msg: &pb.MessageEvent_Addrv2{Addrv2: &pb.AddrV2{Addresses: as}}})
		case p < 790:
			m = ebpfMsg(ts, peer, "feefilter", &pb.MessageEvent{Msg: &pb.MessageEvent_Feefilter{Feefilter: &pb.FeeFilter{Fee: proto.Int64(1000)}}})
		case p < 800:
			m = ebpfMsg(ts, peer, "sendcmpct", &pb.MessageEvent{Msg: &pb.MessageEvent_Sendcompact{Sendcompact: &pb.SendCompact{SendCompact: proto.Bool(false), Version: proto.Uint64(2)}}})
		case p < 900:
			m = &pb.Event{Timestamp: proto.Uint64(ts), PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Mempool{Mempool: &pb.MempoolEvent{
				Event: &pb.MempoolEvent_Added{Added: &pb.Added{Txid: hash(), Vsize: proto.Int32(141), Fee: proto.Int64(300)}}}}}}}
		case p < 920:
			m = connEv(ts, &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Inbound{Inbound: &pb.InboundConnection{Conn: conn(peer), ExistingConnections: proto.Uint64(40)}}})
		case p < 940:
			m = connEv(ts, &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Closed{Closed: &pb.ClosedConnection{Conn: conn(peer), TimeEstablished: proto.Uint64(ts/1000 - 60)}}})
		case p < 990:
			m = logEv(ts, &pb.Log{LogTimestamp: proto.Uint64(ts * 1000), Category: pb.LogDebugCategory_NET.Enum(),
				LogEvent: &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String("received: inv (37 bytes) peer=12, peeraddr=" + peer)}}})
		case p < 998:
			m = ebpfMsg(ts, peer, "headers", &pb.MessageEvent{Msg: &pb.MessageEvent_Headers{Headers: &pb.Headers{Headers: []*pb.BlockHeader{{
				Version: proto.Int32(0x20000000), PrevBlockhash: hash(), MerkleRoot: hash(), Time: proto.Uint32(uint32(ts / 1000)), Bits: proto.Uint32(0x17034219), Nonce: proto.Uint32(5), Hash: hash()}}}}})
		default:
			// A getpeerinfo poll: every 10 s on a real node.
			infos := make([]*pb.PeerInfo, len(peers))
			for i, p := range peers {
				infos[i] = &pb.PeerInfo{Id: proto.Uint32(uint32(i)), Address: proto.String(p), AddressBind: proto.String("10.0.0.2:8333"),
					AddressLocal: proto.String(selfV4 + ":8333"), Network: proto.String("ipv4"), Subversion: proto.String("/Satoshi:27.0.0/"),
					ConnectionTime: proto.Int64(int64(ts/1000) - 3600), LastSend: proto.Int64(int64(ts / 1000))}
			}
			m = rpcEv(ts, &pb.Rpc{RpcEvent: &pb.Rpc_PeerInfos{PeerInfos: &pb.PeerInfos{Infos: infos}}})
		}
		out = append(out, build(t, m))
	}
	return out
}

func hex4(r *rand.Rand) string {
	const digits = "0123456789abcdef"
	b := []byte{digits[1+r.IntN(15)], digits[r.IntN(16)], digits[r.IntN(16)], digits[r.IntN(16)]}
	return string(b)
}

func randOnion(r *rand.Rand) string {
	pub := make([]byte, 32)
	for i := range pub {
		pub[i] = byte(r.Uint32())
	}
	return torV3String(pub, 3)
}
