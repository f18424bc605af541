package synth

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// Connection limits of a default Core node: 125 connections, 8 full-relay
// and 2 block-relay-only outbound plus one feeler, the rest inbound.
const (
	maxInbound     = 114
	outboundFull   = 8
	outboundBlocks = 2
)

// network holds the node's connections and drives their life cycles.
type network struct {
	s      *sim
	peers  []*peer // open connections, ordered by id
	nextID uint64
	slots  [128]*peer
	ext    *peer // the p2p-extractor

	inbound, outFull, outBlock int
	totalSent, totalRecv       uint64
	connections                uint64
	spySubnets                 [][3]byte
}

func newNetwork(s *sim) *network {
	n := &network{s: s, nextID: 90_000 + uint64(s.rPeers.intn(50_000))}
	// LinkingLion-style spy networks: a few /24s that keep connecting.
	for _, sn := range [][3]byte{{162, 218, 65}, {209, 222, 252}, {91, 198, 115}, {103, 99, 168}} {
		n.spySubnets = append(n.spySubnets, sn)
	}
	n.totalRecv = 180e9 + uint64(s.rPeers.intn(1e9))
	n.totalSent = 420e9 + uint64(s.rPeers.intn(1e9))
	return n
}

// User agents of inbound full nodes, weighted roughly as on mainnet in
// early 2026.
var nodeAgents = newChoices(
	choice{"/Satoshi:29.0.0/", 18}, choice{"/Satoshi:29.1.0/", 10}, choice{"/Satoshi:30.0.0/", 12},
	choice{"/Satoshi:28.1.0/", 13}, choice{"/Satoshi:28.0.0/", 4}, choice{"/Satoshi:27.1.0/", 7},
	choice{"/Satoshi:27.0.0/", 5}, choice{"/Satoshi:26.0.0/", 4}, choice{"/Satoshi:25.0.0/", 3},
	choice{"/Satoshi:24.0.1/", 2}, choice{"/Satoshi:22.0.0/", 2}, choice{"/Satoshi:0.21.1/", 2},
	choice{"/Satoshi:28.1.0/Knots:20250305/", 6}, choice{"/Satoshi:29.1.0/Knots:20250903/", 5},
	choice{"/btcd:0.24.2/", 2}, choice{"/Satoshi:27.1.0(bitcoin-core-pruned)/", 1},
)

// Spy nodes and crawlers present themselves with old or odd agents.
var spyAgents = newChoices(
	choice{"/Satoshi:0.16.3/", 10}, choice{"/Satoshi:0.18.1/", 6}, choice{"/Satoshi:0.20.1/", 8},
	choice{"/Satoshi:0.21.0/", 6}, choice{"/Satoshi:23.0.0/", 4}, choice{"/dsn.tm.kit.edu/bitcoin:0.9.99/", 3},
	choice{"/bitnodes.io:0.3/", 2}, choice{"/Satoshi:25.1.0/", 2}, choice{"", 3},
)

var lightAgents = newChoices(choice{"/bitcoinj:0.16.3/Bitcoin Wallet:10.10/", 3}, choice{"/bitcoinj:0.17.0/", 2},
	choice{"/Neutrino:0.16.0/", 2}, choice{"/WalletWasabi:2.0/", 1})

// protocolVersion is what an agent of that release announces.
func protocolVersion(ua string) uint32 {
	switch {
	case ua == "":
		return 70015
	case len(ua) > 10 && ua[:10] == "/Satoshi:0":
		if ua[:12] >= "/Satoshi:0.2" {
			return 70016
		}
		return 70015
	case len(ua) > 9 && ua[:9] == "/bitcoinj", ua[:4] == "/dsn":
		return 70012
	case ua[:4] == "/bit", ua[:4] == "/Neu":
		return 70015
	}
	return 70016
}

// newPeer makes a peer of the given kind and type with address a (nil:
// generated).
func (n *network) newPeer(kind peerKind, ct connType, a *netAddr) *peer {
	s := n.s
	r := s.rPeers
	p := &peer{id: n.nextID, kind: kind, ct: ct, slot: -1, est: s.now, cpu: r.lognormal(0.15, 0.8), offset: int64(r.between(-1, 1))}
	n.nextID++
	if a == nil {
		net := uint32(netIPv4)
		switch x := r.float(); {
		case kind == pkChurn || kind == pkSpy:
			net = netIPv4
			if x < 0.06 {
				net = netIPv6
			}
		case x < 0.12:
			net = netOnion
		case x < 0.27:
			net = netIPv6
		case x < 0.29:
			net = netI2P
		case x < 0.30:
			net = netCJDNS
		}
		a = randomAddr(r, net)
	}
	p.a = a
	p.net = a.net
	port := a.port
	if ct == ctInbound {
		port = uint16(r.between(32768, 60999))
	}
	switch {
	case ct == ctInbound && a.net == netOnion:
		// Tor inbound connections arrive through the local Tor daemon.
		p.addr = "127.0.0.1:" + strconv.Itoa(int(port))
	case a.net == netI2P:
		p.addr = a.hostPort(0)
	default:
		p.addr = a.hostPort(port)
	}
	switch a.net {
	case netIPv4, netIPv6:
		p.rtt = int64(r.lognormal(70, 0.6)) + 2
	case netCJDNS:
		p.rtt = int64(r.lognormal(140, 0.5)) + 5
	case netOnion:
		p.rtt = int64(r.lognormal(650, 0.5)) + 50
	case netI2P:
		p.rtt = int64(r.lognormal(950, 0.5)) + 80
	}
	p.startH = int64(s.chain.tip)
	switch kind {
	case pkNode, pkBlocksOnly:
		p.ua = nodeAgents.pick(r)
		p.services = a.services
		p.relay = kind == pkNode && ct != ctBlockOnly
		p.addrOK = ct != ctBlockOnly
		p.headers = true
		p.v2 = p.services&0x800 != 0 && ct != ctFeeler && r.chance(0.9)
	case pkLight:
		p.ua = lightAgents.pick(r)
		p.services = 0
		p.startH = 0
	case pkSpy, pkChurn, pkAttacker:
		p.ua = spyAgents.pick(r)
		p.services = []uint64{0, 1, 0x0409, 0x0009}[r.intn(4)]
		p.relay = kind == pkSpy
		p.addrOK = kind == pkSpy
		p.headers = r.chance(0.5)
		p.startH = int64(s.chain.tip) - int64(r.intn(3))
	case pkFeelerIn:
		p.ua = nodeAgents.pick(r)
		p.services = a.services
	case pkExtractor:
		p.ua = "/p2p-extractor:0.1/"
		p.services = 0x09
		p.relay, p.addrOK = true, true
		p.rtt = 0
		p.net = netUnroutable
	}
	p.version = protocolVersion(p.ua)
	p.wtxid = p.version >= 70016
	p.addrv2 = p.version >= 70016 && kind != pkLight
	if kind == pkNode && p.relay {
		p.baseFee = peerBaseFee(r, p.ua)
		p.feefilter = roundFeefilter(r, p.baseFee)
		if p.baseFee == 1000.5 { // btcd sends its relay fee as is
			p.feefilter, p.baseFee = 1000, 0
		}
	}
	return p
}

// peerBaseFee is the minimum fee (sat/kvB) behind a peer's feefilter:
// Core's 1 sat/vB default, a tenth of it from v30 on, more for a few
// peers with full mempools. 1000.5 marks btcd, which does not round.
func peerBaseFee(r *rng, ua string) float64 {
	if len(ua) > 11 && ua[:12] == "/Satoshi:30." {
		return 100
	}
	if ua[:4] == "/btc" {
		return 1000.5
	}
	if r.chance(0.04) {
		return []float64{2500, 4700, 10000}[r.intn(3)]
	}
	return 1000
}

// add registers an open connection.
func (n *network) add(p *peer) {
	n.peers = append(n.peers, p)
	switch p.ct {
	case ctInbound:
		n.inbound++
	case ctOutFull, ctFeeler:
		if p.ct == ctOutFull {
			n.outFull++
		}
	case ctBlockOnly:
		n.outBlock++
	}
	if p.kind == pkNode && p.relay && p.ct != ctFeeler {
		for i, q := range n.slots {
			if q == nil {
				n.slots[i] = p
				p.slot = i
				break
			}
		}
	}
}

// outboundCount is the existing_connections value of an outbound event.
func (n *network) outboundCount() int {
	c := 0
	for _, p := range n.peers {
		if !p.inbound() && p.ct != ctManual {
			c++
		}
	}
	return c
}

func (n *network) connection(p *peer) *pb.Connection {
	return &pb.Connection{PeerId: proto.Uint64(p.id), Addr: proto.String(p.addr), ConnType: p.ct.pbType().Enum(), Network: proto.Uint32(p.net)}
}

// init builds the connections that were open before the stream starts.
func (n *network) init() {
	s := n.s
	r := s.rPeers
	// Established times spread over the node's 12-day uptime; older
	// connections have lower ids.
	type spec struct {
		kind peerKind
		ct   connType
		age  float64 // mean age, s
	}
	var protos []spec
	for range outboundFull {
		protos = append(protos, spec{pkNode, ctOutFull, 5 * 3600})
	}
	for range outboundBlocks {
		protos = append(protos, spec{pkNode, ctBlockOnly, 20 * 3600})
	}
	for range 76 {
		protos = append(protos, spec{pkNode, ctInbound, 4 * 3600})
	}
	for range 8 {
		protos = append(protos, spec{pkBlocksOnly, ctInbound, 4 * 3600})
	}
	for range 4 {
		protos = append(protos, spec{pkLight, ctInbound, 1200})
	}
	for range 24 {
		protos = append(protos, spec{pkSpy, ctInbound, 10 * 3600})
	}
	type aged struct {
		p   spec
		age float64
	}
	var all []aged
	for _, pr := range protos {
		all = append(all, aged{pr, r.exp(pr.age) + 30})
	}
	slices.SortStableFunc(all, func(a, b aged) int {
		switch {
		case a.age > b.age:
			return -1
		case a.age < b.age:
			return 1
		}
		return 0
	})
	ext := n.newPeer(pkExtractor, ctManual, &netAddr{net: netUnroutable, port: 9333, host: "127.0.0.1"})
	ext.est = s.start - int64(11.9*86400e3)
	n.ext = ext
	n.add(ext)
	n.finishHandshake(ext, false)
	n.nextID += 40_000 + uint64(r.intn(20_000))
	for _, ag := range all {
		var a *netAddr
		if ag.p.ct != ctInbound {
			a = s.addrs.random(r)
			for a.net == netI2P && r.chance(0.7) {
				a = s.addrs.random(r)
			}
		} else if ag.p.kind == pkSpy {
			a = n.spyAddr(r)
		}
		p := n.newPeer(ag.p.kind, ag.p.ct, a)
		p.est = s.start - int64(ag.age*1000)
		n.nextID += uint64(r.exp(ag.age * 3)) // churn between them
		n.add(p)
		n.finishHandshake(p, false)
		n.lifetime(p)
	}
	n.chooseHB()
	n.startProcesses()
}

// spyAddr is an address in one of the spy networks.
func (n *network) spyAddr(r *rng) *netAddr {
	sn := n.spySubnets[r.intn(len(n.spySubnets))]
	a := &netAddr{net: netIPv4, port: 8333, asn: 54415}
	a.ip[0], a.ip[1], a.ip[2], a.ip[3] = sn[0], sn[1], sn[2], byte(r.between(2, 254))
	return a
}

// finishHandshake marks p connected and starts its per-peer timers. live
// is false for connections that predate the stream.
func (n *network) finishHandshake(p *peer, live bool) {
	s := n.s
	p.handshake = true
	p.annScan = s.now
	if p.relay && p.ourFilter == 0 {
		p.ourFilter = s.ourFeefilter()
	}
	if p.kind == pkNode && p.relay {
		p.lastTx = p.est + int64(s.rPeers.exp(600e3))
	}
	if p.kind == pkNode || p.kind == pkBlocksOnly {
		p.lastBlock = s.chain.tipTime
	}
	s.startPings(p, live)
	if p.slot >= 0 {
		s.startTrickleIn(p)
	}
	if !p.inbound() && p.relay {
		s.startTrickleOut(p)
	}
	s.startFeefilter(p)
}

// chooseHB picks the high-bandwidth compact block peers: up to three
// outbound peers announce to us, up to three inbound peers asked us to.
func (n *network) chooseHB() {
	from, to := 0, 0
	for _, p := range n.peers {
		if p.closed || p.kind != pkNode {
			continue
		}
		if !p.inbound() && from < 3 && p.ct != ctFeeler {
			p.hbFrom = true
			from++
		} else if p.inbound() && to < 3 && p.relay && n.s.rPeers.chance(0.1) {
			p.hbTo = true
			to++
		}
	}
}

// lifetime schedules the end of a connection that is not short-lived.
func (n *network) lifetime(p *peer) {
	s := n.s
	var mean float64
	switch {
	case p.kind == pkExtractor:
		return
	case p.ct == ctOutFull:
		mean = 6 * 3600
	case p.ct == ctBlockOnly:
		mean = 24 * 3600
	case p.kind == pkSpy:
		mean = 12 * 3600
	case p.kind == pkLight:
		mean = 1200
	default:
		mean = 4 * 3600
	}
	s.after(int64(s.rChurn.exp(mean*1000)), func() {
		if p.closed {
			return
		}
		if p.ct == ctOutFull && p.kind == pkNode && s.rChurn.chance(0.3) {
			s.logNet("Timeout downloading block, disconnecting peer=" + strconv.FormatUint(p.id, 10))
		}
		n.disconnect(p)
	})
}

// disconnect closes p: the closed_connection tracepoint, Core's log lines,
// and replacements for outbound slots.
func (n *network) disconnect(p *peer) {
	s := n.s
	if p.removed {
		return
	}
	p.removed, p.closed = true, true
	s.logNet("disconnecting peer=" + strconv.FormatUint(p.id, 10))
	s.emit(connEvent(&pb.ConnectionEvent{Event: &pb.ConnectionEvent_Closed{Closed: &pb.ClosedConnection{
		Conn: n.connection(p), TimeEstablished: proto.Uint64(uint64(p.est / 1000))}}}))
	s.logNet("Cleared nodestate for peer=" + strconv.FormatUint(p.id, 10))
	i := slices.Index(n.peers, p)
	n.peers = slices.Delete(n.peers, i, i+1)
	if p.slot >= 0 {
		n.slots[p.slot] = nil
	}
	switch p.ct {
	case ctInbound:
		n.inbound--
	case ctOutFull:
		n.outFull--
		s.after(int64(s.rChurn.between(500, 30_000)), func() { n.openOutbound(ctOutFull) })
	case ctBlockOnly:
		n.outBlock--
		if n.outBlock < outboundBlocks {
			s.after(int64(s.rChurn.between(500, 30_000)), func() { n.openOutbound(ctBlockOnly) })
		}
	}
	p.outQ = nil
	s.pool.peerGone(p)
	if p.hbFrom || p.hbTo {
		p.hbFrom, p.hbTo = false, false
		n.chooseHB()
	}
}

// evict makes room for a new inbound connection the way Core does when
// it is full: relaying full nodes are protected; among the rest, the
// network group (IPv4 /16, IPv6 /32, Tor, I2P) with the most connections
// loses its youngest member. On a honeynode that is usually a spy.
func (n *network) evict() {
	s := n.s
	cand := func(p *peer) bool {
		return p.inbound() && !p.closed && p.kind != pkExtractor && !((p.kind == pkNode || p.kind == pkBlocksOnly) && p.handshake)
	}
	count := map[uint64]int{}
	for _, p := range n.peers {
		if cand(p) {
			count[netGroup(p)]++
		}
	}
	best, bestN := uint64(0), 0
	for _, p := range n.peers {
		if g := netGroup(p); cand(p) && count[g] > bestN {
			best, bestN = g, count[g]
		}
	}
	var victim *peer
	for i := len(n.peers) - 1; i >= 0 && victim == nil; i-- {
		if p := n.peers[i]; cand(p) && netGroup(p) == best {
			victim = p
		}
	}
	if victim == nil {
		return
	}
	s.emit(connEvent(&pb.ConnectionEvent{Event: &pb.ConnectionEvent_InboundEvicted{InboundEvicted: &pb.EvictedInboundConnection{
		Conn: n.connection(victim), TimeEstablished: proto.Uint64(uint64(victim.est / 1000))}}}))
	victim.closed = true // no more messages; the closed event follows
	s.after(int64(s.rChurn.between(0, 40)), func() { n.disconnect(victim) })
}

// netGroup is Core's network group of a peer, as a number.
func netGroup(p *peer) uint64 {
	a := p.a
	switch {
	case p.inbound() && a.net == netOnion:
		return 3 << 56
	case a.net == netIPv4:
		return 1<<56 | uint64(a.ip[0])<<8 | uint64(a.ip[1])
	case a.net == netIPv6 || a.net == netCJDNS:
		return uint64(a.net)<<56 | uint64(a.ip[0])<<24 | uint64(a.ip[1])<<16 | uint64(a.ip[2])<<8 | uint64(a.ip[3])
	}
	return uint64(a.net)<<56 | uint64(a.key[0]>>4)
}

// acceptInbound opens an inbound connection: the inbound_connection
// tracepoint (after an eviction when the slots are full).
func (n *network) acceptInbound(p *peer) {
	s := n.s
	if n.inbound >= maxInbound {
		n.evict()
	}
	s.emit(connEvent(&pb.ConnectionEvent{Event: &pb.ConnectionEvent_Inbound{Inbound: &pb.InboundConnection{
		Conn: n.connection(p), ExistingConnections: proto.Uint64(uint64(n.inbound))}}}))
	s.logNet("Added connection peer=" + strconv.FormatUint(p.id, 10))
	n.add(p)
	n.connections++
	s.stats.Connections++
}

// startProcesses starts the arrival processes of new connections.
func (n *network) startProcesses() {
	s := n.s
	s.startInboundTrickle()
	s.startAddrGossip()
	// Spy and crawler churn scales with activity.
	var churn func()
	churn = func() {
		n.churnConnection(s.rChurn)
		s.after(s.rChurn.expMs(1000/(churnRate*s.activity)), churn)
	}
	s.after(s.rChurn.expMs(1000/(churnRate*s.activity)), churn)
	// Other nodes' outbound and feeler connections to us.
	var nodeIn func()
	nodeIn = func() {
		kind := pkNode
		if s.rChurn.chance(0.12) {
			kind = pkBlocksOnly
		}
		p := n.newPeer(kind, ctInbound, nil)
		n.connectInbound(p)
		n.lifetime(p)
		s.after(s.rChurn.expMs(165e3), nodeIn)
	}
	s.after(s.rChurn.expMs(165e3), nodeIn)
	var feelerIn func()
	feelerIn = func() {
		p := n.newPeer(pkFeelerIn, ctInbound, nil)
		n.connectInbound(p)
		s.after(s.rChurn.expMs(40e3), feelerIn)
	}
	s.after(s.rChurn.expMs(40e3), feelerIn)
	var spyIn func()
	spyIn = func() {
		p := n.newPeer(pkSpy, ctInbound, n.spyAddr(s.rChurn))
		n.connectInbound(p)
		n.lifetime(p)
		s.after(s.rChurn.expMs(1800e3), spyIn)
	}
	s.after(s.rChurn.expMs(1800e3), spyIn)
	var light func()
	light = func() {
		p := n.newPeer(pkLight, ctInbound, nil)
		n.connectInbound(p)
		n.lifetime(p)
		s.after(s.rChurn.expMs(300e3), light)
	}
	s.after(s.rChurn.expMs(300e3), light)
	// Our feelers every 2 minutes, an extra block-relay-only peer every 5.
	var feeler func()
	feeler = func() {
		n.openOutbound(ctFeeler)
		s.after(int64(s.rChurn.exp(120e3)), feeler)
	}
	s.after(int64(s.rChurn.exp(120e3)), feeler)
	var extra func()
	extra = func() {
		n.openOutbound(ctBlockOnly)
		s.after(300e3+int64(s.rChurn.intn(30e3)), extra)
	}
	s.after(int64(s.rChurn.intn(300e3)), extra)
	// Rare misbehaviour from ordinary peers.
	var misb func()
	misb = func() {
		n.baselineMisbehaving()
		s.after(s.rChurn.expMs(1200e3), misb)
	}
	s.after(s.rChurn.expMs(1200e3), misb)
}

// churnRate is the spy and crawler connection rate at activity 1.
const churnRate = 7.0

// churnConnection is one short-lived spy or crawler connection: most
// never send a version message and are gone within a second.
func (n *network) churnConnection(r *rng) {
	var a *netAddr
	if r.chance(0.7) {
		a = n.spyAddr(r)
	}
	p := n.newPeer(pkChurn, ctInbound, a)
	n.acceptInbound(p)
	if r.chance(0.35) {
		n.inboundHandshake(p, r)
		n.s.after(int64(r.lognormal(4000, 1.2)), func() { n.disconnect(p) })
		return
	}
	n.s.after(int64(r.lognormal(600, 0.5)), func() { n.disconnect(p) })
}

// connectInbound runs an inbound connection: accept, then the handshake.
func (n *network) connectInbound(p *peer) {
	n.acceptInbound(p)
	n.inboundHandshake(p, n.s.rChurn)
}

// inboundHandshake: the peer sends version, we answer with version,
// wtxidrelay, sendaddrv2 and verack, it sends its own and verack, then
// both sides send their post-handshake messages.
func (n *network) inboundHandshake(p *peer, r *rng) {
	s := n.s
	half := max(1, p.rtt/2)
	s.after(half+int64(r.intn(5)), func() {
		if p.closed {
			return
		}
		s.versionMsg(p, true, r.u64())
		s.logNet(fmt.Sprintf("receive version message: %s: version %d, blocks=%d, us=%s, txrelay=%d, peer=%d",
			p.ua, p.version, p.startH, s.addrs.local.hostPort(8333), b2i(p.relay || p.kind == pkChurn), p.id))
		if p.kind == pkFeelerIn {
			// Another node's feeler: it hangs up once it has our version.
			s.versionMsg(p, false, r.u64())
			s.after(p.rtt+int64(r.intn(20)), func() { n.disconnect(p) })
			return
		}
		if p.version >= 70016 && p.kind == pkNode && r.chance(0.15) {
			s.sendtxrcncl(p, true)
		}
		s.versionMsg(p, false, r.u64())
		if p.version >= 70016 {
			s.flag(p, cmdWtxidrelay, false)
			s.flag(p, cmdSendaddrv2, false)
		}
		s.flag(p, cmdVerack, false)
		s.after(p.rtt+int64(r.intn(3)), func() {
			if p.closed {
				return
			}
			if p.version >= 70016 {
				s.flag(p, cmdWtxidrelay, true)
				s.flag(p, cmdSendaddrv2, true)
			}
			s.flag(p, cmdVerack, true)
			s.log(pb.LogDebugCategory_NET, fmt.Sprintf("New inbound %s peer connected: version: %d, blocks=%d, peer=%d",
				transport(p), p.version, p.startH, p.id))
			n.afterVerack(p, r)
		})
	})
}

func transport(p *peer) string {
	if p.v2 {
		return "v2"
	}
	return "v1"
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// afterVerack sends what Core sends once a connection is up, and what
// the peer sends us.
func (n *network) afterVerack(p *peer, r *rng) {
	s := n.s
	s.sendcmpct(p, false, false)
	if p.relay {
		p.ourFilter = s.ourFeefilter()
		s.feefilterMsg(p, false, p.ourFilter)
	}
	if p.ct == ctOutFull {
		s.flag(p, cmdGetaddr, false)
	}
	if !p.inbound() {
		s.getheaders(p, false)
	}
	n.finishHandshake(p, true)
	if p.addrOK {
		s.queueAddr(p, s.addrs.local)
	}
	// The peer's side, one round trip later.
	s.after(p.rtt/2+int64(r.intn(4)), func() {
		if p.closed {
			return
		}
		switch p.kind {
		case pkNode, pkBlocksOnly:
			s.sendcmpct(p, true, p.hbTo)
			if p.relay {
				s.feefilterMsg(p, true, p.feefilter)
			}
			if p.inbound() {
				s.getheaders(p, true)
				if p.ct == ctInbound && p.kind == pkNode && r.chance(0.85) {
					s.flag(p, cmdGetaddr, true)
					s.answerGetaddr(p)
				}
			} else {
				s.headersMsg(p, true, nil)
			}
			if p.ct == ctOutFull {
				s.after(int64(r.between(200, 3000)), func() {
					if !p.closed {
						s.getaddrResponse(p)
					}
				})
			}
		case pkChurn, pkSpy, pkAttacker:
			if r.chance(0.03) {
				s.flag(p, cmdGetaddr, true)
				s.answerGetaddr(p)
			}
		case pkLight:
			s.getheaders(p, true)
		}
	})
	if p.ct == ctFeeler {
		return
	}
}

// openOutbound makes an outbound connection of type ct to an addrman
// entry. Half of the feelers fail to connect and leave only a log line.
func (n *network) openOutbound(ct connType) {
	s := n.s
	r := s.rChurn
	a := s.addrs.random(r)
	if ct == ctFeeler {
		s.log(pb.LogDebugCategory_ADDRMAN, fmt.Sprintf("Selected %s from %s", a.hostPort(a.port), map[bool]string{true: "tried", false: "new"}[a.tried]))
		if r.chance(0.5) {
			s.after(int64(r.between(50, 5000)), func() {
				s.logNet(fmt.Sprintf("connect() to %s failed after wait: Connection refused (111)", a.hostPort(a.port)))
			})
			return
		}
	}
	p := n.newPeer(pkNode, ct, a)
	if ct == ctFeeler {
		p.relay = false
	}
	existing := n.outboundCount()
	s.logNet(fmt.Sprintf("trying %s connection %s lastseen=%.1fhrs", map[bool]string{true: "v2", false: "v1"}[p.v2], p.addr,
		math.Max(0, float64(s.now/1000-int64(a.time))/3600)))
	s.after(max(1, p.rtt/2), func() {
		s.emit(connEvent(&pb.ConnectionEvent{Event: &pb.ConnectionEvent_Outbound{Outbound: &pb.OutboundConnection{
			Conn: n.connection(p), ExistingConnections: proto.Uint64(uint64(existing))}}}))
		s.logNet("Added connection peer=" + strconv.FormatUint(p.id, 10))
		n.add(p)
		n.connections++
		s.stats.Connections++
		s.versionMsg(p, false, r.u64())
		s.after(p.rtt+int64(r.intn(3)), func() {
			if p.closed {
				return
			}
			s.versionMsg(p, true, r.u64())
			s.flag(p, cmdWtxidrelay, false)
			s.flag(p, cmdSendaddrv2, false)
			s.flag(p, cmdVerack, false)
			if ct == ctFeeler {
				s.logNet(fmt.Sprintf("feeler connection completed peer=%d; disconnecting", p.id))
				s.addrs.promote(a)
				n.disconnect(p)
				return
			}
			s.flag(p, cmdWtxidrelay, true)
			s.flag(p, cmdSendaddrv2, true)
			s.flag(p, cmdVerack, true)
			s.log(pb.LogDebugCategory_UNKNOWN, fmt.Sprintf("New %s %s peer connected: version: %d, blocks=%d, peer=%d",
				ct.coreName(), transport(p), p.version, p.startH, p.id))
			s.addrs.promote(a)
			n.afterVerack(p, r)
			if ct == ctBlockOnly && n.outBlock > outboundBlocks {
				// The extra block-relay-only peer is dropped again unless
				// it brings a new block first.
				s.after(int64(r.between(30e3, 90e3)), func() {
					if !p.closed {
						s.logNet(fmt.Sprintf("disconnecting extra block-relay-only peer=%d (last block received at time %d)", p.id, p.lastBlock/1000))
						n.disconnect(p)
					}
				})
			} else {
				n.lifetime(p)
			}
		})
	})
}

// Misbehaviour reasons Core logs (v29 passes only the message).
var misbehaviourReasons = []string{
	"header with invalid proof of work",
	"non-continuous headers sequence",
	"invalid header received",
	"getblocktxn with out-of-bounds tx indices",
}

// baselineMisbehaving: once in a while a peer sends invalid headers and is
// disconnected.
func (n *network) baselineMisbehaving() {
	var cands []*peer
	for _, p := range n.peers {
		if p.inbound() && p.handshake && !p.closed && p.kind != pkExtractor {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return
	}
	r := n.s.rChurn
	n.misbehave(cands[r.intn(len(cands))], misbehaviourReasons[r.intn(len(misbehaviourReasons))], r)
}

// misbehave emits the offending message, the misbehaving tracepoint and
// the disconnection that follows it.
func (n *network) misbehave(p *peer, reason string, r *rng) {
	s := n.s
	switch reason {
	case "header with invalid proof of work", "invalid header received":
		s.headersMsg(p, true, []*pb.BlockHeader{s.chain.fakeHeader(r)})
	case "non-continuous headers sequence":
		s.headersMsg(p, true, []*pb.BlockHeader{s.chain.fakeHeader(r), s.chain.fakeHeader(r)})
	case "getblocktxn with out-of-bounds tx indices":
		h := s.chain.hash(s.chain.tip)
		idx := []uint64{uint64(s.chain.lastTxCount + r.between(1, 500))}
		size := 32 + varintLen(1) + varintLen(idx[0])
		s.recv(p, cmdGetblocktxn, size, &pb.MessageEvent{Msg: &pb.MessageEvent_Getblocktxn{Getblocktxn: &pb.GetBlockTxn{BlockHash: h[:], TxIndexes: idx}}})
	default:
		if len(reason) > 17 && reason[:17] == "addr message size" {
			var list []*netAddr
			for range 1001 + r.intn(200) {
				list = append(list, s.addrs.random(r))
			}
			s.addrMsg(p, true, list)
		}
	}
	s.emit(connEvent(&pb.ConnectionEvent{Event: &pb.ConnectionEvent_Misbehaving{Misbehaving: &pb.MisbehavingConnection{
		Id: proto.Uint64(p.id), Message: proto.String(reason)}}}))
	s.logNet(fmt.Sprintf("Misbehaving: peer=%d: %s", p.id, reason))
	s.after(int64(r.between(0, 3)), func() { n.disconnect(p) })
}

// relayPeers returns open, handshaken peers that p matches.
func (n *network) each(f func(p *peer)) {
	for _, p := range n.peers {
		if !p.closed && p.handshake {
			f(p)
		}
	}
}
