package analyze

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/peertape/peertape/proto/pb"
)

// upstream keeps peer-observer's metrics (tools/metrics), all prefixed
// peerobserver_ by the registerer it is built with: the same names, types
// and label names, and the same values for the same events, so existing
// Grafana dashboards keep working. Where peer-observer crashes or wraps on
// odd input (a closed connection established "in the future", an address
// entry without an address) the value here is clamped or the entry
// skipped instead.
type upstream struct {
	e     *Engine
	lists *IPLists

	runtimeStart prometheus.Gauge

	// P2P messages
	msgCount, msgBytes        *prometheus.CounterVec
	msgCache                  map[msgKey]counterPair
	llCount, llBytes          *prometheus.CounterVec
	llCache                   map[msgKey]counterPair
	addrAddresses             [2]*prometheus.HistogramVec // by message: addr, addrv2
	addrOffsetVec             [2]*prometheus.HistogramVec
	addrServiceBitsVec        [2]*prometheus.HistogramVec
	addrOffset                [2][2][2]prometheus.Observer // [message][direction][past, future], created on first use
	addrServiceBits           [2][2]prometheus.Observer
	addrServices              [2]*prometheus.CounterVec
	servicesCache             map[servicesKey]prometheus.Counter
	selfAnn, subnetAnn        *prometheus.CounterVec
	addrv2Empty               *prometheus.CounterVec
	pingValue                 *prometheus.CounterVec
	invEntries                *prometheus.CounterVec
	invEntriesCache           [2][numInvTypes]prometheus.Counter
	invHistVec                *prometheus.HistogramVec
	invHomoVec, invHeteroVec  *prometheus.CounterVec
	invHist                   [2]prometheus.Observer // created on first use, like upstream's
	invHomo, invHetero        [2]prometheus.Counter
	invLarge                  prometheus.Counter
	oldpingSubnet             *prometheus.CounterVec
	versionUA                 *prometheus.CounterVec
	privateBroadcast          prometheus.Counter
	feefilterFeerate          *prometheus.CounterVec
	rejectMessage             *prometheus.CounterVec
	connInbound, connOutbound prometheus.Counter
	connClosed, connEvicted   prometheus.Counter
	connClosedAge             prometheus.Counter
	connInboundNet            *prometheus.CounterVec
	connOutboundNet           *prometheus.CounterVec
	connClosedNet             *prometheus.CounterVec
	connInboundCurrent        prometheus.Gauge
	connOutboundCurrent       prometheus.Gauge
	connGmax, connMonero      prometheus.Counter
	connLinkingLion, connTor  prometheus.Counter
	connMisbehaving           *prometheus.CounterVec
	connMisbehavingReason     *prometheus.CounterVec

	// addrman (ebpf, removed upstream in 2026)
	addrmanNewInsert   *prometheus.CounterVec
	addrmanTriedInsert prometheus.Counter

	// mempool and validation
	mempoolAdded, mempoolAddedVbytes       prometheus.Counter
	mempoolReplaced, mempoolReplacedVbytes prometheus.Counter
	mempoolRejected, mempoolRemoved        *prometheus.CounterVec
	blockHeight, blockConnTime             prometheus.Gauge
	blockSigops, blockInputs, blockTxs     prometheus.Gauge
	blockConnTimeTotal                     prometheus.Counter

	rm rpcMetrics

	// p2p-extractor
	p2pPing                              prometheus.Gauge
	p2pAddrAddresses                     *prometheus.CounterVec
	p2pAddrMessages, p2pAddrMessagesLE10 prometheus.Counter
	p2pAddrSize                          prometheus.Gauge
	p2pInvItems                          *prometheus.CounterVec
	p2pInvMessages                       prometheus.Counter
	p2pInvSize                           prometheus.Gauge
	p2pFeefilterMessages                 prometheus.Counter
	p2pFeefilterLast                     prometheus.Gauge

	// log-extractor
	logEvents, logBytes *prometheus.CounterVec
	logBlockConnected   prometheus.Counter
	logBlockChecked     prometheus.Counter
	logMutated          *prometheus.CounterVec

	ipcTipHeight prometheus.Gauge
}

type counterPair struct{ count, bytes prometheus.Counter }

type msgKey struct {
	command  string
	connType int64
	inbound  bool
}

type servicesKey struct {
	msg      int
	inbound  bool
	services uint64
}

const (
	msgAddr   = 0
	msgAddrv2 = 1
)

// Inventory item types as peer-observer names them.
const (
	invTx = iota
	invBlock
	invWTx
	invWitnessTx
	invWitnessBlock
	invCompactBlock
	invUnknown
	invError
	invNone
	numInvTypes
)

var invTypeNames = [numInvTypes]string{"Tx", "Block", "WTx", "WitnessTx", "WitnessBlock", "CompactBlock", "Unknown", "Error", "None"}

func invType(it *pb.InventoryItem) int {
	switch it.GetItem().(type) {
	case *pb.InventoryItem_Transaction:
		return invTx
	case *pb.InventoryItem_Block:
		return invBlock
	case *pb.InventoryItem_Wtx:
		return invWTx
	case *pb.InventoryItem_WitnessTransaction:
		return invWitnessTx
	case *pb.InventoryItem_WitnessBlock:
		return invWitnessBlock
	case *pb.InventoryItem_CompactBlock:
		return invCompactBlock
	case *pb.InventoryItem_Unknown:
		return invUnknown
	case *pb.InventoryItem_Error:
		return invError
	}
	return invNone
}

// Histogram buckets of peer-observer's metrics tool.
var (
	bucketsAddrCount = []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 700, 800, 900, 999, 1000}
	bucketsInvSize   = []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 700, 800, 900, 999, 1000,
		2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 20000, 25000, 30000, 35000, 40000, 45000, 50000}
	bucketsServiceBits     = prometheus.LinearBuckets(0, 1, 64)
	bucketsTimestampOffset = append([]float64{0}, prometheus.ExponentialBuckets(1, 2, 25)...)
)

// privateBroadcastUserAgent is the user agent of Core's private
// transaction broadcast connections (Core PR #29415).
const privateBroadcastUserAgent = "/pynode:0.0.1/"

func newUpstream(e *Engine, reg prometheus.Registerer) *upstream {
	f := promauto.With(reg)
	counter := func(name, help string) prometheus.Counter {
		return f.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return f.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	gauge := func(name, help string) prometheus.Gauge {
		return f.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	histVec := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return f.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	}
	u := &upstream{
		e:             e,
		lists:         &e.opts.Lists,
		msgCache:      map[msgKey]counterPair{},
		llCache:       map[msgKey]counterPair{},
		servicesCache: map[servicesKey]prometheus.Counter{},
	}
	u.runtimeStart = gauge("runtime_start_timestamp", "Event time of the first event the analyzers consumed, UNIX seconds (peer-observer: the wall-clock start of its metrics tool).")

	u.msgCount = counterVec("p2p_message_count", "P2P messages sent or received.", "message", "connection_type", "direction")
	u.msgBytes = counterVec("p2p_message_bytes", "Payload bytes of P2P messages sent or received.", "message", "connection_type", "direction")
	u.llCount = counterVec("p2p_message_count_linkinglion", "P2P messages sent to or received from LinkingLion addresses.", "message", "direction")
	u.llBytes = counterVec("p2p_message_bytes_linkinglion", "Payload bytes of P2P messages sent to or received from LinkingLion addresses.", "message", "direction")
	addrNames := [2]string{"addr", "addrv2"}
	for mi, mn := range addrNames {
		u.addrAddresses[mi] = histVec("p2p_"+mn+"_addresses", "Entries per '"+mn+"' message.", bucketsAddrCount, "direction")
		u.addrOffsetVec[mi] = histVec("p2p_"+mn+"_timestamp_offset_seconds", "Distance (seconds) between event time and the timestamps of '"+mn+"' entries, in the past or the future.", bucketsTimestampOffset, "direction", "timestamp_offset")
		u.addrServiceBitsVec[mi] = histVec("p2p_"+mn+"_services_bits", "Service flag bits (by bit index) set in '"+mn+"' entries.", bucketsServiceBits, "direction")
		u.addrServices[mi] = counterVec("p2p_"+mn+"_services", "'"+mn+"' entries by their service flags (decimal).", "direction", "services")
	}
	u.selfAnn = counterVec("p2p_address_selfannouncements", "addr(v2) entries announcing the sender's own address.", "network", "direction")
	u.subnetAnn = counterVec("p2p_address_subnetannouncements", "addr(v2) entries in the sender's /24 (IPv4) or /64 (IPv6) that are not the sender's own address.", "network", "direction")
	u.addrv2Empty = counterVec("p2p_addrv2_empty", "Empty addrv2 messages, by peer address.", "direction", "addr")
	u.pingValue = counterVec("p2p_ping_inbound_value", "Inbound pings by nonce size class (0, u8, u16, u32, u64).", "value")
	u.invEntries = counterVec("p2p_inv_entries", "INV entries sent and received, by type.", "direction", "inv_type")
	u.invHistVec = histVec("p2p_inv_entries_histogram", "Entries per INV message.", bucketsInvSize, "direction")
	u.invHomoVec = counterVec("p2p_invs_homogeneous", "INV messages whose entries all have one type.", "direction")
	u.invHeteroVec = counterVec("p2p_invs_heterogeneous", "INV messages with entries of several types (or none).", "direction")
	u.invLarge = counter("p2p_invs_outbound_large", "Outbound INV messages with more than 35 Tx or WTx entries (the 2024 large-inv-to-send disclosure).")
	u.oldpingSubnet = counterVec("p2p_oldping_subnet", "Inbound pings without a nonce, by sender subnet.", "subnet")
	u.versionUA = counterVec("p2p_version_useragent", "Inbound version messages by user agent; LinkingLion addresses count as 'LinkingLion'.", "useragent")
	u.feefilterFeerate = counterVec("p2p_feefilter_feerate", "feefilter messages sent and received, by fee rate (sat/kvB).", "direction", "feerate")
	u.rejectMessage = counterVec("p2p_reject_message", "Inbound reject messages by rejected command and reason.", "rejectcommand", "rejectreason")

	u.connInbound = counter("conn_inbound", "Inbound connections opened.")
	u.connInboundNet = counterVec("conn_inbound_network", "Inbound connections opened, by Core's network number.", "network")
	u.connMonero = counter("conn_inbound_banlist_monero", "Inbound connections from addresses on the Monero ban list.")
	u.connGmax = counter("conn_inbound_banlist_gmax", "Inbound connections from addresses on gmax's ban list.")
	u.connLinkingLion = counter("conn_inbound_list_linkinglion", "Inbound connections from LinkingLion addresses.")
	u.connTor = counter("conn_inbound_tor_exit", "Inbound connections from Tor exit nodes.")
	u.connInboundCurrent = gauge("conn_inbound_current", "Inbound connections open before the latest inbound connection (the tracepoint's existing_connections).")
	u.connOutbound = counter("conn_outbound", "Outbound connections opened.")
	u.connOutboundCurrent = gauge("conn_outbound_current", "Outbound connections open before the latest outbound connection (the tracepoint's existing_connections).")
	u.connOutboundNet = counterVec("conn_outbound_network", "Outbound connections opened, by Core's network number.", "network")
	u.connClosedNet = counterVec("conn_closed_network", "Connections closed, by Core's network number.", "network")
	u.connClosed = counter("conn_closed", "Connections closed.")
	u.connClosedAge = counter("conn_closed_age", "Sum of the ages (seconds) of closed connections.")
	u.connEvicted = counter("conn_evicted_inbound", "Inbound connections evicted.")
	u.connMisbehaving = counterVec("conn_misbehaving", "Misbehaviour reports by peer id and message.", "id", "misbehavingmessage")
	u.connMisbehavingReason = counterVec("conn_misbehaving_reason", "Misbehaviour reports by message.", "misbehavingmessage")
	u.privateBroadcast = counter("conn_private_transaction_broadcast", "Inbound private transaction broadcast connections (Core PR #29415), recognised by their user agent.")

	u.addrmanNewInsert = counterVec("addrman_new_insert", "Attempted inserts into addrman's new table (patched-Core tracepoint), by success.", "inserted")
	u.addrmanTriedInsert = counter("addrman_tried_insert", "Inserts into addrman's tried table (patched-Core tracepoint).")

	u.mempoolAdded = counter("mempool_added", "Transactions added to the mempool.")
	u.mempoolAddedVbytes = counter("mempool_added_vbytes", "Virtual bytes added to the mempool.")
	u.mempoolReplaced = counter("mempool_replaced", "Transactions replaced in the mempool.")
	u.mempoolReplacedVbytes = counter("mempool_replaced_vbytes", "Virtual bytes of replaced transactions.")
	u.mempoolRejected = counterVec("mempool_rejected", "Transactions rejected from the mempool, by reason.", "reason")
	u.mempoolRemoved = counterVec("mempool_removed", "Transactions removed from the mempool, by reason.", "reason")

	u.blockHeight = gauge("validation_block_connected_latest_height", "Height of the latest connected block.")
	u.blockConnTime = gauge("validation_block_connected_latest_connection_time", "Connection time of the latest connected block, µs.")
	u.blockSigops = gauge("validation_block_connected_latest_sigops", "Sigops of the latest connected block.")
	u.blockInputs = gauge("validation_block_connected_latest_inputs", "Inputs of the latest connected block.")
	u.blockTxs = gauge("validation_block_connected_latest_transactions", "Transactions of the latest connected block.")
	u.blockConnTimeTotal = counter("validation_block_connected_connection_time", "Sum of block connection times, µs.")

	u.rm = newRPCMetrics(f)

	u.p2pPing = gauge("p2pextractor_ping_duration_nanoseconds", "Latest time (ns) the node took to answer the p2p-extractor's ping.")
	u.p2pAddrAddresses = counterVec("p2pextractor_addrv2relay_addresses", "Addresses the node relayed to the p2p-extractor, by network.", "network")
	u.p2pAddrMessages = counter("p2pextractor_addrv2relay_messages", "addrv2 messages the node sent to the p2p-extractor.")
	u.p2pAddrMessagesLE10 = counter("p2pextractor_addrv2relay_messages_10_or_less_entries", "addrv2 messages with at most 10 entries (the ones Core relays on) the node sent to the p2p-extractor.")
	u.p2pAddrSize = gauge("p2pextractor_addrv2relay_size", "Entries of the latest addrv2 message the node sent to the p2p-extractor.")
	u.p2pInvItems = counterVec("p2pextractor_invs_items", "INV entries the node announced to the p2p-extractor, by type.", "inv_type")
	u.p2pInvMessages = counter("p2pextractor_invs_messages", "INV messages the node sent to the p2p-extractor.")
	u.p2pInvSize = gauge("p2pextractor_invs_size", "Entries of the latest INV message the node sent to the p2p-extractor.")
	u.p2pFeefilterMessages = counter("p2pextractor_feefilter_messages", "feefilter messages the node sent to the p2p-extractor.")
	u.p2pFeefilterLast = gauge("p2pextractor_feefilter_last", "Latest feefilter value (sat/kvB) the node sent to the p2p-extractor.")

	u.logEvents = counterVec("log_events", "debug.log lines by category and level.", "category", "level")
	u.logBytes = counterVec("log_bytes", "debug.log bytes by category and level (0 unless the log extractor reports line sizes).", "category", "level")
	u.logBlockConnected = counter("log_block_connected_events", "BlockConnected log lines.")
	u.logBlockChecked = counter("log_block_checked_events", "BlockChecked log lines.")
	u.logMutated = counterVec("log_mutated_blocks", "BlockChecked log lines with a mutated-block state, by state.", "status")

	u.ipcTipHeight = gauge("ipc_block_tip_height", "Height of the chain tip reported over IPC.")
	return u
}

func (u *upstream) start(t int64) {
	u.runtimeStart.Set(float64(floorDiv(t, 1000)))
}

// connTypeLabel renders meta.conn_type as peer-observer does: the enum's
// number. A number this build's enum lacks is kept by protobuf as an
// unknown field; it is read back from there, so the label matches.
func connTypeNumber(meta *pb.Metadata) int64 {
	if meta == nil {
		return 0
	}
	if meta.ConnType != nil {
		return int64(*meta.ConnType)
	}
	if v, ok := unknownVarint(meta, 3); ok {
		return int64(int32(v))
	}
	return 0
}

// unknownVarint returns the last varint field num in m's unknown fields.
func unknownVarint(m protoreflect.ProtoMessage, num protowire.Number) (uint64, bool) {
	b := m.ProtoReflect().GetUnknown()
	var v uint64
	found := false
	for len(b) > 0 {
		n, t, l := protowire.ConsumeTag(b)
		if l < 0 {
			return v, found
		}
		b = b[l:]
		if t == protowire.VarintType {
			x, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return v, found
			}
			if n == num {
				v, found = x, true
			}
			b = b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, t, b)
		if l < 0 {
			return v, found
		}
		b = b[l:]
	}
	return v, found
}

func (u *upstream) message(c *evctx, m *pb.MessageEvent) {
	meta := m.GetMeta()
	inbound := meta.GetInbound()
	di := b2i(inbound)
	dir := direction(inbound)
	k := msgKey{command: meta.GetCommand(), connType: connTypeNumber(meta), inbound: inbound}
	p, ok := u.msgCache[k]
	if !ok {
		ct := strconv.FormatInt(k.connType, 10)
		p = counterPair{u.msgCount.WithLabelValues(k.command, ct, dir), u.msgBytes.WithLabelValues(k.command, ct, dir)}
		u.msgCache[k] = p
	}
	size := float64(meta.GetSize())
	p.count.Inc()
	p.bytes.Add(size)

	ip := ipFromAddr(meta.GetAddr())
	ll := u.lists.LinkingLion.ContainsString(ip)
	if ll {
		lk := msgKey{command: k.command, inbound: inbound}
		lp, ok := u.llCache[lk]
		if !ok {
			lp = counterPair{u.llCount.WithLabelValues(k.command, dir), u.llBytes.WithLabelValues(k.command, dir)}
			u.llCache[lk] = lp
		}
		lp.count.Inc()
		lp.bytes.Add(size)
	}

	switch x := m.Msg.(type) {
	case *pb.MessageEvent_Addr:
		u.addrEntries(c, msgAddr, inbound, x.Addr.GetAddresses(), ip)
	case *pb.MessageEvent_Addrv2:
		u.addrEntries(c, msgAddrv2, inbound, x.Addrv2.GetAddresses(), ip)
	case *pb.MessageEvent_Emptyaddrv2:
		u.addrv2Empty.WithLabelValues(dir, ip).Inc()
	case *pb.MessageEvent_Inv:
		u.inv(di, x.Inv.GetItems())
	case *pb.MessageEvent_Ping:
		if inbound {
			u.pingValue.WithLabelValues(pingClass(x.Ping.GetValue())).Inc()
		}
	case *pb.MessageEvent_Oldping:
		if inbound {
			u.oldpingSubnet.WithLabelValues(subnet(ip)).Inc()
		}
	case *pb.MessageEvent_Version:
		if inbound {
			ua := x.Version.GetUserAgent()
			if ll {
				ua = "LinkingLion"
			}
			u.versionUA.WithLabelValues(ua).Inc()
			if ua == privateBroadcastUserAgent {
				u.privateBroadcast.Inc()
			}
		}
	case *pb.MessageEvent_Feefilter:
		u.feefilterFeerate.WithLabelValues(dir, strconv.FormatInt(x.Feefilter.GetFee(), 10)).Inc()
	case *pb.MessageEvent_Reject:
		if inbound {
			r := x.Reject
			u.rejectMessage.WithLabelValues(r.GetRejectedCommand(), rejectReason(r)).Inc()
		}
	}
}

func pingClass(v uint64) string {
	switch {
	case v == 0:
		return "0"
	case v <= 0xff:
		return "u8"
	case v <= 0xffff:
		return "u16"
	case v <= 0xffffffff:
		return "u32"
	}
	return "u64"
}

var rejectReasonNames = map[pb.Reject_RejectReason]string{
	pb.Reject_MALFORMED: "Malformed", pb.Reject_INVALID: "Invalid", pb.Reject_OBSOLETE: "Obsolete",
	pb.Reject_DUPLICATE: "Duplicate", pb.Reject_NONSTANDARD: "NonStandard", pb.Reject_DUST: "Dust",
	pb.Reject_FEE: "Fee", pb.Reject_CHECKPOINT: "Checkpoint",
}

// rejectReason names the reason as peer-observer does; a number outside
// the enum (kept by protobuf among the unknown fields) is "unknown".
func rejectReason(r *pb.Reject) string {
	if r != nil && r.Reason == nil {
		if _, ok := unknownVarint(r, 2); ok {
			return "unknown"
		}
	}
	if n, ok := rejectReasonNames[r.GetReason()]; ok {
		return n
	}
	return "unknown"
}

// addrNetwork returns peer-observer's network name of an address entry
// and the address as text ("" and false when the entry has none).
func addrNetwork(a *pb.Address) (network, host string, ok bool) {
	switch x := a.GetAddress().(type) {
	case *pb.Address_Ipv4:
		return "IPv4", x.Ipv4, true
	case *pb.Address_Ipv6:
		return "IPv6", x.Ipv6, true
	case *pb.Address_Torv2:
		return "TorV2", x.Torv2, true
	case *pb.Address_Torv3:
		return "TorV3", x.Torv3, true
	case *pb.Address_I2P:
		return "I2P", x.I2P, true
	case *pb.Address_Cjdns:
		return "CJDNS", x.Cjdns, true
	case *pb.Address_Unknown:
		return "Unknown", fmt.Sprintf("id=%d, bytes=%x", x.Unknown.GetId(), x.Unknown.GetAddress()), true
	}
	return "", "", false
}

func (u *upstream) addrEntries(c *evctx, mi int, inbound bool, addrs []*pb.Address, senderIP string) {
	di := b2i(inbound)
	dir := direction(inbound)
	u.addrAddresses[mi].WithLabelValues(dir).Observe(float64(len(addrs)))
	if u.addrOffset[mi][di][0] == nil {
		u.addrOffset[mi][di][1] = u.addrOffsetVec[mi].WithLabelValues(dir, "future")
		u.addrOffset[mi][di][0] = u.addrOffsetVec[mi].WithLabelValues(dir, "past")
	}
	sec := floorDiv(c.t, 1000)
	senderSubnet := ""
	for _, a := range addrs {
		off := sec - int64(a.GetTimestamp())
		if off >= 0 {
			u.addrOffset[mi][di][0].Observe(float64(off))
		} else {
			u.addrOffset[mi][di][1].Observe(float64(-off))
		}
		svc := a.GetServices()
		for bit := 0; bit < 64; bit++ {
			if svc&(1<<bit) != 0 {
				if u.addrServiceBits[mi][di] == nil {
					u.addrServiceBits[mi][di] = u.addrServiceBitsVec[mi].WithLabelValues(dir)
				}
				u.addrServiceBits[mi][di].Observe(float64(bit))
			}
		}
		sk := servicesKey{mi, inbound, svc}
		sc, ok := u.servicesCache[sk]
		if !ok {
			sc = u.addrServices[mi].WithLabelValues(dir, strconv.FormatUint(svc, 10))
			u.servicesCache[sk] = sc
		}
		sc.Inc()

		network, host, ok := addrNetwork(a)
		if !ok {
			continue
		}
		if host == senderIP {
			u.selfAnn.WithLabelValues(network, dir).Inc()
		} else if network == "IPv4" || network == "IPv6" {
			if senderSubnet == "" {
				senderSubnet = subnet(senderIP)
			}
			if subnet(host) == senderSubnet {
				u.subnetAnn.WithLabelValues(network, dir).Inc()
			}
		}
	}
}

func (u *upstream) inv(di int, items []*pb.InventoryItem) {
	dir := direction(di == 1)
	var counts [numInvTypes]int
	kinds := 0
	for _, it := range items {
		t := invType(it)
		if counts[t] == 0 {
			kinds++
		}
		counts[t]++
	}
	for t, n := range counts {
		if n == 0 {
			continue
		}
		c := u.invEntriesCache[di][t]
		if c == nil {
			c = u.invEntries.WithLabelValues(dir, invTypeNames[t])
			u.invEntriesCache[di][t] = c
		}
		c.Add(float64(n))
	}
	if u.invHist[di] == nil {
		u.invHist[di] = u.invHistVec.WithLabelValues(dir)
	}
	u.invHist[di].Observe(float64(len(items)))
	if kinds == 1 {
		if u.invHomo[di] == nil {
			u.invHomo[di] = u.invHomoVec.WithLabelValues(dir)
		}
		u.invHomo[di].Inc()
	} else {
		if u.invHetero[di] == nil {
			u.invHetero[di] = u.invHeteroVec.WithLabelValues(dir)
		}
		u.invHetero[di].Inc()
	}
	if di == 0 && (counts[invTx] > 35 || counts[invWTx] > 35) {
		u.invLarge.Inc()
	}
}

func (u *upstream) connection(c *evctx, ce *pb.ConnectionEvent) {
	switch x := ce.Event.(type) {
	case *pb.ConnectionEvent_Inbound:
		conn := x.Inbound.GetConn()
		ip := parseIP(ipFromAddr(conn.GetAddr()))
		u.connInbound.Inc()
		if u.lists.TorExit.Contains(ip) {
			u.connTor.Inc()
		}
		if u.lists.GmaxBan.Contains(ip) {
			u.connGmax.Inc()
		}
		if u.lists.MoneroBan.Contains(ip) {
			u.connMonero.Inc()
		}
		if u.lists.LinkingLion.Contains(ip) {
			u.connLinkingLion.Inc()
		}
		u.connInboundNet.WithLabelValues(strconv.FormatUint(uint64(conn.GetNetwork()), 10)).Inc()
		u.connInboundCurrent.Set(float64(x.Inbound.GetExistingConnections()))
	case *pb.ConnectionEvent_Outbound:
		conn := x.Outbound.GetConn()
		u.connOutbound.Inc()
		u.connOutboundNet.WithLabelValues(strconv.FormatUint(uint64(conn.GetNetwork()), 10)).Inc()
		u.connOutboundCurrent.Set(float64(x.Outbound.GetExistingConnections()))
	case *pb.ConnectionEvent_Closed:
		u.connClosed.Inc()
		age := floorDiv(c.t, 1000) - int64(x.Closed.GetTimeEstablished())
		if age > 0 {
			u.connClosedAge.Add(float64(age))
		}
		u.connClosedNet.WithLabelValues(strconv.FormatUint(uint64(x.Closed.GetConn().GetNetwork()), 10)).Inc()
	case *pb.ConnectionEvent_InboundEvicted:
		u.connEvicted.Inc()
	case *pb.ConnectionEvent_Misbehaving:
		m := x.Misbehaving
		u.connMisbehaving.WithLabelValues(strconv.FormatUint(m.GetId(), 10), m.GetMessage()).Inc()
		u.connMisbehavingReason.WithLabelValues(m.GetMessage()).Inc()
	}
}

func (u *upstream) addrmanEvent(a *pb.AddrmanEvent) {
	switch x := a.Event.(type) {
	case *pb.AddrmanEvent_New:
		u.addrmanNewInsert.WithLabelValues(strconv.FormatBool(x.New.GetInserted())).Inc()
	case *pb.AddrmanEvent_Tried:
		u.addrmanTriedInsert.Inc()
	}
}

func (u *upstream) mempool(me *pb.MempoolEvent) {
	switch x := me.Event.(type) {
	case *pb.MempoolEvent_Added:
		u.mempoolAdded.Inc()
		if v := x.Added.GetVsize(); v > 0 {
			u.mempoolAddedVbytes.Add(float64(v))
		}
	case *pb.MempoolEvent_Removed:
		u.mempoolRemoved.WithLabelValues(x.Removed.GetReason()).Inc()
	case *pb.MempoolEvent_Replaced:
		u.mempoolReplaced.Inc()
		if v := x.Replaced.GetReplacedVsize(); v > 0 {
			u.mempoolReplacedVbytes.Add(float64(v))
		}
	case *pb.MempoolEvent_Rejected:
		u.mempoolRejected.WithLabelValues(x.Rejected.GetReason()).Inc()
	}
}

func (u *upstream) validation(v *pb.ValidationEvent) {
	b := v.GetBlockConnected()
	if b == nil {
		return
	}
	us := b.GetConnectionTime() / 1000
	u.blockHeight.Set(float64(b.GetHeight()))
	u.blockConnTime.Set(float64(us))
	u.blockConnTimeTotal.Add(float64(us))
	u.blockSigops.Set(float64(b.GetSigops()))
	u.blockInputs.Set(float64(b.GetInputs()))
	u.blockTxs.Set(float64(b.GetTransactions()))
}

func (u *upstream) p2pExtractor(p *pb.P2P) {
	switch x := p.P2PEvent.(type) {
	case *pb.P2P_PingDuration:
		u.p2pPing.Set(float64(x.PingDuration.GetDuration()))
	case *pb.P2P_AddressAnnouncement:
		addrs := x.AddressAnnouncement.GetAddresses()
		u.p2pAddrMessages.Inc()
		if len(addrs) <= 10 {
			u.p2pAddrMessagesLE10.Inc()
		}
		u.p2pAddrSize.Set(float64(len(addrs)))
		byNet := map[string]int{}
		for _, a := range addrs {
			if n, _, ok := addrNetwork(a); ok {
				byNet[n]++
			}
		}
		for n, v := range byNet {
			u.p2pAddrAddresses.WithLabelValues(n).Add(float64(v))
		}
	case *pb.P2P_InventoryAnnouncement:
		items := x.InventoryAnnouncement.GetInventory()
		u.p2pInvMessages.Inc()
		u.p2pInvSize.Set(float64(len(items)))
		var counts [numInvTypes]int
		for _, it := range items {
			counts[invType(it)]++
		}
		for t, n := range counts {
			if n > 0 {
				u.p2pInvItems.WithLabelValues(invTypeNames[t]).Add(float64(n))
			}
		}
	case *pb.P2P_FeefilterAnnouncement:
		u.p2pFeefilterMessages.Inc()
		u.p2pFeefilterLast.Set(float64(x.FeefilterAnnouncement))
	}
}

// Log levels of the 2026 log extractor (log_extractor.log field 7, not in
// this build's schema: read from the unknown fields). 0, the default, is
// info.
var logLevelNames = []string{"info", "warning", "error", "debug", "trace"}

// mutatedStates are the BlockChecked states that mean a mutated block.
var mutatedStates = map[string]bool{
	"bad-txnmrklroot":          true,
	"bad-txns-duplicate":       true,
	"bad-witness-nonce-size":   true,
	"bad-witness-merkle-match": true,
	"unexpected-witness":       true,
}

func logCategory(l *pb.Log) string {
	return strings.ToLower(l.GetCategory().String())
}

func (u *upstream) log(c *evctx, l *pb.Log) {
	cat := logCategory(l)
	level := "info"
	if v, ok := unknownVarint(l, 7); ok && v < uint64(len(logLevelNames)) {
		level = logLevelNames[v]
	}
	u.logEvents.WithLabelValues(cat, level).Inc()
	bytes, _ := unknownVarint(l, 8)
	u.logBytes.WithLabelValues(cat, level).Add(float64(bytes))
	switch x := l.LogEvent.(type) {
	case *pb.Log_BlockConnectedLog:
		u.logBlockConnected.Inc()
	case *pb.Log_BlockCheckedLog:
		u.logBlockChecked.Inc()
		if st := x.BlockCheckedLog.GetState(); mutatedStates[st] {
			u.logMutated.WithLabelValues(st).Inc()
		}
	}
}

func (u *upstream) ipc(i *pb.Ipc) {
	if bt := i.GetBlockTip(); bt != nil {
		u.ipcTipHeight.Set(float64(bt.GetHeight()))
	}
}
