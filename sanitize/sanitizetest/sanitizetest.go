// Package sanitizetest builds event streams and archives that carry
// addresses in every place peertape's sanitizer rewrites, for the tests
// and benchmarks of sanitize, the editing tools and the CLI. It is test
// support: nothing in peertape's binary uses it.
package sanitizetest

import (
	"bytes"
	"crypto/sha3"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/proto/pb"
)

// The node's own addresses in every stream: reported by getnetworkinfo
// (first at event 40), used before that as the version receiver and in
// getpeerinfo address_local.
const (
	SelfIPv4 = "198.51.100.77"
	// HostName and NATSHost appear in the metadata Meta returns.
	HostName = "honeypot-7.example.net"
	NATSHost = "203.0.113.250"
	// FirstNetworkInfo is the ordinal of the first getnetworkinfo event.
	FirstNetworkInfo = 40
)

// SelfOnion is the node's Tor v3 address.
var SelfOnion = torV3(bytes.Repeat([]byte{0x5a}, 32))

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Options shape a stream.
type Options struct {
	// Unknown adds, every 97 events, fields this build does not know,
	// carrying an address (at the top level and inside P2P metadata):
	// copied unchanged by default, they leak unless dropped.
	Unknown bool
	// Peers is the number of distinct peers (default 60).
	Peers int
}

type gen struct {
	r     *rand.Rand
	peers []string // host:port as Core prints them
	ts    int64
}

// Events returns n events starting at start (ms), time-ordered, that
// cycle through every place an address can be: P2P message metadata of
// many message types; version receiver and sender; addr and addrv2 entries
// of every network; unknown messages whose command is addr, addrv2 or
// version with raw payloads, and of an unknown command with an address in
// the payload; every connection event; addrman tracepoints; mempool;
// getpeerinfo, getnetworkinfo (local addresses, proxies, warnings),
// getrawaddrman; p2p-extractor announcements; debug.log lines with every
// text form, thread names and block-check messages; reject details.
func Events(n int, seed uint64, start int64, o Options) []event.Event {
	if o.Peers <= 0 {
		o.Peers = 60
	}
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x5eed)), ts: start}
	for i := 0; i < o.Peers; i++ {
		g.peers = append(g.peers, g.hostPort(i))
	}
	out := make([]event.Event, 0, n)
	for i := 0; i < n; i++ {
		g.ts += int64(g.r.IntN(4))
		m := g.event(i)
		raw, err := proto.MarshalOptions{AllowPartial: true, Deterministic: true}.Marshal(m)
		if err != nil {
			panic(fmt.Sprintf("sanitizetest: %v", err))
		}
		if o.Unknown && i%97 == 96 {
			raw = withUnknown(raw, g.peers[i%len(g.peers)])
		}
		ev, err := event.Parse(raw)
		if err != nil {
			panic(fmt.Sprintf("sanitizetest: %v", err))
		}
		out = append(out, ev)
	}
	return out
}

// withUnknown appends an unknown top-level field carrying addr.
func withUnknown(raw []byte, addr string) []byte {
	raw = protowire.AppendTag(raw, 99, protowire.BytesType)
	return protowire.AppendBytes(raw, []byte("from the future: "+addr))
}

func (g *gen) ipv4() netip.Addr {
	return netip.AddrFrom4([4]byte{byte(1 + g.r.IntN(222)), byte(g.r.IntN(256)), byte(g.r.IntN(256)), byte(1 + g.r.IntN(254))})
}

func (g *gen) ipv6() netip.Addr {
	var b [16]byte
	b[0], b[1] = 0x2a, 0x01
	for i := 2; i < 16; i++ {
		b[i] = byte(g.r.IntN(256))
	}
	return netip.AddrFrom16(b)
}

func (g *gen) key(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.IntN(255) + 1)
	}
	return b
}

func (g *gen) onion3() string { return torV3(g.key(32)) }

// torV3 renders a v3 onion name with Tor's checksum.
func torV3(pub []byte) string {
	h := sha3.New256()
	h.Write([]byte(".onion checksum"))
	h.Write(pub)
	h.Write([]byte{3})
	sum := h.Sum(nil)
	b := append(append([]byte(nil), pub...), sum[0], sum[1], 3)
	return b32.EncodeToString(b) + ".onion"
}

func (g *gen) i2p() string   { return b32.EncodeToString(g.key(32)) + ".b32.i2p" }
func (g *gen) torv2() string { return b32.EncodeToString(g.key(10)) + ".onion" }
func (g *gen) cjdns() netip.Addr {
	b := g.ipv6().As16()
	b[0] = 0xfc
	return netip.AddrFrom16(b)
}

func (g *gen) hostPort(i int) string {
	switch i % 8 {
	case 0, 1:
		return "[" + g.ipv6().String() + "]:8333"
	case 2:
		return g.onion3() + ":8333"
	case 3:
		return g.i2p() + ":0"
	case 4:
		return "[" + g.cjdns().String() + "]:8333"
	default:
		return g.ipv4().String() + ":8333"
	}
}

func (g *gen) peer() (uint64, string) {
	i := g.r.IntN(len(g.peers))
	return uint64(i), g.peers[i]
}

func (g *gen) hash() []byte { return g.key(32) }

func (g *gen) msg(cmd string, me *pb.MessageEvent) *pb.Event {
	id, addr := g.peer()
	me.Meta = &pb.Metadata{PeerId: proto.Uint64(id), Addr: proto.String(addr), ConnType: pb.ConnType_Inbound.Enum(),
		Command: proto.String(cmd), Inbound: proto.Bool(g.r.IntN(2) == 0), Size: proto.Uint64(uint64(10 + g.r.IntN(500)))}
	return g.ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: me}})
}

func (g *gen) ebpf(e *pb.Ebpf) *pb.Event {
	return &pb.Event{Timestamp: proto.Uint64(uint64(g.ts)), PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: e}}
}

func (g *gen) rpc(r *pb.Rpc) *pb.Event {
	return &pb.Event{Timestamp: proto.Uint64(uint64(g.ts)), PeerObserverEvent: &pb.Event_RpcExtractor{RpcExtractor: r}}
}

func (g *gen) conn() *pb.Connection {
	id, addr := g.peer()
	return &pb.Connection{PeerId: proto.Uint64(id), Addr: proto.String(addr), ConnType: pb.ConnType_OutboundFullRelay.Enum(), Network: proto.Uint32(1)}
}

func (g *gen) address(kind int) *pb.Address {
	a := &pb.Address{Timestamp: proto.Uint32(uint32(g.ts / 1000)), Services: proto.Uint64(1033), Port: proto.Uint32(8333)}
	switch kind % 7 {
	case 0:
		a.Address = &pb.Address_Ipv4{Ipv4: g.ipv4().String()}
	case 1:
		a.Address = &pb.Address_Ipv6{Ipv6: g.ipv6().String()}
	case 2:
		a.Address = &pb.Address_Torv2{Torv2: g.torv2()}
	case 3:
		a.Address = &pb.Address_Torv3{Torv3: g.onion3()}
	case 4:
		a.Address = &pb.Address_I2P{I2P: g.i2p()}
		a.Port = proto.Uint32(0)
	case 5:
		a.Address = &pb.Address_Cjdns{Cjdns: g.cjdns().String()}
	default:
		a.Address = &pb.Address_Unknown{Unknown: &pb.UnknownAddress{Id: proto.Uint32(42), Address: g.key(9)}}
	}
	return a
}

func (g *gen) logLine(text string) *pb.Event {
	return &pb.Event{Timestamp: proto.Uint64(uint64(g.ts)), PeerObserverEvent: &pb.Event_LogExtractor{LogExtractor: &pb.Log{
		LogTimestamp: proto.Uint64(uint64(g.ts) * 1000), Category: pb.LogDebugCategory_NET.Enum(), Threadname: proto.String("net"),
		LogEvent: &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String(text)}}}}}
}

// event returns event number i of the cycle.
func (g *gen) event(i int) *pb.Event {
	if i == FirstNetworkInfo || (i > FirstNetworkInfo && i%500 == 0) {
		return g.networkInfo()
	}
	_, addr := g.peer()
	switch i % 40 {
	case 0, 1, 2, 3, 4, 5, 6, 7:
		items := make([]*pb.InventoryItem, 1+g.r.IntN(5))
		for j := range items {
			items[j] = &pb.InventoryItem{Item: &pb.InventoryItem_Wtx{Wtx: g.hash()}}
		}
		return g.msg("inv", &pb.MessageEvent{Msg: &pb.MessageEvent_Inv{Inv: &pb.Inv{Items: items}}})
	case 8, 9:
		return g.msg("tx", &pb.MessageEvent{Msg: &pb.MessageEvent_Tx{Tx: &pb.Tx{Tx: &pb.Transaction{Txid: g.hash(), Wtxid: g.hash(), Raw: g.key(150 + g.r.IntN(200))}}}})
	case 10:
		return g.msg("ping", &pb.MessageEvent{Msg: &pb.MessageEvent_Ping{Ping: &pb.Ping{Value: proto.Uint64(uint64(g.ts)*1_000_000 + 17)}}})
	case 11:
		return g.msg("pong", &pb.MessageEvent{Msg: &pb.MessageEvent_Pong{Pong: &pb.Pong{Value: proto.Uint64(g.r.Uint64())}}})
	case 12:
		recv := &pb.Address{Timestamp: proto.Uint32(0), Address: &pb.Address_Ipv4{Ipv4: SelfIPv4}, Services: proto.Uint64(0), Port: proto.Uint32(8333)}
		send := &pb.Address{Timestamp: proto.Uint32(0), Address: &pb.Address_Ipv6{Ipv6: g.ipv6().String()}, Services: proto.Uint64(1033), Port: proto.Uint32(8333)}
		return g.msg("version", &pb.MessageEvent{Msg: &pb.MessageEvent_Version{Version: &pb.Version{Version: proto.Uint32(70016), Services: proto.Uint64(1033),
			Timestamp: proto.Int64(g.ts / 1000), Receiver: recv, Sender: send, Nonce: proto.Uint64(g.r.Uint64()),
			UserAgent: proto.String("/Satoshi:27.0.0/"), StartHeight: proto.Int32(840000), Relay: proto.Bool(true)}}})
	case 13:
		as := make([]*pb.Address, 3)
		for j := range as {
			as[j] = g.address(j % 3)
		}
		return g.msg("addr", &pb.MessageEvent{Msg: &pb.MessageEvent_Addr{Addr: &pb.Addr{Addresses: as}}})
	case 14:
		as := make([]*pb.Address, 7)
		for j := range as {
			as[j] = g.address(j)
		}
		return g.msg("addrv2", &pb.MessageEvent{Msg: &pb.MessageEvent_Addrv2{Addrv2: &pb.AddrV2{Addresses: as}}})
	case 15:
		return g.msg("addr", &pb.MessageEvent{Msg: &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{Command: proto.String("addr"), Payload: addrPayload(g.ipv4(), g.ipv6())}}})
	case 16:
		return g.msg("addrv2", &pb.MessageEvent{Msg: &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{Command: proto.String("addrv2"), Payload: g.addrV2Payload()}}})
	case 17:
		return g.msg("version", &pb.MessageEvent{Msg: &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{Command: proto.String("version"), Payload: versionPayload(netip.MustParseAddr(SelfIPv4), g.ipv4(), g.ts/1000)}}})
	case 18:
		return g.msg("xversion", &pb.MessageEvent{Msg: &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{Command: proto.String("xversion"), Payload: []byte("hidden " + g.ipv4().String())}}})
	case 19:
		return g.ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Inbound{Inbound: &pb.InboundConnection{Conn: g.conn(), ExistingConnections: proto.Uint64(uint64(g.r.IntN(100)))}}}}})
	case 20:
		return g.ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Outbound{Outbound: &pb.OutboundConnection{Conn: g.conn(), ExistingConnections: proto.Uint64(8)}}}}})
	case 21:
		return g.ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Closed{Closed: &pb.ClosedConnection{Conn: g.conn(), TimeEstablished: proto.Uint64(uint64(g.ts/1000 - 300))}}}}})
	case 22:
		return g.ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_InboundEvicted{InboundEvicted: &pb.EvictedInboundConnection{Conn: g.conn(), TimeEstablished: proto.Uint64(uint64(g.ts/1000 - 30))}}}}})
	case 23:
		id, a := g.peer()
		return g.ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Misbehaving{Misbehaving: &pb.MisbehavingConnection{Id: proto.Uint64(id), Message: proto.String(fmt.Sprintf("peer=%d (%s): invalid header received", id, a))}}}}})
	case 24:
		return g.ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Addrman{Addrman: &pb.AddrmanEvent{Event: &pb.AddrmanEvent_New{New: &pb.InsertNew{Inserted: proto.Bool(true), Bucket: proto.Int32(3), BucketPos: proto.Int32(9),
			Addr: proto.String(g.ipv4().String() + ":8333"), Addr_AS: proto.Uint32(0), Source: proto.String(addr), Source_AS: proto.Uint32(0)}}}}})
	case 25:
		return g.ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Addrman{Addrman: &pb.AddrmanEvent{Event: &pb.AddrmanEvent_Tried{Tried: &pb.InsertTried{Bucket: proto.Int32(1), BucketPos: proto.Int32(2),
			Addr: proto.String("[" + g.ipv6().String() + "]:8333"), Addr_AS: proto.Uint32(0), Source: proto.String(addr), Source_AS: proto.Uint32(0)}}}}})
	case 26, 27, 28:
		return g.ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Mempool{Mempool: &pb.MempoolEvent{Event: &pb.MempoolEvent_Added{Added: &pb.Added{Txid: g.hash(), Vsize: proto.Int32(141), Fee: proto.Int64(420)}}}}})
	case 29:
		return g.ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Mempool{Mempool: &pb.MempoolEvent{Event: &pb.MempoolEvent_Rejected{Rejected: &pb.Rejected{Txid: g.hash(), Reason: proto.String("relayed by " + addr)}}}}})
	case 30:
		return g.ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Validation{Validation: &pb.ValidationEvent{Event: &pb.ValidationEvent_BlockConnected{BlockConnected: &pb.BlockConnected{
			Hash: g.hash(), Height: proto.Int32(int32(840000 + i/40)), Transactions: proto.Int64(3000), Inputs: proto.Int32(7000), Sigops: proto.Int64(9000), ConnectionTime: proto.Uint64(5_000_000)}}}}})
	case 31:
		infos := make([]*pb.PeerInfo, 8)
		for j := range infos {
			id, a := g.peer()
			infos[j] = &pb.PeerInfo{Id: proto.Uint32(uint32(id)), Address: proto.String(a), AddressBind: proto.String("10.1.2.3:8333"),
				AddressLocal: proto.String(SelfIPv4 + ":8333"), Network: proto.String("ipv4"), Subversion: proto.String("/Satoshi:27.0.0/"),
				ConnectionTime: proto.Int64(g.ts/1000 - 100), LastSend: proto.Int64(g.ts / 1000)}
		}
		return g.rpc(&pb.Rpc{RpcEvent: &pb.Rpc_PeerInfos{PeerInfos: &pb.PeerInfos{Infos: infos}}})
	case 32:
		entries := map[uint32]*pb.AddrmanEntry{}
		for j := uint32(0); j < 4; j++ {
			entries[j] = &pb.AddrmanEntry{Address: proto.String(g.ipv4().String()), Port: proto.Uint32(8333), Network: proto.String("ipv4"),
				Services: proto.Uint64(9), Time: proto.Int64(g.ts / 1000), Source: proto.String(g.onion3()), SourceNetwork: proto.String("onion")}
		}
		return g.rpc(&pb.Rpc{RpcEvent: &pb.Rpc_Addrman{Addrman: &pb.Addrman{New: map[uint32]*pb.AddrmanBucket{7: {Entries: entries}}}}})
	case 33:
		return g.rpc(&pb.Rpc{RpcEvent: &pb.Rpc_NetTotals{NetTotals: &pb.NetTotals{TimeMillis: proto.Uint64(uint64(g.ts))}}})
	case 34:
		return &pb.Event{Timestamp: proto.Uint64(uint64(g.ts)), PeerObserverEvent: &pb.Event_P2PExtractor{P2PExtractor: &pb.P2P{
			P2PEvent: &pb.P2P_AddressAnnouncement{AddressAnnouncement: &pb.AddressAnnouncement{Addresses: []*pb.Address{g.address(0), g.address(3), g.address(4)}}}}}}
	case 35:
		return g.logLine(fmt.Sprintf("Added connection to %s peer=%d, also [%s]:8333, %s, %s:0 and %s", addr, g.r.IntN(100), g.ipv6(), g.onion3(), g.i2p(), g.ipv4()))
	case 36:
		return &pb.Event{Timestamp: proto.Uint64(uint64(g.ts)), PeerObserverEvent: &pb.Event_LogExtractor{LogExtractor: &pb.Log{
			LogTimestamp: proto.Uint64(uint64(g.ts) * 1000), Category: pb.LogDebugCategory_VALIDATION.Enum(), Threadname: proto.String("msghand-" + g.ipv4().String()),
			LogEvent: &pb.Log_BlockCheckedLog{BlockCheckedLog: &pb.BlockCheckedLog{BlockHash: proto.String("00000000000000000001"), State: proto.String("bad-txns"), DebugMessage: proto.String("from peer " + addr)}}}}}
	case 37:
		return g.msg("reject", &pb.MessageEvent{Msg: &pb.MessageEvent_Reject{Reject: &pb.Reject{RejectedCommand: proto.String("tx"), Reason: pb.Reject_INVALID.Enum(),
			ReasonDetails: proto.String("bad tx relayed via " + g.ipv4().String()), Hash: g.hash()}}})
	case 38:
		return g.msg("headers", &pb.MessageEvent{Msg: &pb.MessageEvent_Headers{Headers: &pb.Headers{Headers: []*pb.BlockHeader{{Version: proto.Int32(0x20000000),
			PrevBlockhash: g.hash(), MerkleRoot: g.hash(), Time: proto.Uint32(uint32(g.ts / 1000)), Bits: proto.Uint32(0x17034219), Nonce: proto.Uint32(5), Hash: g.hash()}}}}})
	default:
		return g.msg("getdata", &pb.MessageEvent{Msg: &pb.MessageEvent_Getdata{Getdata: &pb.GetData{Items: []*pb.InventoryItem{{Item: &pb.InventoryItem_Wtx{Wtx: g.hash()}}}}}})
	}
}

func (g *gen) networkInfo() *pb.Event {
	return g.rpc(&pb.Rpc{RpcEvent: &pb.Rpc_NetworkInfo{NetworkInfo: &pb.NetworkInfo{
		Version: proto.Int32(270000), Subversion: proto.String("/Satoshi:27.0.0/"), ProtocolVersion: proto.Int32(70016),
		Networks: []*pb.NetworkInfoNetwork{{Name: proto.String("onion"), Proxy: proto.String("10.9.8.7:9050")}},
		LocalAddresses: []*pb.NetworkInfoLocalAddress{
			{Address: proto.String(SelfIPv4), Port: proto.Uint32(8333), Score: proto.Uint32(5)},
			{Address: proto.String(SelfOnion), Port: proto.Uint32(8333), Score: proto.Uint32(4)},
		},
		Warnings: []string{"cannot bind " + SelfIPv4 + ":8334"},
	}}})
}

func putIP(b []byte, ip netip.Addr, port uint16) []byte {
	a := ip.As16()
	b = append(b, a[:]...)
	return binary.BigEndian.AppendUint16(b, port)
}

// addrPayload encodes a P2P addr message.
func addrPayload(ips ...netip.Addr) []byte {
	b := []byte{byte(len(ips))}
	for _, ip := range ips {
		b = binary.LittleEndian.AppendUint32(b, 1_700_000_000)
		b = binary.LittleEndian.AppendUint64(b, 1033)
		b = putIP(b, ip, 8333)
	}
	return b
}

// addrV2Payload encodes a BIP155 addrv2 message with one entry per network.
func (g *gen) addrV2Payload() []byte {
	type entry struct {
		id   byte
		addr []byte
	}
	v4 := g.ipv4().As4()
	v6 := g.ipv6().As16()
	cj := g.cjdns().As16()
	es := []entry{{1, v4[:]}, {2, v6[:]}, {3, g.key(10)}, {4, g.key(32)}, {5, g.key(32)}, {6, cj[:]}}
	b := []byte{byte(len(es))}
	for _, e := range es {
		b = binary.LittleEndian.AppendUint32(b, 1_700_000_000)
		b = append(b, 1) // services, compact size
		b = append(b, e.id, byte(len(e.addr)))
		b = append(b, e.addr...)
		b = binary.BigEndian.AppendUint16(b, 8333)
	}
	return b
}

// versionPayload encodes a P2P version message.
func versionPayload(recv, from netip.Addr, unix int64) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 70016)
	b = binary.LittleEndian.AppendUint64(b, 1033)
	b = binary.LittleEndian.AppendUint64(b, uint64(unix))
	b = binary.LittleEndian.AppendUint64(b, 0)
	b = putIP(b, recv, 8333)
	b = binary.LittleEndian.AppendUint64(b, 1033)
	b = putIP(b, from, 8333)
	b = binary.LittleEndian.AppendUint64(b, 99)
	ua := "/Satoshi:27.0.0/"
	b = append(b, byte(len(ua)))
	b = append(b, ua...)
	b = binary.LittleEndian.AppendUint32(b, 840000)
	return append(b, 1)
}

// Meta returns segment metadata for node with a host name, a NATS URL
// holding an address, and labels.
func Meta(node string, createdMs int64) *pb.SegmentMeta {
	return &pb.SegmentMeta{
		Node: node, Implementation: "Bitcoin Core", ImplementationVersion: "/Satoshi:27.0.0/", Network: "mainnet",
		Source: "nats nats://" + NATSHost + ":4222 *", Recorder: "peertape test", CreatedMs: createdMs, Hostname: HostName,
		Labels: map[string]string{"host": HostName, "peer-of-interest": "[2a01:4f8::1]:8333"},
	}
}

// WriteSegment writes evs as a complete segment at path, flushing once per
// second of event time like a live recording.
func WriteSegment(path string, meta *pb.SegmentMeta, evs []event.Event) error {
	w, err := format.Create(path, format.WriterOptions{FlushInterval: -1, FrameAge: -1, EventTimeFlush: format.DefaultFlushInterval, Fsync: format.FsyncSegment, Meta: meta})
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if err := w.Append(ev); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

// WriteUpstream writes evs as a peer-observer archive (zstd-compressed,
// length-delimited ArchiveHeader then events) at path.
func WriteUpstream(path string, createdSec uint64, evs []event.Event) error {
	var raw bytes.Buffer
	hb, err := proto.Marshal(&pb.ArchiveHeader{Created: proto.Uint64(createdSec)})
	if err != nil {
		return err
	}
	raw.Write(protowire.AppendVarint(nil, uint64(len(hb))))
	raw.Write(hb)
	for _, ev := range evs {
		raw.Write(protowire.AppendVarint(nil, uint64(len(ev.Raw))))
		raw.Write(ev.Raw)
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		return err
	}
	defer enc.Close()
	return os.WriteFile(path, enc.EncodeAll(raw.Bytes(), nil), 0o644)
}
