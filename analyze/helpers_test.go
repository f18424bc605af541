package analyze

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// T0 is the event time tests start at: 2026-03-02T00:00:00Z.
const T0 = int64(1772409600000)

// mk encodes an event at time t (ms) for node. Required fields may be
// left out, as hand-made events in tests often do: peer-observer's decoder
// does not enforce them, and neither does the engine.
func mk(t testing.TB, ms int64, node string, set func(e *pb.Event)) event.Event {
	t.Helper()
	msg := &pb.Event{Timestamp: proto.Uint64(uint64(ms))}
	set(msg)
	raw, err := proto.MarshalOptions{AllowPartial: true, Deterministic: true}.Marshal(msg)
	if err != nil {
		t.Fatalf("build event: %v", err)
	}
	ev, err := event.Parse(raw)
	if err != nil {
		t.Fatalf("build event: %v", err)
	}
	ev.Node = node
	return ev
}

func ebpf(e *pb.Ebpf) func(*pb.Event) {
	return func(m *pb.Event) { m.PeerObserverEvent = &pb.Event_EbpfExtractor{EbpfExtractor: e} }
}

func rpcEv(r *pb.Rpc) func(*pb.Event) {
	return func(m *pb.Event) { m.PeerObserverEvent = &pb.Event_RpcExtractor{RpcExtractor: r} }
}

func p2pEv(p *pb.P2P) func(*pb.Event) {
	return func(m *pb.Event) { m.PeerObserverEvent = &pb.Event_P2PExtractor{P2PExtractor: p} }
}

func logEv(l *pb.Log) func(*pb.Event) {
	return func(m *pb.Event) { m.PeerObserverEvent = &pb.Event_LogExtractor{LogExtractor: l} }
}

// peer describes the sender/receiver of a P2P message in tests.
type peer struct {
	id   uint64
	addr string
	ct   pb.ConnType
}

var (
	pIn  = peer{1, "203.0.113.10:8333", pb.ConnType_Inbound}
	pOut = peer{2, "198.51.100.20:8333", pb.ConnType_OutboundFullRelay}
	pBRO = peer{3, "[2001:db8::3]:8333", pb.ConnType_BlockRelayOnly}
)

func meta(p peer, cmd string, inbound bool, size uint64) *pb.Metadata {
	return &pb.Metadata{PeerId: proto.Uint64(p.id), Addr: proto.String(p.addr), ConnType: p.ct.Enum(),
		Command: proto.String(cmd), Inbound: proto.Bool(inbound), Size: proto.Uint64(size)}
}

// msg builds a P2P message event.
func msg(t testing.TB, ms int64, p peer, cmd string, inbound bool, size uint64, arm func(m *pb.MessageEvent)) event.Event {
	t.Helper()
	me := &pb.MessageEvent{Meta: meta(p, cmd, inbound, size)}
	if arm != nil {
		arm(me)
	}
	return mk(t, ms, "", ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: me}}))
}

func ping(t testing.TB, ms int64, p peer, inbound bool, nonce uint64) event.Event {
	return msg(t, ms, p, "ping", inbound, 8, func(m *pb.MessageEvent) {
		m.Msg = &pb.MessageEvent_Ping{Ping: &pb.Ping{Value: proto.Uint64(nonce)}}
	})
}

func pong(t testing.TB, ms int64, p peer, inbound bool, nonce uint64) event.Event {
	return msg(t, ms, p, "pong", inbound, 8, func(m *pb.MessageEvent) {
		m.Msg = &pb.MessageEvent_Pong{Pong: &pb.Pong{Value: proto.Uint64(nonce)}}
	})
}

func hash32(b byte) []byte {
	h := make([]byte, 32)
	for i := range h {
		h[i] = b + byte(i)
	}
	return h
}

func invMsg(t testing.TB, ms int64, p peer, inbound bool, items ...*pb.InventoryItem) event.Event {
	return msg(t, ms, p, "inv", inbound, uint64(1+36*len(items)), func(m *pb.MessageEvent) {
		m.Msg = &pb.MessageEvent_Inv{Inv: &pb.Inv{Items: items}}
	})
}

func wtx(b byte) *pb.InventoryItem {
	return &pb.InventoryItem{Item: &pb.InventoryItem_Wtx{Wtx: hash32(b)}}
}

func txItem(b byte) *pb.InventoryItem {
	return &pb.InventoryItem{Item: &pb.InventoryItem_Transaction{Transaction: hash32(b)}}
}

func blockItem(b byte) *pb.InventoryItem {
	return &pb.InventoryItem{Item: &pb.InventoryItem_Block{Block: hash32(b)}}
}

func ipv4Addr(ip string, ts uint32, services uint64) *pb.Address {
	return &pb.Address{Timestamp: proto.Uint32(ts), Address: &pb.Address_Ipv4{Ipv4: ip}, Services: proto.Uint64(services), Port: proto.Uint32(8333)}
}

func conn(p peer, network uint32) *pb.Connection {
	return &pb.Connection{PeerId: proto.Uint64(p.id), Addr: proto.String(p.addr), ConnType: p.ct.Enum(), Network: proto.Uint32(network)}
}

func connEv(t testing.TB, ms int64, node string, ce *pb.ConnectionEvent) event.Event {
	return mk(t, ms, node, ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: ce}}))
}

func inbound(t testing.TB, ms int64, p peer, existing uint64) event.Event {
	return connEv(t, ms, "", &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Inbound{Inbound: &pb.InboundConnection{Conn: conn(p, 1), ExistingConnections: proto.Uint64(existing)}}})
}

func closed(t testing.TB, ms int64, p peer, established uint64) event.Event {
	return connEv(t, ms, "", &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Closed{Closed: &pb.ClosedConnection{Conn: conn(p, 1), TimeEstablished: proto.Uint64(established)}}})
}

func misbehaving(t testing.TB, ms int64, id uint64, reason string) event.Event {
	return connEv(t, ms, "", &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Misbehaving{Misbehaving: &pb.MisbehavingConnection{Id: proto.Uint64(id), Message: proto.String(reason)}}})
}

func mempoolEv(t testing.TB, ms int64, me *pb.MempoolEvent) event.Event {
	return mk(t, ms, "", ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Mempool{Mempool: me}}))
}

func rejected(t testing.TB, ms int64, txid []byte, reason string) event.Event {
	return mempoolEv(t, ms, &pb.MempoolEvent{Event: &pb.MempoolEvent_Rejected{Rejected: &pb.Rejected{Txid: txid, Reason: proto.String(reason)}}})
}

func logLine(t testing.TB, ms int64, cat pb.LogDebugCategory, set func(l *pb.Log)) event.Event {
	l := &pb.Log{LogTimestamp: proto.Uint64(uint64(ms) * 1000), Category: cat.Enum()}
	set(l)
	return mk(t, ms, "", logEv(l))
}

func unknownLog(t testing.TB, ms int64, cat pb.LogDebugCategory, text string) event.Event {
	return logLine(t, ms, cat, func(l *pb.Log) {
		l.LogEvent = &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String(text)}}
	})
}

func blockChecked(t testing.TB, ms int64, hash, state string) event.Event {
	return logLine(t, ms, pb.LogDebugCategory_VALIDATION, func(l *pb.Log) {
		l.LogEvent = &pb.Log_BlockCheckedLog{BlockCheckedLog: &pb.BlockCheckedLog{BlockHash: proto.String(hash), State: proto.String(state), DebugMessage: proto.String("")}}
	})
}

func orphans(t testing.TB, ms int64, txs ...*pb.OrphanTx) event.Event {
	return mk(t, ms, "", rpcEv(&pb.Rpc{RpcEvent: &pb.Rpc_OrphanTxs{OrphanTxs: &pb.OrphanTxs{Orphans: txs}}}))
}

func orphan(wtxid string, bytes uint64, from ...uint64) *pb.OrphanTx {
	return &pb.OrphanTx{Txid: proto.String(wtxid), Wtxid: proto.String(wtxid), Bytes: proto.Uint64(bytes), Vsize: proto.Uint64(bytes), Weight: proto.Uint64(4 * bytes), From: from}
}

// newEngine returns an engine with o, failing the test on error.
func newEngine(t testing.TB, o Options) *Engine {
	t.Helper()
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func feed(t testing.TB, e *Engine, evs ...event.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := e.Consume(ev); err != nil {
			t.Fatalf("consume: %v", err)
		}
	}
}

// scrape parses the engine's text exposition.
func scrape(t testing.TB, e *Engine) map[string]*dto.MetricFamily {
	t.Helper()
	var buf bytes.Buffer
	if err := e.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, buf.String())
	}
	return mfs
}

// val returns the value of the series of name whose labels are exactly
// the given pairs ("k=v"), and whether it exists. For histograms it is the
// sample count.
func val(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	want := map[string]string{}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		want[k] = v
	}
next:
	for _, m := range mf.Metric {
		if len(m.Label) != len(want) {
			continue
		}
		for _, lp := range m.Label {
			if v, ok := want[lp.GetName()]; !ok || v != lp.GetValue() {
				continue next
			}
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		case dto.MetricType_SUMMARY:
			return float64(m.GetSummary().GetSampleCount()), true
		}
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
}

// expectVals checks a table of expected values.
type want struct {
	name   string
	labels []string
	v      float64
}

func w(name string, v float64, labels ...string) want { return want{name, labels, v} }

func check(t testing.TB, mfs map[string]*dto.MetricFamily, ws ...want) {
	t.Helper()
	for _, x := range ws {
		got, ok := val(mfs, x.name, x.labels...)
		if !ok {
			t.Errorf("%s%v: missing (have %s)", x.name, x.labels, seriesOf(mfs, x.name))
			continue
		}
		if got != x.v {
			t.Errorf("%s%v = %v, want %v", x.name, x.labels, got, x.v)
		}
	}
}

// summaryQuantile returns quantile q of a summary series (NaN if absent).
func summaryQuantile(mfs map[string]*dto.MetricFamily, name string, q float64, labels ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return math.NaN()
	}
	want := strings.Join(labels, ",")
	for _, m := range mf.Metric {
		var ls []string
		for _, lp := range m.Label {
			ls = append(ls, lp.GetName()+"="+lp.GetValue())
		}
		if strings.Join(ls, ",") != want {
			continue
		}
		for _, sq := range m.GetSummary().GetQuantile() {
			if sq.GetQuantile() == q {
				return sq.GetValue()
			}
		}
	}
	return math.NaN()
}

func absent(t testing.TB, mfs map[string]*dto.MetricFamily, name string, labels ...string) {
	t.Helper()
	if v, ok := val(mfs, name, labels...); ok {
		t.Errorf("%s%v = %v, want absent", name, labels, v)
	}
}

func seriesOf(mfs map[string]*dto.MetricFamily, name string) string {
	mf := mfs[name]
	if mf == nil {
		return "no such family"
	}
	var out []string
	for _, m := range mf.Metric {
		var ls []string
		for _, lp := range m.Label {
			ls = append(ls, lp.GetName()+"="+lp.GetValue())
		}
		out = append(out, "{"+strings.Join(ls, ",")+"}")
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// realisticMix builds n events shaped like a busy mainnet node recorded by
// peer-observer: mostly INV, tx and getdata messages over ~120 peers, some
// addr relay, pings, mempool churn, a few connections, getpeerinfo and the
// other RPC polls every 10 s, log lines and p2p-extractor measurements;
// about 1,300 events per second of event time. Deterministic for a seed.
func realisticMix(t testing.TB, n int, seed uint64) []event.Event {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	const npeers = 120
	peers := make([]peer, npeers)
	for i := range peers {
		ct := pb.ConnType_Inbound
		switch {
		case i < 8:
			ct = pb.ConnType_OutboundFullRelay
		case i < 10:
			ct = pb.ConnType_BlockRelayOnly
		}
		peers[i] = peer{uint64(i + 100), fmt.Sprintf("10.%d.%d.%d:8333", i%7, i, rng.IntN(250)+1), ct}
	}
	nonces := make([]uint64, npeers)
	evs := make([]event.Event, 0, n)
	ms := T0
	nextRPC := ms
	var txSeq byte
	for len(evs) < n {
		ms += int64(rng.IntN(2)) // ~1.3 events per ms on average below
		if ms >= nextRPC {
			nextRPC += 10_000
			evs = append(evs, peerInfosEvent(t, ms, peers, rng))
			evs = append(evs, mk(t, ms, "", rpcEv(&pb.Rpc{RpcEvent: &pb.Rpc_Uptime{Uptime: uint32((ms - T0) / 1000)}})))
			evs = append(evs, mk(t, ms, "", rpcEv(&pb.Rpc{RpcEvent: &pb.Rpc_MempoolInfo{MempoolInfo: mempoolInfo(rng)}})))
			evs = append(evs, orphans(t, ms, orphan(fmt.Sprintf("%064x", rng.IntN(20)), 300, uint64(100+rng.IntN(npeers)))))
			evs = append(evs, mk(t, ms, "", p2pEv(&pb.P2P{P2PEvent: &pb.P2P_PingDuration{PingDuration: &pb.PingDuration{Duration: proto.Uint64(uint64(200_000 + rng.IntN(2_000_000)))}}})))
			continue
		}
		p := peers[rng.IntN(npeers)]
		in := rng.IntN(2) == 0
		txSeq++
		switch r := rng.IntN(1000); {
		case r < 380:
			items := make([]*pb.InventoryItem, 1+rng.IntN(12))
			for i := range items {
				items[i] = wtx(byte(rng.IntN(256)))
			}
			evs = append(evs, invMsg(t, ms, p, in, items...))
		case r < 520:
			raw := make([]byte, 200+rng.IntN(300))
			evs = append(evs, msg(t, ms, p, "tx", in, uint64(len(raw)), func(m *pb.MessageEvent) {
				m.Msg = &pb.MessageEvent_Tx{Tx: &pb.Tx{Tx: &pb.Transaction{Txid: hash32(txSeq), Wtxid: hash32(txSeq + 1), Raw: raw}}}
			}))
		case r < 620:
			items := make([]*pb.InventoryItem, 1+rng.IntN(4))
			for i := range items {
				items[i] = wtx(byte(rng.IntN(256)))
			}
			evs = append(evs, msg(t, ms, p, "getdata", in, uint64(1+36*len(items)), func(m *pb.MessageEvent) {
				m.Msg = &pb.MessageEvent_Getdata{Getdata: &pb.GetData{Items: items}}
			}))
		case r < 640:
			addrs := make([]*pb.Address, 1+rng.IntN(3))
			for i := range addrs {
				addrs[i] = ipv4Addr(fmt.Sprintf("192.0.2.%d", rng.IntN(250)), uint32(ms/1000)-uint32(rng.IntN(3600)), 1033)
			}
			evs = append(evs, msg(t, ms, p, "addrv2", in, uint64(1+20*len(addrs)), func(m *pb.MessageEvent) {
				m.Msg = &pb.MessageEvent_Addrv2{Addrv2: &pb.AddrV2{Addresses: addrs}}
			}))
		case r < 660:
			i := int(p.id - 100)
			nonces[i] = rng.Uint64()
			evs = append(evs, ping(t, ms, p, true, nonces[i]))
			ms += int64(rng.IntN(3))
			evs = append(evs, pong(t, ms, p, false, nonces[i]))
		case r < 680:
			evs = append(evs, msg(t, ms, p, "feefilter", in, 8, func(m *pb.MessageEvent) {
				m.Msg = &pb.MessageEvent_Feefilter{Feefilter: &pb.FeeFilter{Fee: proto.Int64(int64(1000 * (1 + rng.IntN(3))))}}
			}))
		case r < 690:
			evs = append(evs, msg(t, ms, p, "headers", in, 82, func(m *pb.MessageEvent) {
				m.Msg = &pb.MessageEvent_Headers{Headers: &pb.Headers{}}
			}))
		case r < 850:
			evs = append(evs, mempoolEv(t, ms, &pb.MempoolEvent{Event: &pb.MempoolEvent_Added{Added: &pb.Added{Txid: hash32(txSeq), Vsize: proto.Int32(140 + int32(rng.IntN(400))), Fee: proto.Int64(1000)}}}))
		case r < 920:
			evs = append(evs, mempoolEv(t, ms, &pb.MempoolEvent{Event: &pb.MempoolEvent_Removed{Removed: &pb.Removed{Txid: hash32(txSeq), Reason: proto.String("block"), Vsize: proto.Int32(200), Fee: proto.Int64(1000), EntryTime: proto.Uint64(uint64(ms / 1000))}}}))
		case r < 930:
			evs = append(evs, rejected(t, ms, hash32(txSeq), "txn-mempool-conflict"))
		case r < 935:
			np := peer{uint64(1000 + len(evs)), fmt.Sprintf("172.16.%d.%d:8333", rng.IntN(250), rng.IntN(250)), pb.ConnType_Inbound}
			evs = append(evs, inbound(t, ms, np, uint64(100+rng.IntN(10))))
		case r < 940:
			np := peer{uint64(1000 + len(evs)), "172.16.1.1:8333", pb.ConnType_Inbound}
			evs = append(evs, closed(t, ms, np, uint64(ms/1000-600)))
		case r < 990:
			evs = append(evs, unknownLog(t, ms, pb.LogDebugCategory_NET, fmt.Sprintf("received: inv (37 bytes) peer=%d", p.id)))
		default:
			evs = append(evs, mk(t, ms, "", p2pEv(&pb.P2P{P2PEvent: &pb.P2P_InventoryAnnouncement{InventoryAnnouncement: &pb.InventoryAnnouncement{Inventory: []*pb.InventoryItem{wtx(1), wtx(2)}}}})))
		}
	}
	return evs[:n]
}

func mempoolInfo(rng *rand.Rand) *pb.MempoolInfo {
	return &pb.MempoolInfo{Loaded: proto.Bool(true), Size: proto.Int64(int64(20000 + rng.IntN(1000))), Bytes: proto.Int64(9_000_000), Usage: proto.Int64(40_000_000),
		TotalFee: proto.Float64(0.5), MaxMempool: proto.Int64(300_000_000), Mempoolminfee: proto.Float64(0.00001), Minrelaytxfee: proto.Float64(0.00001),
		Incrementalrelayfee: proto.Float64(0.00001), Unbroadcastcount: proto.Int64(0), Fullrbf: proto.Bool(true)}
}

func peerInfo(id uint32, addr string, inbound bool) *pb.PeerInfo {
	return &pb.PeerInfo{
		Id: proto.Uint32(id), Address: proto.String(addr), AddressBind: proto.String("10.0.0.1:8333"), AddressLocal: proto.String(""),
		Network: proto.String("ipv4"), MappedAs: proto.Uint32(0), Services: proto.String("0000000000000c09"), RelayTransactions: proto.Bool(true),
		LastSend: proto.Int64(0), LastReceived: proto.Int64(0), LastTransaction: proto.Int64(0), LastBlock: proto.Int64(0),
		BytesSent: proto.Uint64(0), BytesReceived: proto.Uint64(0), ConnectionTime: proto.Int64(0), TimeOffset: proto.Int64(0),
		PingTime: proto.Float64(0), MinimumPing: proto.Float64(0), PingWait: proto.Float64(0), Version: proto.Uint32(70016),
		Subversion: proto.String("/Satoshi:29.0.0/"), Inbound: proto.Bool(inbound), Bip152HbTo: proto.Bool(false), Bip152HbFrom: proto.Bool(false),
		StartingHeight: proto.Int64(0), SyncedHeaders: proto.Int64(0), SyncedBlocks: proto.Int64(0), AddrRelayEnabled: proto.Bool(false),
		AddrProcessed: proto.Uint64(0), AddrRateLimited: proto.Uint64(0), Minfeefilter: proto.Float64(0.00001),
		ConnectionType: proto.String("inbound"), TransportProtocolType: proto.String("v1"), InvToSend: proto.Uint64(0), CpuLoad: proto.Float64(0),
	}
}

func peerInfosEvent(t testing.TB, ms int64, peers []peer, rng *rand.Rand) event.Event {
	infos := make([]*pb.PeerInfo, len(peers))
	for i, p := range peers {
		pi := peerInfo(uint32(p.id), p.addr, p.ct == pb.ConnType_Inbound)
		pi.PingTime = proto.Float64(0.01 + rng.Float64()/10)
		pi.MinimumPing = proto.Float64(0.005)
		pi.MappedAs = proto.Uint32(uint32(64500 + i%20))
		pi.InvToSend = proto.Uint64(uint64(rng.IntN(50)))
		if i%3 == 0 {
			pi.TransportProtocolType = proto.String("v2")
		}
		pi.BytesReceivedPerMessage = map[string]uint64{"tx": 100, "inv": 2000}
		infos[i] = pi
	}
	return mk(t, ms, "", rpcEv(&pb.Rpc{RpcEvent: &pb.Rpc_PeerInfos{PeerInfos: &pb.PeerInfos{Infos: infos}}}))
}
