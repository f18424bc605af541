package synth

import (
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// connType is Core's connection type.
type connType uint8

const (
	ctInbound connType = iota
	ctOutFull
	ctBlockOnly
	ctFeeler
	ctManual
)

// coreName is the string Core passes to the tracepoints and getpeerinfo.
func (c connType) coreName() string {
	return [...]string{"inbound", "outbound-full-relay", "block-relay-only", "feeler", "manual"}[c]
}

// pbType maps the type the way peer-observer's extractor does: feeler
// becomes OutboundFullRelay and manual Unknown.
func (c connType) pbType() pb.ConnType {
	return [...]pb.ConnType{pb.ConnType_Inbound, pb.ConnType_OutboundFullRelay, pb.ConnType_BlockRelayOnly,
		pb.ConnType_OutboundFullRelay, pb.ConnType_Unknown}[c]
}

// peerKind is who is on the other end.
type peerKind uint8

const (
	pkNode       peerKind = iota // full node relaying transactions
	pkBlocksOnly                 // full node that does not relay transactions
	pkLight                      // SPV wallet
	pkSpy                        // long-lived spy node: listens, never announces
	pkChurn                      // short-lived spy or crawler connection
	pkFeelerIn                   // another node's feeler connection
	pkExtractor                  // peer-observer's p2p-extractor (manual connection)
	pkAttacker                   // injected by an anomaly
)

// P2P commands the simulation sends. Their names are the message types.
type cmd uint8

const (
	cmdVersion cmd = iota
	cmdVerack
	cmdWtxidrelay
	cmdSendaddrv2
	cmdSendtxrcncl
	cmdSendcmpct
	cmdSendheaders
	cmdPing
	cmdPong
	cmdFeefilter
	cmdGetaddr
	cmdAddr
	cmdAddrv2
	cmdInv
	cmdGetdata
	cmdNotfound
	cmdTx
	cmdGetheaders
	cmdHeaders
	cmdCmpctblock
	cmdGetblocktxn
	cmdBlocktxn
	cmdBlock
	numCmds
)

var cmdNames = [numCmds]string{"version", "verack", "wtxidrelay", "sendaddrv2", "sendtxrcncl", "sendcmpct", "sendheaders",
	"ping", "pong", "feefilter", "getaddr", "addr", "addrv2", "inv", "getdata", "notfound", "tx", "getheaders", "headers",
	"cmpctblock", "getblocktxn", "blocktxn", "block"}

// peer is one connection of the simulated node.
type peer struct {
	id   uint64
	kind peerKind
	ct   connType
	a    *netAddr // the remote address (inbound: with its ephemeral port)
	addr string   // host:port as Core prints it
	net  uint32   // Core's Network enum as the connection tracepoints pass it
	slot int      // transaction relay slot, -1 if the peer never announces
	est  int64    // established, ms

	ua       string
	version  uint32
	services uint64
	relay    bool // the node relays transactions to this peer
	wtxid    bool
	addrv2   bool
	addrOK   bool // addr relay enabled
	headers  bool // sendheaders
	v2       bool
	hbTo     bool // we announce cmpctblock to it first
	hbFrom   bool // it announces cmpctblock to us first
	startH   int64
	rtt      int64 // ms
	offset   int64 // time offset, s
	cpu      float64

	handshake bool // verack received
	closed    bool // no more messages (disconnecting)
	removed   bool // the closed event was emitted

	feefilter int64   // theirs, sat/kvB
	baseFee   float64 // the minimum fee behind theirs, sat/kvB
	ourFilter int64   // last one we sent

	sent, recv           [numCmds]uint64
	bytesSent, bytesRecv uint64
	lastSend, lastRecv   int64
	lastTx, lastBlock    int64

	pingNonce uint64
	pingStart int64 // ms of our outstanding ping, 0 if none
	pingTime  float64
	minPing   float64

	outQ      []*tx      // transactions to announce to the peer
	annScan   int64      // their announcements to us are scanned up to here
	addrQ     []*netAddr // addresses to relay to the peer
	addrTimer bool
	addrProc  uint64
	addrLim   uint64
	inflight  []uint64
	announced int32 // height of the last block the peer knows about from either side
}

func (p *peer) inbound() bool { return p.ct == ctInbound }

// preferred peers get transaction requests without the 2 s delay.
func (p *peer) preferred() bool { return p.ct != ctInbound }

// overhead is the per-message transport overhead counted in getpeerinfo
// byte totals: the 24-byte v1 header, or BIP324's length, type and tag.
func (p *peer) overhead() uint64 {
	if p.v2 {
		return 20
	}
	return 24
}

// msg emits a P2P message event for p and accounts its bytes, followed by
// the debug.log line Core writes for it with -debug=net.
func (s *sim) msg(p *peer, c cmd, inbound bool, size int, m *pb.MessageEvent) {
	name := cmdNames[c]
	m.Meta = &pb.Metadata{
		PeerId:   proto.Uint64(p.id),
		Addr:     proto.String(p.addr),
		ConnType: p.ct.pbType().Enum(),
		Command:  proto.String(name),
		Inbound:  proto.Bool(inbound),
		Size:     proto.Uint64(uint64(size)),
	}
	s.emit(ebpfEvent(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: m}}))
	wire := uint64(size) + p.overhead()
	if inbound {
		p.recv[c] += wire
		p.bytesRecv += wire
		p.lastRecv = s.now
		s.net.totalRecv += wire
		s.logNet("received: " + name + " (" + strconv.Itoa(size) + " bytes) peer=" + strconv.FormatUint(p.id, 10))
	} else {
		p.sent[c] += wire
		p.bytesSent += wire
		p.lastSend = s.now
		s.net.totalSent += wire
		s.logNet("sending " + name + " (" + strconv.Itoa(size) + " bytes) peer=" + strconv.FormatUint(p.id, 10))
	}
}

func (s *sim) send(p *peer, c cmd, size int, m *pb.MessageEvent) { s.msg(p, c, false, size, m) }
func (s *sim) recv(p *peer, c cmd, size int, m *pb.MessageEvent) { s.msg(p, c, true, size, m) }

// Messages without payload, and the small fixed ones.

func (s *sim) flag(p *peer, c cmd, inbound bool) {
	m := &pb.MessageEvent{}
	switch c {
	case cmdVerack:
		m.Msg = &pb.MessageEvent_Verack{Verack: true}
	case cmdWtxidrelay:
		m.Msg = &pb.MessageEvent_Wtxidrelay{Wtxidrelay: true}
	case cmdSendaddrv2:
		m.Msg = &pb.MessageEvent_Sendaddrv2{Sendaddrv2: true}
	case cmdSendheaders:
		m.Msg = &pb.MessageEvent_Sendheaders{Sendheaders: true}
	case cmdGetaddr:
		m.Msg = &pb.MessageEvent_Getaddr{Getaddr: true}
	default:
		panic("synth: flag " + cmdNames[c])
	}
	s.msg(p, c, inbound, 0, m)
}

func (s *sim) sendcmpct(p *peer, inbound, announce bool) {
	s.msg(p, cmdSendcmpct, inbound, 9, &pb.MessageEvent{Msg: &pb.MessageEvent_Sendcompact{Sendcompact: &pb.SendCompact{
		SendCompact: proto.Bool(announce), Version: proto.Uint64(2)}}})
}

func (s *sim) feefilterMsg(p *peer, inbound bool, fee int64) {
	s.msg(p, cmdFeefilter, inbound, 8, &pb.MessageEvent{Msg: &pb.MessageEvent_Feefilter{Feefilter: &pb.FeeFilter{Fee: proto.Int64(fee)}}})
}

func (s *sim) ping(p *peer, inbound bool, nonce uint64) {
	s.msg(p, cmdPing, inbound, 8, &pb.MessageEvent{Msg: &pb.MessageEvent_Ping{Ping: &pb.Ping{Value: proto.Uint64(nonce)}}})
}

func (s *sim) pong(p *peer, inbound bool, nonce uint64) {
	s.msg(p, cmdPong, inbound, 8, &pb.MessageEvent{Msg: &pb.MessageEvent_Pong{Pong: &pb.Pong{Value: proto.Uint64(nonce)}}})
}

func (s *sim) sendtxrcncl(p *peer, inbound bool) {
	payload := make([]byte, 12)
	payload[0] = 1 // version 1, then a 64-bit salt
	s.rPeers.fill(payload[4:])
	s.msg(p, cmdSendtxrcncl, inbound, 12, &pb.MessageEvent{Msg: &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{
		Command: proto.String("sendtxrcncl"), Payload: payload}}})
}

// versionMsg emits a version message. Ours (inbound=false) carries the
// peer's address as addr_you when it fits addr v1, like Core.
func (s *sim) versionMsg(p *peer, inbound bool, nonce uint64) {
	var v *pb.Version
	zero := func(services uint64) *pb.Address {
		return &pb.Address{Timestamp: proto.Uint32(0), Address: &pb.Address_Ipv4{Ipv4: "0.0.0.0"}, Services: proto.Uint64(services), Port: proto.Uint32(0)}
	}
	if inbound {
		recvAddr := zero(0)
		if p.net == netIPv4 || p.net == netIPv6 {
			recvAddr = s.addrs.local.pbAddress(0)
			recvAddr.Services = proto.Uint64(0)
		}
		v = &pb.Version{Version: proto.Uint32(p.version), Services: proto.Uint64(p.services), Timestamp: proto.Int64(s.now/1000 + p.offset),
			Receiver: recvAddr, Sender: zero(p.services), Nonce: proto.Uint64(nonce), UserAgent: proto.String(p.ua),
			StartHeight: proto.Int32(int32(p.startH)), Relay: proto.Bool(p.kind == pkNode || p.kind == pkSpy || p.kind == pkChurn || p.kind == pkExtractor || p.kind == pkAttacker)}
		s.recv(p, cmdVersion, versionSize(p.ua), &pb.MessageEvent{Msg: &pb.MessageEvent_Version{Version: v}})
		return
	}
	you := zero(0)
	if p.a != nil && (p.a.net == netIPv4 || p.a.net == netIPv6) && p.kind != pkExtractor {
		you = p.a.pbAddressPort(0, p.a.port)
		if p.inbound() {
			you.Services = proto.Uint64(0)
		}
	}
	v = &pb.Version{Version: proto.Uint32(70016), Services: proto.Uint64(nodeServices), Timestamp: proto.Int64(s.now / 1000),
		Receiver: you, Sender: zero(nodeServices), Nonce: proto.Uint64(nonce), UserAgent: proto.String(NodeUserAgent),
		StartHeight: proto.Int32(s.chain.tip), Relay: proto.Bool(p.ct != ctBlockOnly)}
	s.send(p, cmdVersion, versionSize(NodeUserAgent), &pb.MessageEvent{Msg: &pb.MessageEvent_Version{Version: v}})
}

// nodeServices: NETWORK | WITNESS | NETWORK_LIMITED | P2P_V2.
const nodeServices = 0x0c09
