package analyze

import (
	"math"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

func mustList(t testing.TB, name, text string) *IPList {
	t.Helper()
	l, err := ParseIPList(name, strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testLists puts pIn on gmax's list and the Tor exits, pOut on Monero's,
// 203.0.113.0/24 is LinkingLion, 2001:db8::/32 is bitprojects.
func testLists(t testing.TB) IPLists {
	return IPLists{
		GmaxBan:            mustList(t, "gmax", "203.0.113.10\n"),
		MoneroBan:          mustList(t, "monero", "198.51.100.20 # pOut\n"),
		TorExit:            mustList(t, "tor", "203.0.113.10\n"),
		LinkingLion:        mustList(t, "ll", "203.0.113.0/24\n"),
		LinkingLionPre2026: mustList(t, "llpre", "198.51.100.0/24\n"),
		Bitprojects:        mustList(t, "bp", "2001:db8::/32\n"),
	}
}

func TestUpstreamMessages(t *testing.T) {
	e := newEngine(t, Options{Lists: testLists(t)})
	sec := uint32(T0 / 1000)
	other := peer{4, "192.0.2.7:8333", pb.ConnType_Inbound}
	feed(t, e,
		invMsg(t, T0, pIn, true, wtx(1), wtx(2)),
		invMsg(t, T0, pOut, false, wtx(1), txItem(3)),
		invMsg(t, T0, pOut, false), // empty: heterogeneous, like upstream
		ping(t, T0, pIn, true, 0),
		ping(t, T0, pIn, true, 300),
		ping(t, T0, pIn, true, 1<<40),
		ping(t, T0, pIn, false, 5), // outbound: not counted by value
		msg(t, T0, other, "ping", true, 0, func(m *pb.MessageEvent) { m.Msg = &pb.MessageEvent_Oldping{Oldping: true} }),
		msg(t, T0, other, "addrv2", true, 0, func(m *pb.MessageEvent) { m.Msg = &pb.MessageEvent_Emptyaddrv2{Emptyaddrv2: true} }),
		msg(t, T0, other, "addr", true, 61, func(m *pb.MessageEvent) {
			m.Msg = &pb.MessageEvent_Addr{Addr: &pb.Addr{Addresses: []*pb.Address{
				ipv4Addr("192.0.2.7", sec-100, 1033), // self, 100 s in the past, bits 0, 3, 10
				ipv4Addr("192.0.2.99", sec+5, 1),     // same /24, future
				ipv4Addr("198.18.0.1", sec, 1),       // neither
			}}}
		}),
		msg(t, T0, other, "version", true, 100, func(m *pb.MessageEvent) {
			m.Msg = &pb.MessageEvent_Version{Version: &pb.Version{UserAgent: proto.String("/Satoshi:29.0.0/")}}
		}),
		msg(t, T0, pIn, "version", true, 100, func(m *pb.MessageEvent) {
			m.Msg = &pb.MessageEvent_Version{Version: &pb.Version{UserAgent: proto.String("/fake/")}}
		}),
		msg(t, T0, other, "version", true, 100, func(m *pb.MessageEvent) {
			m.Msg = &pb.MessageEvent_Version{Version: &pb.Version{UserAgent: proto.String(privateBroadcastUserAgent)}}
		}),
		msg(t, T0, pOut, "feefilter", false, 8, func(m *pb.MessageEvent) {
			m.Msg = &pb.MessageEvent_Feefilter{Feefilter: &pb.FeeFilter{Fee: proto.Int64(1000)}}
		}),
		msg(t, T0, pOut, "reject", true, 30, func(m *pb.MessageEvent) {
			m.Msg = &pb.MessageEvent_Reject{Reject: &pb.Reject{RejectedCommand: proto.String("tx"), Reason: pb.Reject_NONSTANDARD.Enum()}}
		}),
	)
	// A reject whose reason is outside the enum: protobuf keeps it among
	// the unknown fields; peer-observer labels it "unknown".
	feed(t, e, rejectWithRawReason(t, T0, 77))

	big := make([]*pb.InventoryItem, 36)
	for i := range big {
		big[i] = wtx(byte(i))
	}
	feed(t, e, invMsg(t, T0, pOut, false, big...), invMsg(t, T0, pIn, true, big...))

	m := scrape(t, e)
	check(t, m,
		w("peerobserver_p2p_message_count", 2, "message=inv", "connection_type=1", "direction=inbound"),
		w("peerobserver_p2p_message_bytes", 73+1297, "message=inv", "connection_type=1", "direction=inbound"),
		w("peerobserver_p2p_message_count", 3, "message=inv", "connection_type=2", "direction=outbound"),
		w("peerobserver_p2p_message_count_linkinglion", 2, "message=inv", "direction=inbound"),
		w("peerobserver_p2p_message_bytes_linkinglion", 100, "message=version", "direction=inbound"),
		w("peerobserver_p2p_inv_entries", 38, "direction=inbound", "inv_type=WTx"),
		w("peerobserver_p2p_inv_entries", 1, "direction=outbound", "inv_type=Tx"),
		w("peerobserver_p2p_inv_entries_histogram", 3, "direction=outbound"),
		w("peerobserver_p2p_invs_homogeneous", 2, "direction=inbound"),
		w("peerobserver_p2p_invs_heterogeneous", 2, "direction=outbound"),
		w("peerobserver_p2p_invs_outbound_large", 1),
		w("peerobserver_p2p_ping_inbound_value", 1, "value=0"),
		w("peerobserver_p2p_ping_inbound_value", 1, "value=u16"),
		w("peerobserver_p2p_ping_inbound_value", 1, "value=u64"),
		w("peerobserver_p2p_oldping_subnet", 1, "subnet=192.0.2.0"),
		w("peerobserver_p2p_addrv2_empty", 1, "direction=inbound", "addr=192.0.2.7"),
		w("peerobserver_p2p_addr_addresses", 1, "direction=inbound"),
		w("peerobserver_p2p_addr_timestamp_offset_seconds", 2, "direction=inbound", "timestamp_offset=past"),
		w("peerobserver_p2p_addr_timestamp_offset_seconds", 1, "direction=inbound", "timestamp_offset=future"),
		w("peerobserver_p2p_addr_services_bits", 5, "direction=inbound"),
		w("peerobserver_p2p_addr_services", 1, "direction=inbound", "services=1033"),
		w("peerobserver_p2p_addr_services", 2, "direction=inbound", "services=1"),
		w("peerobserver_p2p_address_selfannouncements", 1, "network=IPv4", "direction=inbound"),
		w("peerobserver_p2p_address_subnetannouncements", 1, "network=IPv4", "direction=inbound"),
		w("peerobserver_p2p_version_useragent", 1, "useragent=/Satoshi:29.0.0/"),
		w("peerobserver_p2p_version_useragent", 1, "useragent=LinkingLion"),
		w("peerobserver_conn_private_transaction_broadcast", 1),
		w("peerobserver_p2p_feefilter_feerate", 1, "direction=outbound", "feerate=1000"),
		w("peerobserver_p2p_reject_message", 1, "rejectcommand=tx", "rejectreason=NonStandard"),
		w("peerobserver_p2p_reject_message", 1, "rejectcommand=block", "rejectreason=unknown"),
	)
	absent(t, m, "peerobserver_p2p_ping_inbound_value", "value=u8")
	// Series appear when used, as upstream's do: no outbound addr yet.
	absent(t, m, "peerobserver_p2p_addr_timestamp_offset_seconds", "direction=outbound", "timestamp_offset=past")
	absent(t, m, "peerobserver_p2p_invs_heterogeneous", "direction=inbound")

	// The offsets: 100 s past and 0 s past, 5 s future.
	for _, s := range m["peerobserver_p2p_addr_timestamp_offset_seconds"].Metric {
		if labelOf(s, "direction") != "inbound" {
			t.Errorf("unexpected series %v", s.Label)
		}
		h := s.GetHistogram()
		want := map[string]float64{"past": 100, "future": 5}[labelOf(s, "timestamp_offset")]
		if h.GetSampleSum() != want {
			t.Errorf("offset %s sum = %v, want %v", labelOf(s, "timestamp_offset"), h.GetSampleSum(), want)
		}
	}
	// Service bits 0, 3 and 10 of 1033 and bit 0 twice: sum 0+3+10.
	for _, s := range m["peerobserver_p2p_addr_services_bits"].Metric {
		if s.GetHistogram().GetSampleSum() != 13 {
			t.Errorf("service bits sum = %v, want 13", s.GetHistogram().GetSampleSum())
		}
	}
}

func labelOf(m *dto.Metric, name string) string {
	for _, lp := range m.Label {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// rejectWithRawReason builds a reject message whose reason field carries a
// number outside the enum, written by hand as a newer extractor would.
func rejectWithRawReason(t testing.TB, ms int64, reason uint64) event.Event {
	var rej []byte
	rej = protowire.AppendTag(rej, 1, protowire.BytesType)
	rej = protowire.AppendString(rej, "block")
	rej = protowire.AppendTag(rej, 2, protowire.VarintType)
	rej = protowire.AppendVarint(rej, reason)
	rej = protowire.AppendTag(rej, 3, protowire.BytesType)
	rej = protowire.AppendString(rej, "")
	rej = protowire.AppendTag(rej, 4, protowire.BytesType)
	rej = protowire.AppendBytes(rej, hash32(0))
	metaB, err := proto.Marshal(meta(pOut, "reject", true, 40))
	if err != nil {
		t.Fatal(err)
	}
	var me []byte
	me = protowire.AppendTag(me, 1, protowire.BytesType)
	me = protowire.AppendBytes(me, metaB)
	me = protowire.AppendTag(me, 39, protowire.BytesType)
	me = protowire.AppendBytes(me, rej)
	var eb []byte
	eb = protowire.AppendTag(eb, 1, protowire.BytesType)
	eb = protowire.AppendBytes(eb, me)
	var raw []byte
	raw = protowire.AppendTag(raw, 10, protowire.VarintType)
	raw = protowire.AppendVarint(raw, uint64(ms))
	raw = protowire.AppendTag(raw, 1, protowire.BytesType)
	raw = protowire.AppendBytes(raw, eb)
	ev, err := event.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestUpstreamConnections(t *testing.T) {
	e := newEngine(t, Options{Lists: testLists(t)})
	feed(t, e,
		inbound(t, T0, pIn, 10),
		connEv(t, T0, "", &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Outbound{Outbound: &pb.OutboundConnection{Conn: conn(pOut, 2), ExistingConnections: proto.Uint64(7)}}}),
		closed(t, T0+5000, pIn, uint64(T0/1000-95)),  // 100 s old
		closed(t, T0+5000, pOut, uint64(T0/1000+60)), // established "in the future": 0, not a wrap
		connEv(t, T0, "", &pb.ConnectionEvent{Event: &pb.ConnectionEvent_InboundEvicted{InboundEvicted: &pb.EvictedInboundConnection{Conn: conn(pIn, 1), TimeEstablished: proto.Uint64(0)}}}),
		misbehaving(t, T0, 1, "invalid header received"),
		misbehaving(t, T0, 1, "invalid header received"),
	)
	check(t, scrape(t, e),
		w("peerobserver_conn_inbound", 1),
		w("peerobserver_conn_inbound_network", 1, "network=1"),
		w("peerobserver_conn_inbound_current", 10),
		w("peerobserver_conn_inbound_banlist_gmax", 1),
		w("peerobserver_conn_inbound_banlist_monero", 0),
		w("peerobserver_conn_inbound_tor_exit", 1),
		w("peerobserver_conn_inbound_list_linkinglion", 1),
		w("peerobserver_conn_outbound", 1),
		w("peerobserver_conn_outbound_network", 1, "network=2"),
		w("peerobserver_conn_outbound_current", 7),
		w("peerobserver_conn_closed", 2),
		w("peerobserver_conn_closed_network", 2, "network=1"),
		w("peerobserver_conn_closed_age", 100),
		w("peerobserver_conn_evicted_inbound", 1),
		w("peerobserver_conn_misbehaving", 2, "id=1", "misbehavingmessage=invalid header received"),
		w("peerobserver_conn_misbehaving_reason", 2, "misbehavingmessage=invalid header received"),
	)
}

func TestUpstreamMempoolValidationAddrman(t *testing.T) {
	e := newEngine(t, Options{})
	feed(t, e,
		mempoolEv(t, T0, &pb.MempoolEvent{Event: &pb.MempoolEvent_Added{Added: &pb.Added{Txid: hash32(1), Vsize: proto.Int32(150), Fee: proto.Int64(300)}}}),
		mempoolEv(t, T0, &pb.MempoolEvent{Event: &pb.MempoolEvent_Added{Added: &pb.Added{Txid: hash32(2), Vsize: proto.Int32(50), Fee: proto.Int64(300)}}}),
		mempoolEv(t, T0, &pb.MempoolEvent{Event: &pb.MempoolEvent_Replaced{Replaced: &pb.Replaced{ReplacedTxid: hash32(1), ReplacedVsize: proto.Int32(150)}}}),
		mempoolEv(t, T0, &pb.MempoolEvent{Event: &pb.MempoolEvent_Removed{Removed: &pb.Removed{Txid: hash32(2), Reason: proto.String("sizelimi")}}}),
		rejected(t, T0, hash32(3), "min relay fee not met"),
		mk(t, T0, "", ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Validation{Validation: &pb.ValidationEvent{Event: &pb.ValidationEvent_BlockConnected{BlockConnected: &pb.BlockConnected{
			Hash: hash32(9), Height: proto.Int32(900_000), Transactions: proto.Int64(3000), Inputs: proto.Int32(7000), Sigops: proto.Int64(12000), ConnectionTime: proto.Uint64(250_000_000)}}}}})),
		mk(t, T0, "", ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Addrman{Addrman: &pb.AddrmanEvent{Event: &pb.AddrmanEvent_New{New: &pb.InsertNew{Inserted: proto.Bool(true)}}}}})),
		mk(t, T0, "", ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Addrman{Addrman: &pb.AddrmanEvent{Event: &pb.AddrmanEvent_Tried{Tried: &pb.InsertTried{}}}}})),
	)
	check(t, scrape(t, e),
		w("peerobserver_mempool_added", 2),
		w("peerobserver_mempool_added_vbytes", 200),
		w("peerobserver_mempool_replaced", 1),
		w("peerobserver_mempool_replaced_vbytes", 150),
		w("peerobserver_mempool_removed", 1, "reason=sizelimi"),
		w("peerobserver_mempool_rejected", 1, "reason=min relay fee not met"),
		w("peerobserver_validation_block_connected_latest_height", 900_000),
		w("peerobserver_validation_block_connected_latest_connection_time", 250_000),
		w("peerobserver_validation_block_connected_connection_time", 250_000),
		w("peerobserver_validation_block_connected_latest_transactions", 3000),
		w("peerobserver_validation_block_connected_latest_inputs", 7000),
		w("peerobserver_validation_block_connected_latest_sigops", 12000),
		w("peerobserver_addrman_new_insert", 1, "inserted=true"),
		w("peerobserver_addrman_tried_insert", 1),
		w("peertape_block_connection_seconds", 1),
	)
}

func TestUpstreamPeerInfo(t *testing.T) {
	e := newEngine(t, Options{Lists: testLists(t)})
	a := peerInfo(1, "203.0.113.10:8333", true) // gmax, tor, linkinglion
	a.PingTime, a.MinimumPing, a.PingWait = proto.Float64(0.1), proto.Float64(0.05), proto.Float64(6)
	a.TimeOffset = proto.Int64(11)
	a.AddrRateLimited, a.AddrProcessed = proto.Uint64(3), proto.Uint64(10)
	a.AddrRelayEnabled = proto.Bool(true)
	a.Bip152HbTo = proto.Bool(true)
	a.Inflight = []uint64{800, 801}
	a.MappedAs = proto.Uint32(64500)
	a.BytesReceivedPerMessage = map[string]uint64{"tx": 1}
	a.Minfeefilter = proto.Float64(0.000001)
	a.InvToSend = proto.Uint64(10)
	a.CpuLoad = proto.Float64(2.5)
	a.TransportProtocolType = proto.String("v2")
	b := peerInfo(2, "198.51.100.20:8333", false) // monero, linkinglion pre-2026
	b.PingTime, b.MinimumPing = proto.Float64(0.3), proto.Float64(0.02)
	b.TimeOffset = proto.Int64(-20)
	b.Bip152HbFrom = proto.Bool(true)
	b.Inflight = []uint64{801}
	b.ConnectionType = proto.String("outbound-full-relay")
	b.InvToSend = proto.Uint64(30)
	b.Version = proto.Uint32(70015)
	c := peerInfo(3, "[2001:db8::5]:8333", true) // bitprojects
	c.Network = proto.String("ipv6")
	c.RelayTransactions = proto.Bool(false)
	d := peerInfo(4, "203.0.114.9:8333", true)
	d.MappedAs = proto.Uint32(64500)
	d.InvToSend = proto.Uint64(20)
	feed(t, e, mk(t, T0, "", rpcEv(&pb.Rpc{RpcEvent: &pb.Rpc_PeerInfos{PeerInfos: &pb.PeerInfos{Infos: []*pb.PeerInfo{a, b, c, d}}}})))
	m := scrape(t, e)
	check(t, m,
		w("peerobserver_rpc_peer_info_num_peers", 4),
		w("peerobserver_rpc_peer_info_list_peers_gmax_ban", 1),
		w("peerobserver_rpc_peer_info_list_peers_monero_ban", 1),
		w("peerobserver_rpc_peer_info_list_peers_tor_exit", 1),
		w("peerobserver_rpc_peer_info_list_peers_linkinglion", 1),
		w("peerobserver_rpc_peer_info_list_peers_linkinglion_pre2026", 1),
		w("peerobserver_rpc_peer_info_list_peers_bitprojects", 1, "direction=inbound"),
		w("peerobserver_rpc_peer_info_list_peers_bitprojects", 0, "direction=outbound"),
		w("peerobserver_rpc_peer_info_addr_ratelimited_peers", 1),
		w("peerobserver_rpc_peer_info_addr_ratelimited_total", 3),
		w("peerobserver_rpc_peer_info_addr_processed_total", 10),
		w("peerobserver_rpc_peer_info_addr_relay_enabled_peers", 1),
		w("peerobserver_rpc_peer_info_timeoffset_plus10s", 1),
		w("peerobserver_rpc_peer_info_timeoffset_minus10s", 1),
		w("peerobserver_rpc_peer_info_bip152_highbandwidth_to", 1),
		w("peerobserver_rpc_peer_info_bip152_highbandwidth_from", 1),
		w("peerobserver_rpc_peer_info_inflight_block_peers", 2),
		w("peerobserver_rpc_peer_info_inflight_distinct_blocks_heights", 2),
		w("peerobserver_rpc_peer_info_ping_wait_larger_5_seconds_block_peers", 1),
		w("peerobserver_rpc_peer_info_transport_protocol_type_peers", 1, "transport_protocol_type=v2"),
		w("peerobserver_rpc_peer_info_transport_protocol_type_peers", 3, "transport_protocol_type=v1"),
		w("peerobserver_rpc_peer_info_network_peers", 3, "network=ipv4"),
		w("peerobserver_rpc_peer_info_connection_type_peers", 3, "connection_type=inbound"),
		w("peerobserver_rpc_peer_info_protocol_version_peers", 1, "protocol_version=70015"),
		w("peerobserver_rpc_peer_info_asn_peers", 2, "ASN=64500"),
		w("peerobserver_rpc_peer_info_ping_mean", 200),
		w("peerobserver_rpc_peer_info_ping_median", 200),
		w("peerobserver_rpc_peer_info_minping_mean", 35),
		w("peerobserver_rpc_peer_info_sub1satvb_relay", 1),
		w("peerobserver_rpc_peer_info_connection_divserity_inbound_ipv4", 0.5), // two inbound IPv4 peers in 203.0/16
		w("peerobserver_rpc_peer_info_invtosend_sum", 60),
		w("peerobserver_rpc_peer_info_invtosend_max", 30),
		w("peerobserver_rpc_peer_info_invtosend_min", 10),
		w("peerobserver_rpc_peer_info_invtosend_mean", 20),
		w("peerobserver_rpc_peer_info_invtosend_median", 20),
		w("peerobserver_rpc_peer_info_cpuload_sum", 2.5),
		w("peerobserver_rpc_peer_info_cpuload_max", 2.5),
		// peertape's own view of the same poll
		w("peertape_peers_v2_transport_ratio", 0.25),
		w("peertape_peers_listed", 1, "list=gmax_ban"),
		w("peertape_peers_listed", 1, "list=bitprojects"),
		w("peertape_peers_ping_mean_seconds", 0.2),
		w("peertape_peers_ping_median_seconds", 0.2),
		w("peertape_peers_ping_wait_max_seconds", 6),
	)
	if v, _ := val(m, "peerobserver_rpc_peer_info_minping_median"); math.Abs(v-35) > 1e-9 {
		t.Errorf("minping median = %v, want 35", v)
	}
	// A second poll resets the labelled gauges: v2 disappears.
	feed(t, e, mk(t, T0+10_000, "", rpcEv(&pb.Rpc{RpcEvent: &pb.Rpc_PeerInfos{PeerInfos: &pb.PeerInfos{Infos: []*pb.PeerInfo{d}}}})))
	m = scrape(t, e)
	absent(t, m, "peerobserver_rpc_peer_info_transport_protocol_type_peers", "transport_protocol_type=v2")
	check(t, m, w("peerobserver_rpc_peer_info_num_peers", 1), w("peertape_peers_listed", 0, "list=gmax_ban"))
}

func TestUpstreamRPCPolls(t *testing.T) {
	e := newEngine(t, Options{})
	rpc := func(ms int64, r *pb.Rpc) event.Event { return mk(t, ms, "", rpcEv(r)) }
	feed(t, e,
		rpc(T0, &pb.Rpc{RpcEvent: &pb.Rpc_Uptime{Uptime: 3600}}),
		rpc(T0, &pb.Rpc{RpcEvent: &pb.Rpc_NetTotals{NetTotals: &pb.NetTotals{TotalBytesReceived: proto.Uint64(1e6), TotalBytesSent: proto.Uint64(2e6)}}}),
		rpc(T0, &pb.Rpc{RpcEvent: &pb.Rpc_MemoryInfo{MemoryInfo: &pb.MemoryInfo{Used: proto.Uint64(1), Free: proto.Uint64(2), Total: proto.Uint64(3), Locked: proto.Uint64(4), ChunksUsed: proto.Uint64(5), ChunksFree: proto.Uint64(6)}}}),
		rpc(T0, &pb.Rpc{RpcEvent: &pb.Rpc_AddrmanInfo{AddrmanInfo: &pb.AddrManInfo{Networks: map[string]*pb.AddrManInfoNetwork{"ipv4": {New: proto.Uint64(100), Tried: proto.Uint64(20), Total: proto.Uint64(120)}}}}}),
		rpc(T0, &pb.Rpc{RpcEvent: &pb.Rpc_MempoolInfo{MempoolInfo: &pb.MempoolInfo{Loaded: proto.Bool(true), Size: proto.Int64(5), TotalFee: proto.Float64(0.25), Mempoolminfee: proto.Float64(0.00001)}}}),
		rpc(T0, &pb.Rpc{RpcEvent: &pb.Rpc_ChainTxStats{ChainTxStats: &pb.ChainTxStats{TxCount: proto.Uint32(1000), WindowFinalBlockHeight: proto.Uint32(900), WindowBlockCount: proto.Uint32(10), TxRate: proto.Float64(3.5)}}}),
		rpc(T0, &pb.Rpc{RpcEvent: &pb.Rpc_NetworkInfo{NetworkInfo: &pb.NetworkInfo{Version: proto.Int32(290000), Connections: proto.Uint32(10), NetworkActive: proto.Bool(true),
			Warnings: []string{"w"}, Networks: []*pb.NetworkInfoNetwork{{Name: proto.String("onion"), Limited: proto.Bool(true), Reachable: proto.Bool(false)}}}}}),
		rpc(T0, &pb.Rpc{RpcEvent: &pb.Rpc_BlockchainInfo{BlockchainInfo: &pb.BlockchainInfo{Blocks: proto.Uint32(900), Headers: proto.Uint32(901), Pruned: proto.Bool(true), Verificationprogress: proto.Float64(0.99)}}}),
		mk(t, T0, "", func(m *pb.Event) {
			m.PeerObserverEvent = &pb.Event_IpcExtractor{IpcExtractor: &pb.Ipc{IpcEvent: &pb.Ipc_BlockTip{BlockTip: &pb.BlockTip{Height: proto.Int32(901), Hash: hash32(1)}}}}
		}),
	)
	feed(t, e, estimateSmartFee(t, T0, 6, 2, 12.5))
	check(t, scrape(t, e),
		w("peerobserver_rpc_uptime", 3600),
		w("peerobserver_rpc_nettotals_total_bytes_received", 1e6),
		w("peerobserver_rpc_nettotals_total_bytes_sent", 2e6),
		w("peerobserver_rpc_memoryinfo_locked_chunks_free", 6),
		w("peerobserver_rpc_addrmaninfo", 20, "network=ipv4", "table=tried"),
		w("peerobserver_rpc_mempoolinfo_mempool_loaded", 1),
		w("peerobserver_rpc_mempoolinfo_transaction_count", 5),
		w("peerobserver_rpc_mempoolinfo_transaction_fees", 0.25),
		w("peerobserver_rpc_chaintxstats_tx_count", 1000),
		w("peerobserver_rpc_chaintxstats_tx_rate", 3.5),
		w("peerobserver_rpc_chaintxstats_window_tx_count", 0), // optional, unset: untouched
		w("peerobserver_rpc_networkinfo_version", 290000),
		w("peerobserver_rpc_networkinfo_warnings", 1),
		w("peerobserver_rpc_networkinfo_network_active", 1),
		w("peerobserver_rpc_networkinfo_networks", 1, "network=onion", "property=limited"),
		w("peerobserver_rpc_networkinfo_networks", 0, "network=onion", "property=reachable"),
		w("peerobserver_rpc_blockchaininfo_headers", 901),
		w("peerobserver_rpc_blockchaininfo_pruned", 1),
		w("peerobserver_rpc_blockchaininfo_verification_progress", 0.99),
		w("peerobserver_ipc_block_tip_height", 901),
		w("peerobserver_rpc_estimatesmartfee_feerate", 12.5, "target_block=6", "mode=CONSERVATIVE"),
	)
}

// estimateSmartFee builds the 2026 rpc extractor's estimate_smart_fee arm
// (field 12), which this build's schema does not have.
func estimateSmartFee(t testing.TB, ms int64, target uint64, mode uint64, feeRate float64) event.Event {
	var body []byte
	body = protowire.AppendTag(body, 1, protowire.Fixed64Type)
	body = protowire.AppendFixed64(body, math.Float64bits(feeRate))
	body = protowire.AppendTag(body, 2, protowire.VarintType)
	body = protowire.AppendVarint(body, target)
	body = protowire.AppendTag(body, 3, protowire.VarintType)
	body = protowire.AppendVarint(body, target)
	body = protowire.AppendTag(body, 4, protowire.VarintType)
	body = protowire.AppendVarint(body, mode)
	var r []byte
	r = protowire.AppendTag(r, 12, protowire.BytesType)
	r = protowire.AppendBytes(r, body)
	var raw []byte
	raw = protowire.AppendTag(raw, 10, protowire.VarintType)
	raw = protowire.AppendVarint(raw, uint64(ms))
	raw = protowire.AppendTag(raw, 2, protowire.BytesType)
	raw = protowire.AppendBytes(raw, r)
	ev, err := event.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestUpstreamP2PExtractorAndLog(t *testing.T) {
	e := newEngine(t, Options{})
	addrs := []*pb.Address{ipv4Addr("192.0.2.1", 0, 1), ipv4Addr("192.0.2.2", 0, 1), {Address: &pb.Address_Torv3{Torv3: "x.onion"}}}
	feed(t, e,
		mk(t, T0, "", p2pEv(&pb.P2P{P2PEvent: &pb.P2P_AddressAnnouncement{AddressAnnouncement: &pb.AddressAnnouncement{Addresses: addrs}}})),
		mk(t, T0, "", p2pEv(&pb.P2P{P2PEvent: &pb.P2P_InventoryAnnouncement{InventoryAnnouncement: &pb.InventoryAnnouncement{Inventory: []*pb.InventoryItem{wtx(1), wtx(2), blockItem(3)}}}})),
		mk(t, T0, "", p2pEv(&pb.P2P{P2PEvent: &pb.P2P_FeefilterAnnouncement{FeefilterAnnouncement: 1000}})),
		mk(t, T0+1, "", p2pEv(&pb.P2P{P2PEvent: &pb.P2P_FeefilterAnnouncement{FeefilterAnnouncement: 2000}})),
		unknownLog(t, T0, pb.LogDebugCategory_NET, "hello"),
		logLine(t, T0, pb.LogDebugCategory_VALIDATION, func(l *pb.Log) {
			l.LogEvent = &pb.Log_BlockConnectedLog{BlockConnectedLog: &pb.BlockConnectedLog{BlockHash: proto.String("00ab"), BlockHeight: proto.Uint32(5)}}
		}),
		blockChecked(t, T0, "00ab", "bad-txnmrklroot"),
		blockChecked(t, T0, "00ac", "valid"),
	)
	feed(t, e, logWithLevelAndBytes(t, T0, 2, 120))
	check(t, scrape(t, e),
		w("peerobserver_p2pextractor_addrv2relay_messages", 1),
		w("peerobserver_p2pextractor_addrv2relay_messages_10_or_less_entries", 1),
		w("peerobserver_p2pextractor_addrv2relay_size", 3),
		w("peerobserver_p2pextractor_addrv2relay_addresses", 2, "network=IPv4"),
		w("peerobserver_p2pextractor_addrv2relay_addresses", 1, "network=TorV3"),
		w("peerobserver_p2pextractor_invs_messages", 1),
		w("peerobserver_p2pextractor_invs_size", 3),
		w("peerobserver_p2pextractor_invs_items", 2, "inv_type=WTx"),
		w("peerobserver_p2pextractor_invs_items", 1, "inv_type=Block"),
		w("peerobserver_p2pextractor_feefilter_messages", 2),
		w("peerobserver_p2pextractor_feefilter_last", 2000),
		w("peertape_p2pextractor_feefilter_changes_total", 1),
		w("peerobserver_log_events", 1, "category=net", "level=info"),
		w("peerobserver_log_events", 3, "category=validation", "level=info"),
		w("peerobserver_log_events", 1, "category=net", "level=error"),
		w("peerobserver_log_bytes", 120, "category=net", "level=error"),
		w("peerobserver_log_block_connected_events", 1),
		w("peerobserver_log_block_checked_events", 2),
		w("peerobserver_log_mutated_blocks", 1, "status=bad-txnmrklroot"),
		w("peertape_mutated_blocks_total", 1, "state=bad-txnmrklroot"),
	)
}

// logWithLevelAndBytes builds a 2026 log event with log_level (7) and
// log_line_bytes (8), fields this build's schema lacks.
func logWithLevelAndBytes(t testing.TB, ms int64, level, bytes uint64) event.Event {
	l := &pb.Log{LogTimestamp: proto.Uint64(uint64(ms) * 1000), Category: pb.LogDebugCategory_NET.Enum(),
		LogEvent: &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String("x")}}}
	b, err := proto.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	b = protowire.AppendTag(b, 7, protowire.VarintType)
	b = protowire.AppendVarint(b, level)
	b = protowire.AppendTag(b, 8, protowire.VarintType)
	b = protowire.AppendVarint(b, bytes)
	var raw []byte
	raw = protowire.AppendTag(raw, 10, protowire.VarintType)
	raw = protowire.AppendVarint(raw, uint64(ms))
	raw = protowire.AppendTag(raw, 4, protowire.BytesType)
	raw = protowire.AppendBytes(raw, b)
	ev, err := event.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestRuntimeStartFromEventTime(t *testing.T) {
	e := newEngine(t, Options{})
	m := scrape(t, e)
	check(t, m, w("peerobserver_runtime_start_timestamp", 0))
	feed(t, e, ping(t, T0+1999, pIn, true, 1), ping(t, T0+90_000, pIn, true, 2))
	check(t, scrape(t, e),
		w("peerobserver_runtime_start_timestamp", float64(T0/1000+1)),
		w("peertape_first_event_timestamp_seconds", float64(T0+1999)/1000),
	)
}

// upstreamMetrics lists every peerobserver_* metric of peer-observer's
// metrics tool (reference §8.1) with its type and label names.
var upstreamMetrics = []struct {
	name   string
	typ    dto.MetricType
	labels string
}{
	{"runtime_start_timestamp", dto.MetricType_GAUGE, ""},
	{"conn_inbound", dto.MetricType_COUNTER, ""},
	{"conn_outbound", dto.MetricType_COUNTER, ""},
	{"conn_closed", dto.MetricType_COUNTER, ""},
	{"conn_evicted_inbound", dto.MetricType_COUNTER, ""},
	{"conn_inbound_network", dto.MetricType_COUNTER, "network"},
	{"conn_outbound_network", dto.MetricType_COUNTER, "network"},
	{"conn_closed_network", dto.MetricType_COUNTER, "network"},
	{"conn_inbound_current", dto.MetricType_GAUGE, ""},
	{"conn_outbound_current", dto.MetricType_GAUGE, ""},
	{"conn_closed_age", dto.MetricType_COUNTER, ""},
	{"conn_inbound_banlist_gmax", dto.MetricType_COUNTER, ""},
	{"conn_inbound_banlist_monero", dto.MetricType_COUNTER, ""},
	{"conn_inbound_list_linkinglion", dto.MetricType_COUNTER, ""},
	{"conn_inbound_tor_exit", dto.MetricType_COUNTER, ""},
	{"conn_misbehaving", dto.MetricType_COUNTER, "id,misbehavingmessage"},
	{"conn_misbehaving_reason", dto.MetricType_COUNTER, "misbehavingmessage"},
	{"conn_private_transaction_broadcast", dto.MetricType_COUNTER, ""},
	{"p2p_message_count", dto.MetricType_COUNTER, "connection_type,direction,message"},
	{"p2p_message_bytes", dto.MetricType_COUNTER, "connection_type,direction,message"},
	{"p2p_message_count_linkinglion", dto.MetricType_COUNTER, "direction,message"},
	{"p2p_message_bytes_linkinglion", dto.MetricType_COUNTER, "direction,message"},
	{"p2p_ping_inbound_value", dto.MetricType_COUNTER, "value"},
	{"p2p_oldping_subnet", dto.MetricType_COUNTER, "subnet"},
	{"p2p_version_useragent", dto.MetricType_COUNTER, "useragent"},
	{"p2p_feefilter_feerate", dto.MetricType_COUNTER, "direction,feerate"},
	{"p2p_reject_message", dto.MetricType_COUNTER, "rejectcommand,rejectreason"},
	{"p2p_addr_addresses", dto.MetricType_HISTOGRAM, "direction"},
	{"p2p_addrv2_addresses", dto.MetricType_HISTOGRAM, "direction"},
	{"p2p_addr_timestamp_offset_seconds", dto.MetricType_HISTOGRAM, "direction,timestamp_offset"},
	{"p2p_addrv2_timestamp_offset_seconds", dto.MetricType_HISTOGRAM, "direction,timestamp_offset"},
	{"p2p_addr_services_bits", dto.MetricType_HISTOGRAM, "direction"},
	{"p2p_addrv2_services_bits", dto.MetricType_HISTOGRAM, "direction"},
	{"p2p_addr_services", dto.MetricType_COUNTER, "direction,services"},
	{"p2p_addrv2_services", dto.MetricType_COUNTER, "direction,services"},
	{"p2p_address_selfannouncements", dto.MetricType_COUNTER, "direction,network"},
	{"p2p_address_subnetannouncements", dto.MetricType_COUNTER, "direction,network"},
	{"p2p_addrv2_empty", dto.MetricType_COUNTER, "addr,direction"},
	{"p2p_inv_entries", dto.MetricType_COUNTER, "direction,inv_type"},
	{"p2p_inv_entries_histogram", dto.MetricType_HISTOGRAM, "direction"},
	{"p2p_invs_homogeneous", dto.MetricType_COUNTER, "direction"},
	{"p2p_invs_heterogeneous", dto.MetricType_COUNTER, "direction"},
	{"p2p_invs_outbound_large", dto.MetricType_COUNTER, ""},
	{"addrman_new_insert", dto.MetricType_COUNTER, "inserted"},
	{"addrman_tried_insert", dto.MetricType_COUNTER, ""},
	{"mempool_added", dto.MetricType_COUNTER, ""},
	{"mempool_added_vbytes", dto.MetricType_COUNTER, ""},
	{"mempool_replaced", dto.MetricType_COUNTER, ""},
	{"mempool_replaced_vbytes", dto.MetricType_COUNTER, ""},
	{"mempool_rejected", dto.MetricType_COUNTER, "reason"},
	{"mempool_removed", dto.MetricType_COUNTER, "reason"},
	{"validation_block_connected_latest_height", dto.MetricType_GAUGE, ""},
	{"validation_block_connected_latest_connection_time", dto.MetricType_GAUGE, ""},
	{"validation_block_connected_latest_sigops", dto.MetricType_GAUGE, ""},
	{"validation_block_connected_latest_inputs", dto.MetricType_GAUGE, ""},
	{"validation_block_connected_latest_transactions", dto.MetricType_GAUGE, ""},
	{"validation_block_connected_connection_time", dto.MetricType_COUNTER, ""},
	{"rpc_peer_info_num_peers", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_list_peers_gmax_ban", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_list_peers_monero_ban", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_list_peers_tor_exit", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_list_peers_linkinglion", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_list_peers_linkinglion_pre2026", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_list_peers_bitprojects", dto.MetricType_GAUGE, "direction"},
	{"rpc_peer_info_addr_ratelimited_peers", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_addr_ratelimited_total", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_addr_processed_total", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_timeoffset_plus10s", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_timeoffset_minus10s", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_bip152_highbandwidth_to", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_bip152_highbandwidth_from", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_addr_relay_enabled_peers", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_inflight_block_peers", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_inflight_distinct_blocks_heights", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_ping_wait_larger_5_seconds_block_peers", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_transport_protocol_type_peers", dto.MetricType_GAUGE, "transport_protocol_type"},
	{"rpc_peer_info_network_peers", dto.MetricType_GAUGE, "network"},
	{"rpc_peer_info_connection_type_peers", dto.MetricType_GAUGE, "connection_type"},
	{"rpc_peer_info_protocol_version_peers", dto.MetricType_GAUGE, "protocol_version"},
	{"rpc_peer_info_asn_peers", dto.MetricType_GAUGE, "ASN"},
	{"rpc_peer_info_ping_median", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_ping_mean", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_minping_median", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_minping_mean", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_sub1satvb_relay", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_connection_divserity_inbound_ipv4", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_invtosend_sum", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_invtosend_max", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_invtosend_median", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_invtosend_mean", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_invtosend_min", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_cpuload_sum", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_cpuload_max", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_cpuload_median", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_cpuload_mean", dto.MetricType_GAUGE, ""},
	{"rpc_peer_info_cpuload_min", dto.MetricType_GAUGE, ""},
	{"rpc_mempoolinfo_mempool_loaded", dto.MetricType_GAUGE, ""},
	{"rpc_mempoolinfo_transaction_count", dto.MetricType_GAUGE, ""},
	{"rpc_mempoolinfo_transaction_fees", dto.MetricType_GAUGE, ""},
	{"rpc_mempoolinfo_transaction_vbyte", dto.MetricType_GAUGE, ""},
	{"rpc_mempoolinfo_memory_usage", dto.MetricType_GAUGE, ""},
	{"rpc_mempoolinfo_memory_max", dto.MetricType_GAUGE, ""},
	{"rpc_mempoolinfo_min_mempool_feerate", dto.MetricType_GAUGE, ""},
	{"rpc_mempoolinfo_min_relay_tx_feerate", dto.MetricType_GAUGE, ""},
	{"rpc_mempoolinfo_incremental_relay_feerate", dto.MetricType_GAUGE, ""},
	{"rpc_uptime", dto.MetricType_GAUGE, ""},
	{"rpc_nettotals_total_bytes_received", dto.MetricType_GAUGE, ""},
	{"rpc_nettotals_total_bytes_sent", dto.MetricType_GAUGE, ""},
	{"rpc_memoryinfo_locked_used", dto.MetricType_GAUGE, ""},
	{"rpc_memoryinfo_locked_free", dto.MetricType_GAUGE, ""},
	{"rpc_memoryinfo_locked_total", dto.MetricType_GAUGE, ""},
	{"rpc_memoryinfo_locked_locked", dto.MetricType_GAUGE, ""},
	{"rpc_memoryinfo_locked_chunks_used", dto.MetricType_GAUGE, ""},
	{"rpc_memoryinfo_locked_chunks_free", dto.MetricType_GAUGE, ""},
	{"rpc_addrmaninfo", dto.MetricType_GAUGE, "network,table"},
	{"rpc_chaintxstats_tx_count", dto.MetricType_GAUGE, ""},
	{"rpc_chaintxstats_window_final_block_height", dto.MetricType_GAUGE, ""},
	{"rpc_chaintxstats_window_block_count", dto.MetricType_GAUGE, ""},
	{"rpc_chaintxstats_window_tx_count", dto.MetricType_GAUGE, ""},
	{"rpc_chaintxstats_window_interval", dto.MetricType_GAUGE, ""},
	{"rpc_chaintxstats_tx_rate", dto.MetricType_GAUGE, ""},
	{"rpc_networkinfo_version", dto.MetricType_GAUGE, ""},
	{"rpc_networkinfo_protocol_version", dto.MetricType_GAUGE, ""},
	{"rpc_networkinfo_time_offset", dto.MetricType_GAUGE, ""},
	{"rpc_networkinfo_connections", dto.MetricType_GAUGE, ""},
	{"rpc_networkinfo_connections_in", dto.MetricType_GAUGE, ""},
	{"rpc_networkinfo_connections_out", dto.MetricType_GAUGE, ""},
	{"rpc_networkinfo_network_active", dto.MetricType_GAUGE, ""},
	{"rpc_networkinfo_relay_fee", dto.MetricType_GAUGE, ""},
	{"rpc_networkinfo_incremental_fee", dto.MetricType_GAUGE, ""},
	{"rpc_networkinfo_warnings", dto.MetricType_GAUGE, ""},
	{"rpc_networkinfo_local_addresses_count", dto.MetricType_GAUGE, ""},
	{"rpc_networkinfo_networks", dto.MetricType_GAUGE, "network,property"},
	{"rpc_blockchaininfo_blocks", dto.MetricType_GAUGE, ""},
	{"rpc_blockchaininfo_headers", dto.MetricType_GAUGE, ""},
	{"rpc_blockchaininfo_difficulty", dto.MetricType_GAUGE, ""},
	{"rpc_blockchaininfo_verification_progress", dto.MetricType_GAUGE, ""},
	{"rpc_blockchaininfo_initial_block_download", dto.MetricType_GAUGE, ""},
	{"rpc_blockchaininfo_size_on_disk", dto.MetricType_GAUGE, ""},
	{"rpc_blockchaininfo_pruned", dto.MetricType_GAUGE, ""},
	{"rpc_blockchaininfo_prune_height", dto.MetricType_GAUGE, ""},
	{"rpc_blockchaininfo_prune_target_size", dto.MetricType_GAUGE, ""},
	{"rpc_blockchaininfo_warnings", dto.MetricType_GAUGE, ""},
	{"rpc_getorphantxs_count", dto.MetricType_GAUGE, ""},
	{"rpc_getorphantxs_bytes", dto.MetricType_GAUGE, ""},
	{"rpc_getorphantxs_vsize", dto.MetricType_GAUGE, ""},
	{"rpc_getorphantxs_weight", dto.MetricType_GAUGE, ""},
	{"rpc_getorphantxs_from_mean", dto.MetricType_GAUGE, ""},
	{"rpc_getorphantxs_from_min", dto.MetricType_GAUGE, ""},
	{"rpc_getorphantxs_from_max", dto.MetricType_GAUGE, ""},
	{"rpc_getorphantxs_added_count", dto.MetricType_COUNTER, ""},
	{"rpc_getorphantxs_added_bytes", dto.MetricType_COUNTER, ""},
	{"rpc_getorphantxs_removed_count", dto.MetricType_COUNTER, ""},
	{"rpc_getorphantxs_removed_bytes", dto.MetricType_COUNTER, ""},
	{"rpc_getrawaddrman_ports", dto.MetricType_GAUGE, "port,table"},
	{"rpc_getrawaddrman_services", dto.MetricType_GAUGE, "service,table"},
	{"rpc_getrawaddrman_service_bits", dto.MetricType_GAUGE, "service_bit,table"},
	{"rpc_getrawaddrman_distinct_asns", dto.MetricType_GAUGE, "table"},
	{"rpc_getrawaddrman_distinct_sources", dto.MetricType_GAUGE, "table"},
	{"rpc_getrawaddrman_distinct_source_asn", dto.MetricType_GAUGE, "table"},
	{"rpc_getrawaddrman_added_entry", dto.MetricType_COUNTER, "table"},
	{"rpc_getrawaddrman_replaced_entry", dto.MetricType_COUNTER, "table"},
	{"rpc_getrawaddrman_changed_services", dto.MetricType_COUNTER, "table"},
	{"rpc_getrawaddrman_changed_timestamps", dto.MetricType_COUNTER, "table"},
	{"rpc_estimatesmartfee_feerate", dto.MetricType_GAUGE, "mode,target_block"},
	{"p2pextractor_ping_duration_nanoseconds", dto.MetricType_GAUGE, ""},
	{"p2pextractor_addrv2relay_messages", dto.MetricType_COUNTER, ""},
	{"p2pextractor_addrv2relay_messages_10_or_less_entries", dto.MetricType_COUNTER, ""},
	{"p2pextractor_addrv2relay_size", dto.MetricType_GAUGE, ""},
	{"p2pextractor_addrv2relay_addresses", dto.MetricType_COUNTER, "network"},
	{"p2pextractor_invs_messages", dto.MetricType_COUNTER, ""},
	{"p2pextractor_invs_size", dto.MetricType_GAUGE, ""},
	{"p2pextractor_invs_items", dto.MetricType_COUNTER, "inv_type"},
	{"p2pextractor_feefilter_messages", dto.MetricType_COUNTER, ""},
	{"p2pextractor_feefilter_last", dto.MetricType_GAUGE, ""},
	{"log_events", dto.MetricType_COUNTER, "category,level"},
	{"log_bytes", dto.MetricType_COUNTER, "category,level"},
	{"log_block_connected_events", dto.MetricType_COUNTER, ""},
	{"log_block_checked_events", dto.MetricType_COUNTER, ""},
	{"log_mutated_blocks", dto.MetricType_COUNTER, "status"},
	{"ipc_block_tip_height", dto.MetricType_GAUGE, ""},
}

// everyGroup is a stream touching every group of metrics, so that every
// labelled family has a series.
func everyGroup(t testing.TB) []event.Event {
	a := peerInfo(1, "203.0.113.10:8333", true)
	var evs []event.Event
	add := func(e ...event.Event) { evs = append(evs, e...) }
	add(invMsg(t, T0, pIn, true, wtx(1)), invMsg(t, T0, pIn, true), ping(t, T0, pIn, true, 1), pong(t, T0+5, pIn, false, 1))
	add(msg(t, T0, pIn, "ping", true, 0, func(m *pb.MessageEvent) { m.Msg = &pb.MessageEvent_Oldping{Oldping: true} }))
	add(msg(t, T0, pIn, "addrv2", true, 0, func(m *pb.MessageEvent) { m.Msg = &pb.MessageEvent_Emptyaddrv2{Emptyaddrv2: true} }))
	for _, cmd := range []string{"addr", "addrv2"} {
		addrs := []*pb.Address{ipv4Addr("203.0.113.10", uint32(T0/1000), 9), ipv4Addr("203.0.113.11", uint32(T0/1000)+9, 9)}
		add(msg(t, T0, pIn, cmd, true, 30, func(m *pb.MessageEvent) {
			if cmd == "addr" {
				m.Msg = &pb.MessageEvent_Addr{Addr: &pb.Addr{Addresses: addrs}}
			} else {
				m.Msg = &pb.MessageEvent_Addrv2{Addrv2: &pb.AddrV2{Addresses: addrs}}
			}
		}))
	}
	add(msg(t, T0, pIn, "version", true, 100, func(m *pb.MessageEvent) {
		m.Msg = &pb.MessageEvent_Version{Version: &pb.Version{UserAgent: proto.String("/Satoshi:29.0.0/")}}
	}))
	add(msg(t, T0, pIn, "feefilter", true, 8, func(m *pb.MessageEvent) {
		m.Msg = &pb.MessageEvent_Feefilter{Feefilter: &pb.FeeFilter{Fee: proto.Int64(1000)}}
	}))
	add(msg(t, T0, pIn, "reject", true, 8, func(m *pb.MessageEvent) {
		m.Msg = &pb.MessageEvent_Reject{Reject: &pb.Reject{RejectedCommand: proto.String("tx"), Reason: pb.Reject_DUST.Enum()}}
	}))
	add(inbound(t, T0, pIn, 3), closed(t, T0+1, pIn, uint64(T0/1000-10)), misbehaving(t, T0, 1, "m"))
	add(connEv(t, T0, "", &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Outbound{Outbound: &pb.OutboundConnection{Conn: conn(pOut, 1), ExistingConnections: proto.Uint64(1)}}}))
	add(mk(t, T0, "", ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Addrman{Addrman: &pb.AddrmanEvent{Event: &pb.AddrmanEvent_New{New: &pb.InsertNew{Inserted: proto.Bool(false)}}}}})))
	add(mempoolEv(t, T0, &pb.MempoolEvent{Event: &pb.MempoolEvent_Removed{Removed: &pb.Removed{Txid: hash32(2), Reason: proto.String("block")}}}), rejected(t, T0, hash32(3), "r"))
	a.MappedAs = proto.Uint32(1)
	add(mk(t, T0, "", rpcEv(&pb.Rpc{RpcEvent: &pb.Rpc_PeerInfos{PeerInfos: &pb.PeerInfos{Infos: []*pb.PeerInfo{a}}}})))
	add(mk(t, T0, "", rpcEv(&pb.Rpc{RpcEvent: &pb.Rpc_AddrmanInfo{AddrmanInfo: &pb.AddrManInfo{Networks: map[string]*pb.AddrManInfoNetwork{"ipv4": {New: proto.Uint64(1), Tried: proto.Uint64(1), Total: proto.Uint64(2)}}}}})))
	add(mk(t, T0, "", rpcEv(&pb.Rpc{RpcEvent: &pb.Rpc_NetworkInfo{NetworkInfo: &pb.NetworkInfo{Networks: []*pb.NetworkInfoNetwork{{Name: proto.String("ipv4")}}}}})))
	add(orphans(t, T0, orphan("aa", 100, 1)))
	add(addrmanSnapshot(t, T0, map[uint32]string{1: "192.0.2.1"}, map[uint32]string{2: "192.0.2.2"}))
	add(estimateSmartFee(t, T0, 2, 1, 3))
	add(mk(t, T0, "", p2pEv(&pb.P2P{P2PEvent: &pb.P2P_AddressAnnouncement{AddressAnnouncement: &pb.AddressAnnouncement{Addresses: []*pb.Address{ipv4Addr("192.0.2.1", 0, 1)}}}})))
	add(mk(t, T0, "", p2pEv(&pb.P2P{P2PEvent: &pb.P2P_InventoryAnnouncement{InventoryAnnouncement: &pb.InventoryAnnouncement{Inventory: []*pb.InventoryItem{wtx(1)}}}})))
	add(unknownLog(t, T0, pb.LogDebugCategory_NET, "x"), blockChecked(t, T0, "ab", "bad-txns-duplicate"))
	return evs
}

// addrmanSnapshot builds a getrawaddrman result with one entry per
// position in bucket 0 of each table.
func addrmanSnapshot(t testing.TB, ms int64, newT, tried map[uint32]string) event.Event {
	tbl := func(m map[uint32]string) map[uint32]*pb.AddrmanBucket {
		b := &pb.AddrmanBucket{Entries: map[uint32]*pb.AddrmanEntry{}}
		for pos, a := range m {
			b.Entries[pos] = &pb.AddrmanEntry{Address: proto.String(a), Port: proto.Uint32(8333), Network: proto.String("ipv4"), Services: proto.Uint64(9),
				Time: proto.Int64(ms / 1000), Source: proto.String("192.0.2.254"), SourceNetwork: proto.String("ipv4"), MappedAs: proto.Uint32(64500)}
		}
		return map[uint32]*pb.AddrmanBucket{0: b}
	}
	return mk(t, ms, "", rpcEv(&pb.Rpc{RpcEvent: &pb.Rpc_Addrman{Addrman: &pb.Addrman{New: tbl(newT), Tried: tbl(tried)}}}))
}

func TestEveryUpstreamMetricExists(t *testing.T) {
	e := newEngine(t, Options{Lists: testLists(t)})
	evs := everyGroup(t)
	feed(t, e, evs...)
	// A second raw addrman snapshot, so the diff counters exist.
	feed(t, e, addrmanSnapshot(t, T0+120_000, map[uint32]string{1: "192.0.2.1", 3: "192.0.2.3"}, map[uint32]string{2: "192.0.2.9"}))
	m := scrape(t, e)
	for _, u := range upstreamMetrics {
		name := "peerobserver_" + u.name
		mf := m[name]
		if mf == nil {
			t.Errorf("%s: missing", name)
			continue
		}
		if mf.GetType() != u.typ {
			t.Errorf("%s: type %v, want %v", name, mf.GetType(), u.typ)
		}
		var got []string
		for _, lp := range mf.Metric[0].Label {
			got = append(got, lp.GetName())
		}
		if g, w := strings.Join(got, ","), sortedCSV(u.labels); g != w {
			t.Errorf("%s: labels %q, want %q", name, g, w)
		}
	}
	// Nothing peerobserver_* beyond the list.
	known := map[string]bool{}
	for _, u := range upstreamMetrics {
		known["peerobserver_"+u.name] = true
	}
	for name := range m {
		if strings.HasPrefix(name, "peerobserver_") && !known[name] {
			t.Errorf("%s: not one of peer-observer's metrics", name)
		}
	}
}

func sortedCSV(s string) string {
	if s == "" {
		return ""
	}
	parts := strings.Split(s, ",")
	// Prometheus sorts label pairs by name.
	for i := range parts {
		for j := i + 1; j < len(parts); j++ {
			if parts[j] < parts[i] {
				parts[i], parts[j] = parts[j], parts[i]
			}
		}
	}
	return strings.Join(parts, ",")
}

func TestNoIPListsMetricsStayZero(t *testing.T) {
	e := newEngine(t, Options{})
	feed(t, e, inbound(t, T0, pIn, 1), mk(t, T0, "", rpcEv(&pb.Rpc{RpcEvent: &pb.Rpc_PeerInfos{PeerInfos: &pb.PeerInfos{Infos: []*pb.PeerInfo{peerInfo(1, "203.0.113.10:1", true)}}}})))
	check(t, scrape(t, e),
		w("peerobserver_conn_inbound_banlist_gmax", 0),
		w("peerobserver_conn_inbound_tor_exit", 0),
		w("peerobserver_rpc_peer_info_list_peers_linkinglion", 0),
		w("peertape_peers_listed", 0, "list=tor_exit"),
	)
}
