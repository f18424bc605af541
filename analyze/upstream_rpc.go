package analyze

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/peertape/peertape/proto/pb"
)

// rpcMetrics are peer-observer's rpc_* metrics, driven by the RPC
// extractor's polls.
type rpcMetrics struct {
	// getpeerinfo
	listGmax, listMonero, listTor, listLL, listLLPre2026 prometheus.Gauge
	listBitprojects                                      *prometheus.GaugeVec
	addrRatelimitedPeers, addrRatelimitedTotal           prometheus.Gauge
	addrProcessedTotal                                   prometheus.Gauge
	timeoffsetPlus10s, timeoffsetMinus10s                prometheus.Gauge
	hbTo, hbFrom, numPeers, addrRelayEnabled             prometheus.Gauge
	inflightPeers, inflightHeights, pingWait5s           prometheus.Gauge
	byTransport, byNetwork, byConnType, byProtocol, byAS *prometheus.GaugeVec
	pingMedian, pingMean, minPingMedian, minPingMean     prometheus.Gauge
	sub1satvb, diversity                                 prometheus.Gauge
	invSum, invMax, invMedian, invMean, invMin           prometheus.Gauge
	cpuSum, cpuMax, cpuMedian, cpuMean, cpuMin           prometheus.Gauge

	// getmempoolinfo
	mpLoaded, mpCount, mpFees, mpVbyte, mpUsage, mpMax prometheus.Gauge
	mpMinFee, mpMinRelay, mpIncremental                prometheus.Gauge

	uptime, netRecv, netSent                                            prometheus.Gauge
	memUsed, memFree, memTotal, memLocked, memChunksUsed, memChunksFree prometheus.Gauge

	addrmanInfo *prometheus.GaugeVec

	// getchaintxstats
	ctxTxCount, ctxHeight, ctxBlocks, ctxWindowTxs, ctxInterval, ctxRate prometheus.Gauge

	// getnetworkinfo
	niVersion, niProtocol, niTimeOffset, niConns, niConnsIn, niConnsOut prometheus.Gauge
	niActive, niRelayFee, niIncrementalFee, niWarnings, niLocalAddrs    prometheus.Gauge
	niNetworks                                                          *prometheus.GaugeVec

	// getblockchaininfo
	bcBlocks, bcHeaders, bcDifficulty, bcProgress, bcIBD, bcSize prometheus.Gauge
	bcPruned, bcPruneHeight, bcPruneTarget, bcWarnings           prometheus.Gauge

	// getorphantxs
	orCount, orBytes, orVsize, orWeight, orFromMean, orFromMin, orFromMax prometheus.Gauge
	orAddedBytes, orAddedCount, orRemovedBytes, orRemovedCount            prometheus.Counter

	// getrawaddrman
	ramPorts, ramServiceBits, ramServices                           *prometheus.GaugeVec
	ramDistinctASNs, ramDistinctSources, ramDistinctSourceASN       *prometheus.GaugeVec
	ramAdded, ramReplaced, ramChangedServices, ramChangedTimestamps *prometheus.CounterVec
	estimateSmartFee                                                *prometheus.GaugeVec
}

func newRPCMetrics(f promauto.Factory) rpcMetrics {
	g := func(name, help string) prometheus.Gauge {
		return f.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	gv := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return f.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	c := func(name, help string) prometheus.Counter {
		return f.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		return f.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	const pi = "rpc_peer_info_"
	var m rpcMetrics
	m.listGmax = g(pi+"list_peers_gmax_ban", "Connected peers on gmax's ban list.")
	m.listMonero = g(pi+"list_peers_monero_ban", "Connected peers on the Monero ban list.")
	m.listTor = g(pi+"list_peers_tor_exit", "Connected peers that are Tor exit nodes.")
	m.listLL = g(pi+"list_peers_linkinglion", "Connected peers at LinkingLion addresses.")
	m.listLLPre2026 = g(pi+"list_peers_linkinglion_pre2026", "Connected peers at LinkingLion's pre-2026 addresses.")
	m.listBitprojects = gv(pi+"list_peers_bitprojects", "Connected peers at bitprojects addresses, by direction.", "direction")
	m.addrRatelimitedPeers = g(pi+"addr_ratelimited_peers", "Peers with at least one address rate-limited (Core #22387).")
	m.addrRatelimitedTotal = g(pi+"addr_ratelimited_total", "Addresses rate-limited, summed over connected peers.")
	m.addrProcessedTotal = g(pi+"addr_processed_total", "Addresses processed, summed over connected peers.")
	m.timeoffsetPlus10s = g(pi+"timeoffset_plus10s", "Peers with a time offset above 10 s.")
	m.timeoffsetMinus10s = g(pi+"timeoffset_minus10s", "Peers with a time offset below -10 s.")
	m.hbTo = g(pi+"bip152_highbandwidth_to", "Peers we selected as high-bandwidth compact block peers.")
	m.hbFrom = g(pi+"bip152_highbandwidth_from", "Peers that selected us as high-bandwidth compact block peer.")
	m.numPeers = g(pi+"num_peers", "Connected peers.")
	m.addrRelayEnabled = g(pi+"addr_relay_enabled_peers", "Peers we relay addresses with.")
	m.inflightPeers = g(pi+"inflight_block_peers", "Peers with blocks in flight to us.")
	m.inflightHeights = g(pi+"inflight_distinct_blocks_heights", "Distinct heights of blocks in flight.")
	m.pingWait5s = g(pi+"ping_wait_larger_5_seconds_block_peers", "Peers whose ping has been outstanding for more than 5 s.")
	m.byTransport = gv(pi+"transport_protocol_type_peers", "Peers by transport protocol (v1, v2).", "transport_protocol_type")
	m.byNetwork = gv(pi+"network_peers", "Peers by network.", "network")
	m.byConnType = gv(pi+"connection_type_peers", "Peers by connection type.", "connection_type")
	m.byProtocol = gv(pi+"protocol_version_peers", "Peers by protocol version.", "protocol_version")
	m.byAS = gv(pi+"asn_peers", "Peers by AS number (peers not mapped to an AS are left out).", "ASN")
	m.pingMedian = g(pi+"ping_median", "Median ping of connected peers, ms.")
	m.pingMean = g(pi+"ping_mean", "Mean ping of connected peers, ms.")
	m.minPingMedian = g(pi+"minping_median", "Median minimum ping of connected peers, ms.")
	m.minPingMean = g(pi+"minping_mean", "Mean minimum ping of connected peers, ms.")
	m.sub1satvb = g(pi+"sub1satvb_relay", "Peers relaying transactions below 1 sat/vB that have exchanged tx messages.")
	m.diversity = g(pi+"connection_divserity_inbound_ipv4", "Distinct /16 subnets of inbound IPv4 peers divided by inbound IPv4 peers.")
	m.invSum = g(pi+"invtosend_sum", "Sum of inv_to_send over transaction-relaying peers.")
	m.invMax = g(pi+"invtosend_max", "Largest inv_to_send of a transaction-relaying peer.")
	m.invMedian = g(pi+"invtosend_median", "Median inv_to_send of transaction-relaying peers.")
	m.invMean = g(pi+"invtosend_mean", "Mean inv_to_send of transaction-relaying peers.")
	m.invMin = g(pi+"invtosend_min", "Smallest inv_to_send of a transaction-relaying peer.")
	m.cpuSum = g(pi+"cpuload_sum", "Sum of cpu_load over peers.")
	m.cpuMax = g(pi+"cpuload_max", "Largest cpu_load of a peer.")
	m.cpuMedian = g(pi+"cpuload_median", "Median cpu_load of peers.")
	m.cpuMean = g(pi+"cpuload_mean", "Mean cpu_load of peers.")
	m.cpuMin = g(pi+"cpuload_min", "Smallest cpu_load of a peer.")

	const mp = "rpc_mempoolinfo_"
	m.mpLoaded = g(mp+"mempool_loaded", "1 once the persisted mempool was loaded.")
	m.mpCount = g(mp+"transaction_count", "Transactions in the mempool.")
	m.mpFees = g(mp+"transaction_fees", "Total fees in the mempool, BTC.")
	m.mpVbyte = g(mp+"transaction_vbyte", "Total virtual size of the mempool.")
	m.mpUsage = g(mp+"memory_usage", "Memory the mempool uses, bytes.")
	m.mpMax = g(mp+"memory_max", "Mempool memory limit, bytes.")
	m.mpMinFee = g(mp+"min_mempool_feerate", "mempoolminfee, BTC/kvB.")
	m.mpMinRelay = g(mp+"min_relay_tx_feerate", "minrelaytxfee, BTC/kvB.")
	m.mpIncremental = g(mp+"incremental_relay_feerate", "incrementalrelayfee, BTC/kvB.")

	m.uptime = g("rpc_uptime", "Node uptime, seconds.")
	m.netRecv = g("rpc_nettotals_total_bytes_received", "Bytes the node received.")
	m.netSent = g("rpc_nettotals_total_bytes_sent", "Bytes the node sent.")
	const mi = "rpc_memoryinfo_locked_"
	m.memUsed = g(mi+"used", "Locked memory in use, bytes.")
	m.memFree = g(mi+"free", "Locked memory free in the arenas, bytes.")
	m.memTotal = g(mi+"total", "Locked memory managed, bytes.")
	m.memLocked = g(mi+"locked", "Memory successfully locked, bytes.")
	m.memChunksUsed = g(mi+"chunks_used", "Locked memory chunks in use.")
	m.memChunksFree = g(mi+"chunks_free", "Locked memory chunks free.")
	m.addrmanInfo = gv("rpc_addrmaninfo", "Addrman entries by network and table (new, tried, total).", "network", "table")

	const ct = "rpc_chaintxstats_"
	m.ctxTxCount = g(ct+"tx_count", "Transactions in the chain.")
	m.ctxHeight = g(ct+"window_final_block_height", "Height of the last block of the getchaintxstats window.")
	m.ctxBlocks = g(ct+"window_block_count", "Blocks in the getchaintxstats window.")
	m.ctxWindowTxs = g(ct+"window_tx_count", "Transactions in the getchaintxstats window.")
	m.ctxInterval = g(ct+"window_interval", "Time span of the getchaintxstats window, seconds.")
	m.ctxRate = g(ct+"tx_rate", "Transactions per second over the getchaintxstats window.")

	const ni = "rpc_networkinfo_"
	m.niVersion = g(ni+"version", "Node version number.")
	m.niProtocol = g(ni+"protocol_version", "Node protocol version.")
	m.niTimeOffset = g(ni+"time_offset", "Node time offset, seconds.")
	m.niConns = g(ni+"connections", "Connections.")
	m.niConnsIn = g(ni+"connections_in", "Inbound connections.")
	m.niConnsOut = g(ni+"connections_out", "Outbound connections.")
	m.niActive = g(ni+"network_active", "1 while P2P networking is active.")
	m.niRelayFee = g(ni+"relay_fee", "Minimum relay fee, BTC/kvB.")
	m.niIncrementalFee = g(ni+"incremental_fee", "Incremental relay fee, BTC/kvB.")
	m.niWarnings = g(ni+"warnings", "Number of network warnings.")
	m.niLocalAddrs = g(ni+"local_addresses_count", "Local addresses the node announces.")
	m.niNetworks = gv(ni+"networks", "Per network: limited and reachable (1 or 0).", "network", "property")

	const bc = "rpc_blockchaininfo_"
	m.bcBlocks = g(bc+"blocks", "Height of the best validated block.")
	m.bcHeaders = g(bc+"headers", "Height of the best header.")
	m.bcDifficulty = g(bc+"difficulty", "Current difficulty.")
	m.bcProgress = g(bc+"verification_progress", "Estimated verification progress, 0 to 1.")
	m.bcIBD = g(bc+"initial_block_download", "1 during initial block download.")
	m.bcSize = g(bc+"size_on_disk", "Block and undo files on disk, bytes.")
	m.bcPruned = g(bc+"pruned", "1 when pruning is on.")
	m.bcPruneHeight = g(bc+"prune_height", "Lowest height with a complete block stored.")
	m.bcPruneTarget = g(bc+"prune_target_size", "Pruning target, bytes.")
	m.bcWarnings = g(bc+"warnings", "Number of chain warnings.")

	const or = "rpc_getorphantxs_"
	m.orCount = g(or+"count", "Orphan transactions.")
	m.orBytes = g(or+"bytes", "Size of the orphan transactions, bytes.")
	m.orVsize = g(or+"vsize", "Virtual size of the orphan transactions.")
	m.orWeight = g(or+"weight", "Weight of the orphan transactions.")
	m.orFromMean = g(or+"from_mean", "Mean announcing peers per orphan (0 without orphans).")
	m.orFromMin = g(or+"from_min", "Fewest announcing peers of an orphan (0 without orphans).")
	m.orFromMax = g(or+"from_max", "Most announcing peers of an orphan.")
	m.orAddedBytes = c(or+"added_bytes", "Bytes of orphans seen for the first time, from successive polls.")
	m.orAddedCount = c(or+"added_count", "Orphans seen for the first time, from successive polls.")
	m.orRemovedBytes = c(or+"removed_bytes", "Bytes of orphans gone since the previous poll.")
	m.orRemovedCount = c(or+"removed_count", "Orphans gone since the previous poll.")

	const ra = "rpc_getrawaddrman_"
	m.ramPorts = gv(ra+"ports", "Addrman entries by table and port.", "table", "port")
	m.ramServiceBits = gv(ra+"service_bits", "Addrman entries by table and service bit set (bit index + 1).", "table", "service_bit")
	m.ramServices = gv(ra+"services", "Addrman entries by table and service flags (decimal).", "table", "service")
	m.ramDistinctASNs = gv(ra+"distinct_asns", "Distinct ASNs of addrman entries, by table.", "table")
	m.ramDistinctSources = gv(ra+"distinct_sources", "Distinct sources of addrman entries, by table.", "table")
	m.ramDistinctSourceASN = gv(ra+"distinct_source_asn", "Distinct source ASNs of addrman entries, by table.", "table")
	m.ramAdded = cv(ra+"added_entry", "Addrman positions filled since the previous getrawaddrman, by table.", "table")
	m.ramReplaced = cv(ra+"replaced_entry", "Addrman positions whose address:port changed since the previous getrawaddrman, by table.", "table")
	m.ramChangedServices = cv(ra+"changed_services", "Addrman entries whose services changed, by table.", "table")
	m.ramChangedTimestamps = cv(ra+"changed_timestamps", "Addrman entries whose timestamp changed, by table.", "table")
	m.estimateSmartFee = gv("rpc_estimatesmartfee_feerate", "estimatesmartfee result, sat/vB, by requested target and mode.", "target_block", "mode")
	return m
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (u *upstream) rpc(c *evctx, r *pb.Rpc) {
	m := &u.rm
	switch x := r.RpcEvent.(type) {
	case *pb.Rpc_Uptime:
		m.uptime.Set(float64(x.Uptime))
	case *pb.Rpc_NetTotals:
		m.netRecv.Set(float64(x.NetTotals.GetTotalBytesReceived()))
		m.netSent.Set(float64(x.NetTotals.GetTotalBytesSent()))
	case *pb.Rpc_MemoryInfo:
		i := x.MemoryInfo
		m.memUsed.Set(float64(i.GetUsed()))
		m.memFree.Set(float64(i.GetFree()))
		m.memTotal.Set(float64(i.GetTotal()))
		m.memLocked.Set(float64(i.GetLocked()))
		m.memChunksUsed.Set(float64(i.GetChunksUsed()))
		m.memChunksFree.Set(float64(i.GetChunksFree()))
	case *pb.Rpc_AddrmanInfo:
		for network, n := range x.AddrmanInfo.GetNetworks() {
			m.addrmanInfo.WithLabelValues(network, "new").Set(float64(n.GetNew()))
			m.addrmanInfo.WithLabelValues(network, "tried").Set(float64(n.GetTried()))
			m.addrmanInfo.WithLabelValues(network, "total").Set(float64(n.GetTotal()))
		}
	case *pb.Rpc_MempoolInfo:
		i := x.MempoolInfo
		m.mpLoaded.Set(boolf(i.GetLoaded()))
		m.mpCount.Set(float64(i.GetSize()))
		m.mpFees.Set(i.GetTotalFee())
		m.mpVbyte.Set(float64(i.GetBytes()))
		m.mpUsage.Set(float64(i.GetUsage()))
		m.mpMax.Set(float64(i.GetMaxMempool()))
		m.mpMinFee.Set(i.GetMempoolminfee())
		m.mpMinRelay.Set(i.GetMinrelaytxfee())
		m.mpIncremental.Set(i.GetIncrementalrelayfee())
	case *pb.Rpc_PeerInfos:
		u.peerInfos(x.PeerInfos.GetInfos())
	case *pb.Rpc_ChainTxStats:
		s := x.ChainTxStats
		if s == nil {
			return
		}
		m.ctxTxCount.Set(float64(s.GetTxCount()))
		m.ctxHeight.Set(float64(s.GetWindowFinalBlockHeight()))
		m.ctxBlocks.Set(float64(s.GetWindowBlockCount()))
		if s.WindowTxCount != nil {
			m.ctxWindowTxs.Set(float64(s.GetWindowTxCount()))
		}
		if s.WindowInterval != nil {
			m.ctxInterval.Set(float64(s.GetWindowInterval()))
		}
		if s.TxRate != nil {
			m.ctxRate.Set(s.GetTxRate())
		}
	case *pb.Rpc_NetworkInfo:
		i := x.NetworkInfo
		m.niVersion.Set(float64(i.GetVersion()))
		m.niProtocol.Set(float64(i.GetProtocolVersion()))
		m.niTimeOffset.Set(float64(i.GetTimeOffset()))
		m.niConns.Set(float64(i.GetConnections()))
		m.niConnsIn.Set(float64(i.GetConnectionsIn()))
		m.niConnsOut.Set(float64(i.GetConnectionsOut()))
		m.niActive.Set(boolf(i.GetNetworkActive()))
		m.niRelayFee.Set(i.GetRelayFee())
		m.niIncrementalFee.Set(i.GetIncrementalFee())
		m.niWarnings.Set(float64(len(i.GetWarnings())))
		m.niLocalAddrs.Set(float64(len(i.GetLocalAddresses())))
		for _, n := range i.GetNetworks() {
			m.niNetworks.WithLabelValues(n.GetName(), "limited").Set(boolf(n.GetLimited()))
			m.niNetworks.WithLabelValues(n.GetName(), "reachable").Set(boolf(n.GetReachable()))
		}
	case *pb.Rpc_BlockchainInfo:
		i := x.BlockchainInfo
		m.bcBlocks.Set(float64(i.GetBlocks()))
		m.bcHeaders.Set(float64(i.GetHeaders()))
		m.bcDifficulty.Set(i.GetDifficulty())
		m.bcProgress.Set(i.GetVerificationprogress())
		m.bcIBD.Set(boolf(i.GetInitialblockdownload()))
		m.bcSize.Set(float64(i.GetSizeOnDisk()))
		m.bcPruned.Set(boolf(i.GetPruned()))
		m.bcPruneHeight.Set(float64(i.GetPruneHeight()))
		m.bcPruneTarget.Set(float64(i.GetPruneTargetSize()))
		m.bcWarnings.Set(float64(len(i.GetWarnings())))
	case *pb.Rpc_OrphanTxs:
		// The diff state is shared with peertape's orphanage analyzer,
		// which calls orphanDiff.
	case *pb.Rpc_Addrman:
		u.rawAddrman(x.Addrman)
	default:
		u.estimateSmartFeeUnknown(r)
	}
}

// peerInfos recomputes the getpeerinfo gauges, as peer-observer does on
// every poll.
func (u *upstream) peerInfos(infos []*pb.PeerInfo) {
	m := &u.rm
	ls := u.lists
	var gmax, monero, tor, ll, llPre, bitIn, bitOut float64
	var ratelimitedPeers, ratelimited, processed, relayEnabled float64
	var plus10, minus10, hbTo, hbFrom, wait5, inflightPeers, sub1 float64
	var pings, minPings []float64
	heights := map[uint64]struct{}{}
	byTransport := map[string]float64{}
	byNetwork := map[string]float64{}
	byConnType := map[string]float64{}
	byProtocol := map[uint32]float64{}
	byAS := map[uint32]float64{}
	ipv4Inbound := 0
	slash16 := map[string]struct{}{}
	var invToSend []uint64
	var cpu []float64
	for _, p := range infos {
		host := ipFromAddr(p.GetAddress())
		ip := parseIP(host)
		if ls.GmaxBan.Contains(ip) {
			gmax++
		}
		if ls.MoneroBan.Contains(ip) {
			monero++
		}
		if ls.TorExit.Contains(ip) {
			tor++
		}
		if ls.LinkingLion.Contains(ip) {
			ll++
		}
		if ls.LinkingLionPre2026.Contains(ip) {
			llPre++
		}
		if ls.Bitprojects.Contains(ip) {
			if p.GetInbound() {
				bitIn++
			} else {
				bitOut++
			}
		}
		if p.GetAddrRateLimited() > 0 {
			ratelimitedPeers++
		}
		ratelimited += float64(p.GetAddrRateLimited())
		processed += float64(p.GetAddrProcessed())
		if p.GetAddrRelayEnabled() {
			relayEnabled++
		}
		if p.GetTimeOffset() < -10 {
			minus10++
		} else if p.GetTimeOffset() > 10 {
			plus10++
		}
		if p.GetPingTime() > 0 {
			pings = append(pings, p.GetPingTime()*1000)
		}
		if p.GetMinimumPing() > 0 {
			minPings = append(minPings, p.GetMinimumPing()*1000)
		}
		if p.GetPingWait() > 5 {
			wait5++
		}
		if p.GetBip152HbTo() {
			hbTo++
		}
		if p.GetBip152HbFrom() {
			hbFrom++
		}
		if len(p.GetInflight()) > 0 {
			inflightPeers++
			for _, h := range p.GetInflight() {
				heights[h] = struct{}{}
			}
		}
		byTransport[p.GetTransportProtocolType()]++
		byNetwork[p.GetNetwork()]++
		byConnType[p.GetConnectionType()]++
		byProtocol[p.GetVersion()]++
		if as := p.GetMappedAs(); as != 0 {
			byAS[as]++
		}
		if p.GetRelayTransactions() && p.GetMinfeefilter() < 0.00001 {
			_, rx := p.GetBytesReceivedPerMessage()["tx"]
			_, tx := p.GetBytesSentPerMessage()["tx"]
			if rx || tx {
				sub1++
			}
		}
		if strings.ToLower(p.GetNetwork()) == "ipv4" && p.GetInbound() {
			if parts := strings.Split(host, "."); len(parts) == 4 {
				ipv4Inbound++
				slash16[parts[0]+"-"+parts[1]] = struct{}{}
			}
		}
		if p.GetRelayTransactions() {
			invToSend = append(invToSend, p.GetInvToSend())
		}
		if p.GetCpuLoad() > 0 {
			cpu = append(cpu, p.GetCpuLoad())
		}
	}
	m.listGmax.Set(gmax)
	m.listMonero.Set(monero)
	m.listTor.Set(tor)
	m.listLL.Set(ll)
	m.listLLPre2026.Set(llPre)
	m.listBitprojects.WithLabelValues("inbound").Set(bitIn)
	m.listBitprojects.WithLabelValues("outbound").Set(bitOut)
	m.addrRatelimitedPeers.Set(ratelimitedPeers)
	m.addrRatelimitedTotal.Set(ratelimited)
	m.addrProcessedTotal.Set(processed)
	m.addrRelayEnabled.Set(relayEnabled)
	m.pingMean.Set(mean(pings))
	m.pingMedian.Set(median(pings))
	m.minPingMean.Set(mean(minPings))
	m.minPingMedian.Set(median(minPings))
	m.pingWait5s.Set(wait5)
	m.timeoffsetPlus10s.Set(plus10)
	m.timeoffsetMinus10s.Set(minus10)
	m.hbTo.Set(hbTo)
	m.hbFrom.Set(hbFrom)
	m.numPeers.Set(float64(len(infos)))
	m.inflightPeers.Set(inflightPeers)
	m.inflightHeights.Set(float64(len(heights)))
	setReset(m.byTransport, byTransport)
	setReset(m.byNetwork, byNetwork)
	setReset(m.byConnType, byConnType)
	setResetU32(m.byProtocol, byProtocol)
	setResetU32(m.byAS, byAS)
	m.sub1satvb.Set(sub1)
	if ipv4Inbound > 0 {
		m.diversity.Set(float64(len(slash16)) / float64(ipv4Inbound))
	}
	if len(invToSend) > 0 {
		var sum uint64
		fs := make([]float64, len(invToSend))
		for i, v := range invToSend {
			sum += v
			fs[i] = float64(v)
		}
		m.invSum.Set(float64(sum))
		m.invMax.Set(float64(slices.Max(invToSend)))
		m.invMin.Set(float64(slices.Min(invToSend)))
		m.invMean.Set(mean(fs))
		m.invMedian.Set(median(fs))
	}
	if len(cpu) > 0 {
		cpu = slices.DeleteFunc(cpu, math.IsNaN)
		slices.Sort(cpu)
		var sum, mx, mn float64
		for _, v := range cpu {
			sum += v
		}
		if len(cpu) > 0 {
			mn, mx = cpu[0], cpu[len(cpu)-1]
		}
		m.cpuSum.Set(sum)
		m.cpuMax.Set(mx)
		m.cpuMin.Set(mn)
		m.cpuMean.Set(mean(cpu))
		m.cpuMedian.Set(median(cpu))
	}
}

func setReset(v *prometheus.GaugeVec, values map[string]float64) {
	v.Reset()
	for k, n := range values {
		v.WithLabelValues(k).Set(n)
	}
}

func setResetU32(v *prometheus.GaugeVec, values map[uint32]float64) {
	v.Reset()
	for k, n := range values {
		v.WithLabelValues(strconv.FormatUint(uint64(k), 10)).Set(n)
	}
}

// orphanSnapshot updates the rpc_getorphantxs_* metrics; added and
// removed come from the diff the orphanage analyzer computed against the
// previous poll.
func (u *upstream) orphanSnapshot(o *pb.OrphanTxs, addedCount, addedBytes, removedCount, removedBytes uint64) {
	m := &u.rm
	var bytes, vsize, weight uint64
	fromMin, fromMax, fromSum := 0, 0, 0
	for i, tx := range o.GetOrphans() {
		bytes += tx.GetBytes()
		vsize += tx.GetVsize()
		weight += tx.GetWeight()
		n := len(tx.GetFrom())
		if i == 0 || n < fromMin {
			fromMin = n
		}
		fromMax = max(fromMax, n)
		fromSum += n
	}
	n := len(o.GetOrphans())
	m.orCount.Set(float64(n))
	m.orBytes.Set(float64(bytes))
	m.orVsize.Set(float64(vsize))
	m.orWeight.Set(float64(weight))
	m.orFromMax.Set(float64(fromMax))
	m.orFromMin.Set(float64(fromMin))
	if n > 0 {
		m.orFromMean.Set(float64(fromSum) / float64(n))
	} else {
		m.orFromMean.Set(0)
	}
	m.orAddedBytes.Add(float64(addedBytes))
	m.orAddedCount.Add(float64(addedCount))
	m.orRemovedBytes.Add(float64(removedBytes))
	m.orRemovedCount.Add(float64(removedCount))
}

// rawAddrman sets the per-snapshot getrawaddrman gauges; the counters
// that need the previous snapshot are set by the addrman analyzer.
func (u *upstream) rawAddrman(a *pb.Addrman) {
	m := &u.rm
	m.ramPorts.Reset()
	m.ramServices.Reset()
	m.ramServiceBits.Reset()
	for _, tbl := range []struct {
		name    string
		buckets map[uint32]*pb.AddrmanBucket
	}{{"new", a.GetNew()}, {"tried", a.GetTried()}} {
		ports := map[uint16]float64{}
		bits := map[int]float64{}
		services := map[uint64]float64{}
		asns := map[uint32]struct{}{}
		sources := map[string]struct{}{}
		sourceASNs := map[uint32]struct{}{}
		for _, b := range tbl.buckets {
			for _, en := range b.GetEntries() {
				ports[uint16(en.GetPort())]++
				svc := en.GetServices()
				for bit := 0; bit < 64; bit++ {
					if svc&(1<<bit) != 0 {
						bits[bit+1]++
					}
				}
				services[svc]++
				asns[en.GetMappedAs()] = struct{}{}
				sources[en.GetSource()] = struct{}{}
				sourceASNs[en.GetSourceMappedAs()] = struct{}{}
			}
		}
		m.ramDistinctASNs.WithLabelValues(tbl.name).Set(float64(len(asns)))
		m.ramDistinctSources.WithLabelValues(tbl.name).Set(float64(len(sources)))
		m.ramDistinctSourceASN.WithLabelValues(tbl.name).Set(float64(len(sourceASNs)))
		for p, n := range ports {
			m.ramPorts.WithLabelValues(tbl.name, strconv.Itoa(int(p))).Set(n)
		}
		for b, n := range bits {
			m.ramServiceBits.WithLabelValues(tbl.name, strconv.Itoa(b)).Set(n)
		}
		for s, n := range services {
			m.ramServices.WithLabelValues(tbl.name, strconv.FormatUint(s, 10)).Set(n)
		}
	}
}

// Fee estimate modes of the 2026 rpc extractor's EstimateSmartFee.
var feeEstimateModes = []string{"UNSET", "ECONOMICAL", "CONSERVATIVE"}

// estimateSmartFeeUnknown handles the 2026 rpc extractor's
// estimate_smart_fee arm (rpc field 12), which this build's schema lacks:
// protobuf keeps it among the unknown fields, and it is read from there.
// Its fields: fee_rate 1 (double, sat/vB, optional), blocks 2,
// requested_blocks 3, mode 4.
func (u *upstream) estimateSmartFeeUnknown(r *pb.Rpc) {
	b := r.ProtoReflect().GetUnknown()
	var body []byte
	found := false
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		v, n := consumeValue(num, typ, b)
		if n < 0 {
			return
		}
		if num == 12 && typ == bytesType {
			body, found = v, true
		}
		b = b[n:]
	}
	if !found {
		return
	}
	var feeRate float64
	var haveFee bool
	var requested, mode uint64
	for len(body) > 0 {
		num, typ, n := consumeTag(body)
		if n < 0 {
			return
		}
		body = body[n:]
		switch {
		case num == 1 && typ == fixed64Type:
			x, n := consumeFixed64(body)
			if n < 0 {
				return
			}
			feeRate, haveFee = math.Float64frombits(x), true
			body = body[n:]
			continue
		case (num == 3 || num == 4) && typ == varintType:
			x, n := consumeVarint(body)
			if n < 0 {
				return
			}
			if num == 3 {
				requested = x
			} else {
				mode = x
			}
			body = body[n:]
			continue
		}
		_, n = consumeValue(num, typ, body)
		if n < 0 {
			return
		}
		body = body[n:]
	}
	if !haveFee || mode >= uint64(len(feeEstimateModes)) {
		return
	}
	u.rm.estimateSmartFee.WithLabelValues(strconv.FormatUint(uint64(uint32(requested)), 10), feeEstimateModes[mode]).Set(feeRate)
}
