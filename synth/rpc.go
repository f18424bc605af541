package synth

import (
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// The RPC extractor polls every 10 s (getpeerinfo, getmempoolinfo, uptime,
// getnettotals, getmemoryinfo, getaddrmaninfo, getnetworkinfo,
// getorphantxs) and every 120 s (getchaintxstats, getblockchaininfo,
// getrawaddrman), one call after the other. Each result is published when
// its call returns, a few milliseconds after the previous one; with
// -debug=rpc the node logs every call.

const nodeUptime = 12*86400 + 7*3600 + 1234 // s, at the start of the stream

func (s *sim) startRPC() {
	r := s.rRPC
	phase := int64(r.intn(10_000))
	var poll func()
	n := 0
	poll = func() {
		calls := []rpcCall{
			{"getpeerinfo", 4, s.rpcPeerInfo},
			{"getmempoolinfo", 1, s.rpcMempoolInfo},
			{"uptime", 0, s.rpcUptime},
			{"getnettotals", 0, s.rpcNetTotals},
			{"getmemoryinfo", 0, s.rpcMemoryInfo},
			{"getaddrmaninfo", 1, s.rpcAddrmanInfo},
			{"getnetworkinfo", 1, s.rpcNetworkInfo},
			{"getorphantxs", 1, s.rpcOrphans},
		}
		if n%12 == 0 {
			calls = append(calls,
				rpcCall{"getchaintxstats", 3, s.rpcChainTxStats},
				rpcCall{"getblockchaininfo", 1, s.rpcBlockchainInfo},
				rpcCall{"getrawaddrman", 40, s.rpcRawAddrman})
		}
		n++
		s.rpcSequence(calls)
		s.after(10_000, poll)
	}
	s.at(s.start+phase, poll)
}

type rpcCall struct {
	method string
	ms     int // typical latency
	result func() *pb.Rpc
}

// rpcSequence runs calls one after the other.
func (s *sim) rpcSequence(calls []rpcCall) {
	if len(calls) == 0 {
		return
	}
	c := calls[0]
	s.log(pb.LogDebugCategory_RPC, "ThreadRPCServer method="+c.method+" user=__cookie__")
	lat := int64(c.ms) + int64(s.rRPC.intn(c.ms+2))
	s.after(lat, func() {
		s.emit(rpcEvent(c.result()))
		s.rpcSequence(calls[1:])
	})
}

func secs(ms int64) int64 { return ms / 1000 }

// rpcPeerInfo is getpeerinfo: one entry per open connection, consistent
// with what the connection and message events said.
func (s *sim) rpcPeerInfo() *pb.Rpc {
	infos := make([]*pb.PeerInfo, 0, len(s.net.peers))
	for _, p := range s.net.peers {
		if p.removed {
			continue
		}
		infos = append(infos, s.peerInfo(p))
	}
	return &pb.Rpc{RpcEvent: &pb.Rpc_PeerInfos{PeerInfos: &pb.PeerInfos{Infos: infos}}}
}

func (s *sim) peerInfo(p *peer) *pb.PeerInfo {
	sent := map[string]uint64{}
	recv := map[string]uint64{}
	for c := range numCmds {
		name := cmdNames[c]
		if c == cmdSendtxrcncl && p.version < 70016 {
			name = "*other*"
		}
		if p.sent[c] > 0 {
			sent[name] += p.sent[c]
		}
		if p.recv[c] > 0 {
			recv[name] += p.recv[c]
		}
	}
	bind := s.addrs.local.coreHost()
	local := ""
	switch {
	case p.kind == pkExtractor:
		bind = "127.0.0.1:" + strconv.Itoa(int(40000+p.id%20000))
	case p.inbound() && p.net == netOnion:
		bind = "127.0.0.1:8334"
	case p.inbound():
		bind = "10.0.1.5:8333"
		if p.net == netIPv4 && p.handshake {
			local = s.addrs.local.hostPort(8333)
		}
	default:
		bind = "10.0.1.5:" + strconv.Itoa(int(30000+p.id%30000))
	}
	network := netNames[p.net]
	if p.kind == pkExtractor {
		network = "not_publicly_routable"
	}
	version, subver := p.version, p.ua
	startH, synced := p.startH, int64(-1)
	if !p.handshake {
		version, subver, startH = 0, "", -1
	} else if p.kind == pkNode || p.kind == pkBlocksOnly || p.kind == pkExtractor {
		synced = int64(s.chain.tip)
		if p.announced > 0 {
			synced = int64(p.announced)
		}
	}
	pingWait := 0.0
	if p.pingStart > 0 {
		pingWait = float64(s.now-p.pingStart) / 1000
	}
	trans := "v1"
	if p.v2 {
		trans = "v2"
	}
	if !p.handshake && p.inbound() {
		trans = "detecting"
	}
	var perms []string
	if p.kind == pkExtractor {
		perms = []string{"noban", "relay", "mempool", "download"}
	}
	mapped := p.a.asn
	return &pb.PeerInfo{
		Id: proto.Uint32(uint32(p.id)), Address: proto.String(p.addr), AddressBind: proto.String(bind),
		AddressLocal: proto.String(local), Network: proto.String(network), MappedAs: proto.Uint32(mapped),
		Services: proto.String(fmt.Sprintf("%016x", p.services)), RelayTransactions: proto.Bool(p.relay),
		LastSend: proto.Int64(secs(p.lastSend)), LastReceived: proto.Int64(secs(p.lastRecv)),
		LastTransaction: proto.Int64(secs(p.lastTx)), LastBlock: proto.Int64(secs(p.lastBlock)),
		BytesSent: proto.Uint64(p.bytesSent), BytesReceived: proto.Uint64(p.bytesRecv),
		ConnectionTime: proto.Int64(secs(p.est)), TimeOffset: proto.Int64(p.offset),
		PingTime: proto.Float64(p.pingTime), MinimumPing: proto.Float64(p.minPing), PingWait: proto.Float64(pingWait),
		Version: proto.Uint32(version), Subversion: proto.String(subver), Inbound: proto.Bool(p.inbound()),
		Bip152HbTo: proto.Bool(p.hbTo), Bip152HbFrom: proto.Bool(p.hbFrom), StartingHeight: proto.Int64(startH),
		SyncedHeaders: proto.Int64(synced), SyncedBlocks: proto.Int64(synced), Inflight: p.inflight,
		AddrRelayEnabled: proto.Bool(p.addrOK && p.handshake), AddrProcessed: proto.Uint64(p.addrProc),
		AddrRateLimited: proto.Uint64(p.addrLim), Permissions: perms, Minfeefilter: proto.Float64(float64(p.feefilter) / 1e8),
		BytesSentPerMessage: sent, BytesReceivedPerMessage: recv, ConnectionType: proto.String(p.ct.coreName()),
		TransportProtocolType: proto.String(trans), InvToSend: proto.Uint64(uint64(len(p.outQ))),
		CpuLoad: proto.Float64(float64(int64(p.cpu*1000)) / 1000),
	}
}

func (s *sim) rpcMempoolInfo() *pb.Rpc {
	m := s.pool
	fees := float64(m.fees+m.bgFee) / 1e8
	return &pb.Rpc{RpcEvent: &pb.Rpc_MempoolInfo{MempoolInfo: &pb.MempoolInfo{
		Loaded: proto.Bool(true), Size: proto.Int64(m.size()), Bytes: proto.Int64(m.bytes()),
		Usage: proto.Int64(m.usage + m.bgUsage), TotalFee: proto.Float64(float64(int64(fees*1e8)) / 1e8),
		MaxMempool: proto.Int64(maxMempool), Mempoolminfee: proto.Float64(m.mempoolMinFee() / 1e5),
		Minrelaytxfee: proto.Float64(minRelay / 1e5), Incrementalrelayfee: proto.Float64(0.00001),
		Unbroadcastcount: proto.Int64(0), Fullrbf: proto.Bool(true)}}}
}

func (s *sim) rpcUptime() *pb.Rpc {
	return &pb.Rpc{RpcEvent: &pb.Rpc_Uptime{Uptime: uint32(nodeUptime + (s.now-s.start)/1000)}}
}

func (s *sim) rpcNetTotals() *pb.Rpc {
	return &pb.Rpc{RpcEvent: &pb.Rpc_NetTotals{NetTotals: &pb.NetTotals{
		TotalBytesReceived: proto.Uint64(s.net.totalRecv), TotalBytesSent: proto.Uint64(s.net.totalSent),
		TimeMillis: proto.Uint64(uint64(s.now)), UploadTarget: &pb.UploadTarget{Timeframe: proto.Uint64(86400),
			Target: proto.Uint64(0), TargetReached: proto.Bool(false), ServeHistoricalBlocks: proto.Bool(true),
			BytesLeftInCycle: proto.Uint64(0), TimeLeftInCycle: proto.Uint64(0)}}}}
}

func (s *sim) rpcMemoryInfo() *pb.Rpc {
	used := uint64(224 + 32*s.rRPC.intn(3))
	return &pb.Rpc{RpcEvent: &pb.Rpc_MemoryInfo{MemoryInfo: &pb.MemoryInfo{Used: proto.Uint64(used), Free: proto.Uint64(65536 - used),
		Total: proto.Uint64(65536), Locked: proto.Uint64(65536), ChunksUsed: proto.Uint64(used / 32), ChunksFree: proto.Uint64(1)}}}
}

func (s *sim) rpcAddrmanInfo() *pb.Rpc {
	nets := map[string]*pb.AddrManInfoNetwork{}
	var all [2]uint64
	for name, c := range s.addrs.counts() {
		nets[name] = &pb.AddrManInfoNetwork{New: proto.Uint64(c[0]), Tried: proto.Uint64(c[1]), Total: proto.Uint64(c[0] + c[1])}
		all[0] += c[0]
		all[1] += c[1]
	}
	for _, name := range netNames[1:] {
		if nets[name] == nil {
			nets[name] = &pb.AddrManInfoNetwork{New: proto.Uint64(0), Tried: proto.Uint64(0), Total: proto.Uint64(0)}
		}
	}
	nets["all_networks"] = &pb.AddrManInfoNetwork{New: proto.Uint64(all[0]), Tried: proto.Uint64(all[1]), Total: proto.Uint64(all[0] + all[1])}
	return &pb.Rpc{RpcEvent: &pb.Rpc_AddrmanInfo{AddrmanInfo: &pb.AddrManInfo{Networks: nets}}}
}

func (s *sim) rpcNetworkInfo() *pb.Rpc {
	in, out := 0, 0
	for _, p := range s.net.peers {
		if p.removed {
			continue
		}
		if p.inbound() {
			in++
		} else {
			out++
		}
	}
	var nets []*pb.NetworkInfoNetwork
	for _, n := range netNames[1:] {
		proxy := ""
		if n == "onion" {
			proxy = "127.0.0.1:9050"
		}
		if n == "i2p" {
			proxy = "127.0.0.1:7656"
		}
		nets = append(nets, &pb.NetworkInfoNetwork{Name: proto.String(n), Limited: proto.Bool(false), Reachable: proto.Bool(true),
			Proxy: proto.String(proxy), ProxyRandomizeCredentials: proto.Bool(proxy != "")})
	}
	return &pb.Rpc{RpcEvent: &pb.Rpc_NetworkInfo{NetworkInfo: &pb.NetworkInfo{
		Version: proto.Int32(290100), Subversion: proto.String(NodeUserAgent), ProtocolVersion: proto.Int32(70016),
		LocalServices: proto.String(fmt.Sprintf("%016x", nodeServices)), LocalServicesNames: []string{"NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"},
		LocalRelay: proto.Bool(true), TimeOffset: proto.Int32(0), Connections: proto.Uint32(uint32(in + out)),
		ConnectionsIn: proto.Uint32(uint32(in)), ConnectionsOut: proto.Uint32(uint32(out)), NetworkActive: proto.Bool(true),
		Networks: nets, RelayFee: proto.Float64(0.00001), IncrementalFee: proto.Float64(0.00001),
		LocalAddresses: []*pb.NetworkInfoLocalAddress{
			{Address: proto.String(s.addrs.local.coreHost()), Port: proto.Uint32(8333), Score: proto.Uint32(uint32(4000 + (s.now-s.start)/600_000))},
			{Address: proto.String(s.addrs.onion.coreHost()), Port: proto.Uint32(8333), Score: proto.Uint32(4)},
		},
		Warnings: []string{}}}}
}

func (s *sim) rpcOrphans() *pb.Rpc {
	list := make([]*pb.OrphanTx, 0, len(s.pool.orphans))
	for _, t := range s.pool.orphans {
		list = append(list, &pb.OrphanTx{Txid: proto.String(hexRev(t.txid)), Wtxid: proto.String(hexRev(t.wtxid)),
			Bytes: proto.Uint64(uint64(len(t.raw))), Vsize: proto.Uint64(uint64(t.vsize)), Weight: proto.Uint64(uint64(t.weight)),
			From: append([]uint64(nil), t.from...)})
	}
	return &pb.Rpc{RpcEvent: &pb.Rpc_OrphanTxs{OrphanTxs: &pb.OrphanTxs{Orphans: list}}}
}

func (s *sim) rpcChainTxStats() *pb.Rpc {
	c := s.chain
	hdr := c.header(c.tip)
	const window = 4320
	return &pb.Rpc{RpcEvent: &pb.Rpc_ChainTxStats{ChainTxStats: &pb.ChainTxStats{
		Time: proto.Uint32(hdr.GetTime()), TxCount: proto.Uint32(uint32(c.chainTx)),
		WindowFinalBlockHash: proto.String(hexRev(c.hash(c.tip))), WindowFinalBlockHeight: proto.Uint32(uint32(c.tip)),
		WindowBlockCount: proto.Uint32(window), WindowTxCount: proto.Uint32(uint32(window * 3600)),
		WindowInterval: proto.Uint32(uint32(window*600 - 3000 + int(c.tip%6000))), TxRate: proto.Float64(float64(window*3600) / float64(window*600-3000+int(c.tip%6000)))}}}
}

func (s *sim) rpcBlockchainInfo() *pb.Rpc {
	c := s.chain
	hdr := c.header(c.tip)
	return &pb.Rpc{RpcEvent: &pb.Rpc_BlockchainInfo{BlockchainInfo: &pb.BlockchainInfo{
		Chain: proto.String("main"), Blocks: proto.Uint32(uint32(c.tip)), Headers: proto.Uint32(uint32(c.tip)),
		Bestblockhash: proto.String(hexRev(c.hash(c.tip))), Difficulty: proto.Float64(difficulty),
		Time: proto.Uint32(hdr.GetTime()), Mediantime: proto.Uint32(hdr.GetTime() - 3100 - uint32(c.tip%900)),
		Verificationprogress: proto.Float64(0.9999987 + float64(c.tip%100)*1e-9), Initialblockdownload: proto.Bool(false),
		Chainwork: proto.String(c.chainwork()), SizeOnDisk: proto.Uint64(c.diskSize), Pruned: proto.Bool(false),
		Warnings: []string{}}}}
}

// rpcRawAddrman is getrawaddrman: every addrman entry by table, bucket and
// position.
func (s *sim) rpcRawAddrman() *pb.Rpc {
	newT := map[uint32]*pb.AddrmanBucket{}
	tried := map[uint32]*pb.AddrmanBucket{}
	for _, a := range s.addrs.entries {
		t := newT
		if a.tried {
			t = tried
		}
		b := t[a.bucket]
		if b == nil {
			b = &pb.AddrmanBucket{Entries: map[uint32]*pb.AddrmanEntry{}}
			t[a.bucket] = b
		}
		src := a.source
		if src == nil {
			src = a
		}
		e := &pb.AddrmanEntry{Address: proto.String(a.coreHost()), Port: proto.Uint32(uint32(a.port)), Network: proto.String(netNames[a.net]),
			Services: proto.Uint64(a.services), Time: proto.Int64(int64(a.time)), Source: proto.String(src.coreHost()),
			SourceNetwork: proto.String(netNames[src.net])}
		if a.asn != 0 {
			e.MappedAs = proto.Uint32(a.asn)
		}
		if src.asn != 0 {
			e.SourceMappedAs = proto.Uint32(src.asn)
		}
		b.Entries[a.pos] = e
	}
	return &pb.Rpc{RpcEvent: &pb.Rpc_Addrman{Addrman: &pb.Addrman{New: newT, Tried: tried}}}
}
