// Package p2p is peertape's P2P extractor: a minimal Bitcoin P2P peer
// that a node connects to (-addnode in Bitcoin Core and Knots, --addpeer
// in btcd). It speaks v1 with btcd's wire package, measures how long the
// node takes to answer pings (its message-processing backlog) and reports
// the address, inventory and fee filter announcements the node sends,
// as peer-observer p2p-extractor events.
//
// Beyond peer-observer's extractor, several nodes can connect and are kept
// apart: every connection is logged and labelled in metrics by its remote
// address and user agent, and Options.NodeFor names the node on each
// connection's events. Hostile input never takes the extractor down: a
// header announcing more than MaxMessageSize, a bad checksum, a payload
// that does not parse or an addrv2 over Core's 1,000 entries closes that
// connection with a log line and a metric, and nothing else.
package p2p

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/wire/v2"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/extract/internal/wirepb"
	"github.com/peertape/peertape/proto/pb"
)

// protocolVersion is what the extractor announces: 70016 asks for wtxid
// relay (BIP339) and addrv2 (BIP155), as peer-observer's extractor does.
const protocolVersion = 70016

// Networks maps the --p2p-network names to their message start bytes.
var Networks = map[string]wire.BitcoinNet{
	"mainnet":  wire.MainNet,
	"testnet3": wire.TestNet3,
	"testnet4": wire.TestNet4,
	"signet":   wire.SigNet,
	"regtest":  wire.TestNet,
	"simnet":   wire.SimNet,
}

// NetworkNames lists the keys of Networks, sorted.
func NetworkNames() []string {
	out := make([]string, 0, len(Networks))
	for n := range Networks {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Defaults for Options.
const (
	DefaultAddress        = "127.0.0.1:9333"
	DefaultNetwork        = "mainnet"
	DefaultPingInterval   = 10 * time.Second
	DefaultUserAgent      = "/p2p-extractor:0.1/peertape:0.1/"
	DefaultMaxMessageSize = 4_000_000 // Core's MAX_PROTOCOL_MESSAGE_LENGTH
	DefaultMaxConnections = 8
	DefaultIdleTimeout    = 20 * time.Minute // Core's TIMEOUT_INTERVAL
	DefaultHandshake      = time.Minute      // Core's -peertimeout default
)

// ConnInfo describes a connected node, as learned from its version message.
type ConnInfo struct {
	Remote          string // host:port the node connected from
	UserAgent       string
	ProtocolVersion int32
	Services        uint64
	StartHeight     int32
}

// Options configures an Extractor.
type Options struct {
	// Address is where the extractor listens (default 127.0.0.1:9333);
	// Listener, when set, is used instead.
	Address  string
	Listener net.Listener
	// Network selects the message start (default mainnet; see Networks).
	Network string
	// PingInterval is how often a ping is sent after the handshake
	// (default 10s). The nonce is the send time in ns, as peer-observer's.
	PingInterval time.Duration
	// Disable* stop publishing a kind of event (pings are then not sent).
	DisablePing, DisableAddrV2, DisableInvs, DisableFeeFilter bool
	// UserAgent is sent in the version message (default DefaultUserAgent,
	// which keeps peer-observer's "/p2p-extractor:0.1/" component so tools
	// that recognise the extractor by user agent still do).
	UserAgent string
	// MaxMessageSize bounds a message's payload (default 4,000,000, Core's
	// limit); a larger header closes the connection before any allocation.
	MaxMessageSize uint32
	// MaxConnections bounds concurrent node connections (default 8);
	// further connections are closed at once.
	MaxConnections int
	// HandshakeTimeout bounds the wait for the node's version (default 1m);
	// IdleTimeout closes a connection that sent nothing for that long
	// (default 20m, Core's inactivity timeout).
	HandshakeTimeout, IdleTimeout time.Duration
	// Node names the node on every event; NodeFor, when set, names it per
	// connection instead (after the handshake, so from the user agent and
	// remote address).
	Node    string
	NodeFor func(ConnInfo) string
	// Registerer receives the peertape_p2p_* metrics. Nil keeps them private.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock event timestamps and ping nonces come from.
	Now func() time.Time
}

// Extractor is an event.Source: a listening P2P peer. Run calls the sink
// (Consume, and NodeInfo when the sink implements event.NodeInfoSink)
// from one goroutine at a time, although every connection has its own
// goroutine.
type Extractor struct {
	opts  Options
	magic wire.BitcoinNet
	log   *slog.Logger
	m     *metrics

	lnMu sync.Mutex
	ln   net.Listener

	sinkMu  sync.Mutex
	sink    event.Sink
	sinkErr error
	cancel  context.CancelFunc

	connMu sync.Mutex
	conns  map[*peer]struct{}
}

// New checks o and returns an extractor. It does not listen yet.
func New(o Options) (*Extractor, error) {
	if o.Address == "" {
		o.Address = DefaultAddress
	}
	if o.Network == "" {
		o.Network = DefaultNetwork
	}
	magic, ok := Networks[strings.ToLower(o.Network)]
	if !ok {
		return nil, fmt.Errorf("p2p extractor: unknown network %q (known: %s)", o.Network, strings.Join(NetworkNames(), ", "))
	}
	o.Network = strings.ToLower(o.Network)
	if o.PingInterval == 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.PingInterval < 0 {
		return nil, errors.New("p2p extractor: ping interval must be positive")
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if len(o.UserAgent) > wire.MaxUserAgentLen {
		return nil, fmt.Errorf("p2p extractor: user agent longer than %d bytes", wire.MaxUserAgentLen)
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = DefaultHandshake
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Extractor{opts: o, magic: magic, log: o.Logger.With("extractor", "p2p"), m: newMetrics(o.Registerer),
		conns: map[*peer]struct{}{}}, nil
}

// Listen binds the listening socket (Run does it if it was not done).
// Calling it first lets a caller learn Addr before starting the node.
func (x *Extractor) Listen() error {
	x.lnMu.Lock()
	defer x.lnMu.Unlock()
	if x.ln != nil {
		return nil
	}
	if x.opts.Listener != nil {
		x.ln = x.opts.Listener
		return nil
	}
	ln, err := net.Listen("tcp", x.opts.Address)
	if err != nil {
		return fmt.Errorf("p2p extractor: listen: %w", err)
	}
	x.ln = ln
	return nil
}

// Addr is the listening address, or nil before Listen.
func (x *Extractor) Addr() net.Addr {
	x.lnMu.Lock()
	defer x.lnMu.Unlock()
	if x.ln == nil {
		return nil
	}
	return x.ln.Addr()
}

// Run accepts node connections until ctx is cancelled (returning its
// error) or the sink fails (returning that error; event.ErrStop ends Run
// with nil). A node disconnecting is normal: the extractor keeps
// listening for it to come back.
func (x *Extractor) Run(ctx context.Context, sink event.Sink) error {
	if err := x.Listen(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	x.sinkMu.Lock()
	x.sink, x.sinkErr, x.cancel = sink, nil, cancel
	x.sinkMu.Unlock()
	x.lnMu.Lock()
	ln := x.ln
	x.lnMu.Unlock()
	x.log.Info("listening for node connections", "addr", ln.Addr().String(), "network", x.opts.Network,
		"ping_interval", x.opts.PingInterval, "ping", !x.opts.DisablePing, "addrv2", !x.opts.DisableAddrV2,
		"invs", !x.opts.DisableInvs, "feefilter", !x.opts.DisableFeeFilter)

	var wg sync.WaitGroup
	go func() {
		<-ctx.Done()
		ln.Close()
		x.connMu.Lock()
		for p := range x.conns {
			p.conn.Close()
		}
		x.connMu.Unlock()
	}()
	var acceptErr error
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				acceptErr = fmt.Errorf("p2p extractor: accept: %w", err)
				cancel()
			}
			break
		}
		p := &peer{x: x, conn: conn, remote: conn.RemoteAddr().String()}
		x.connMu.Lock()
		full := len(x.conns) >= x.opts.MaxConnections
		if !full {
			x.conns[p] = struct{}{}
		}
		n := len(x.conns)
		x.connMu.Unlock()
		if full {
			x.log.Warn("refusing connection: too many nodes connected", "remote", p.remote, "max_connections", x.opts.MaxConnections)
			x.m.refused.Inc()
			conn.Close()
			continue
		}
		if n > 1 {
			x.log.Info("another node connected; events are kept apart by connection", "remote", p.remote, "connections", n)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.serve(ctx)
			x.connMu.Lock()
			delete(x.conns, p)
			x.connMu.Unlock()
		}()
	}
	wg.Wait()
	x.sinkMu.Lock()
	serr := x.sinkErr
	x.sinkMu.Unlock()
	switch {
	case errors.Is(serr, event.ErrStop):
		return nil
	case serr != nil:
		return serr
	case acceptErr != nil:
		return acceptErr
	}
	return ctx.Err()
}

// emit hands an event to the sink, serialising the connections.
func (x *Extractor) emit(ev event.Event) error {
	x.sinkMu.Lock()
	defer x.sinkMu.Unlock()
	if x.sinkErr != nil {
		return x.sinkErr
	}
	if err := x.sink.Consume(ev); err != nil {
		x.sinkErr = err
		x.cancel()
		return err
	}
	return nil
}

func (x *Extractor) nodeInfo(info event.NodeInfo) {
	x.sinkMu.Lock()
	defer x.sinkMu.Unlock()
	if ns, ok := x.sink.(event.NodeInfoSink); ok && x.sinkErr == nil {
		ns.NodeInfo(info)
	}
}

// errClosed ends a connection without counting a protocol error.
var errClosed = errors.New("connection closed")

// peer is one node connection.
type peer struct {
	x      *Extractor
	conn   net.Conn
	remote string
	log    *slog.Logger

	writeMu sync.Mutex

	// Set by the reader goroutine only.
	info      ConnInfo
	gotVer    bool
	verackOut bool
	startPing bool // set by handle when the handshake completes
	node      string
	label     string // remote host for metric labels

	pingMu  sync.Mutex
	pending map[uint64]time.Time // nonce -> send time (monotonic)
}

// maxPendingPings bounds the remembered ping nonces; older ones are
// forgotten (their pongs are then ignored).
const maxPendingPings = 16

func (p *peer) serve(ctx context.Context) {
	x := p.x
	host, _, _ := net.SplitHostPort(p.remote)
	p.label = host
	p.log = x.log.With("remote", p.remote)
	p.log.Info("node connected")
	x.m.connections.Inc()
	start := time.Now()
	defer func() {
		p.conn.Close()
		if p.gotVer {
			x.m.connected.DeleteLabelValues(p.label, p.info.UserAgent)
		}
	}()
	pingCtx, stopPing := context.WithCancel(ctx)
	defer stopPing()
	err := p.readLoop(ctx, pingCtx, bufio.NewReaderSize(p.conn, 64<<10))
	reason := closeReason(err)
	attrs := []any{"duration", time.Since(start).Round(time.Millisecond), "reason", reason} // p.log has the user agent
	switch {
	case ctx.Err() != nil:
		p.log.Info("connection closed: extractor stopping", attrs...)
	case reason == "eof" || reason == "reset" || reason == "sink":
		p.log.Info("node disconnected", append(attrs, "error", err)...)
	default:
		x.m.protocolErrors.WithLabelValues(reason).Inc()
		if reason == "wrong_magic" && !p.gotVer {
			p.log.Info("closing: not a v1 message; a Core node that tried BIP324 v2 retries with v1", append(attrs, "error", err)...)
		} else {
			p.log.Warn("closing connection", append(attrs, "error", err)...)
		}
	}
}

func closeReason(err error) string {
	var ne net.Error
	switch {
	case err == nil, errors.Is(err, errClosed):
		return "closed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.Is(err, ErrWrongMagic):
		return "wrong_magic"
	case errors.Is(err, ErrOversized):
		return "oversized"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, errProtocol):
		return "protocol"
	case errors.Is(err, errSink):
		return "sink"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection reset"):
		return "reset"
	}
	return "io"
}

var (
	errProtocol = errors.New("protocol violation")
	errSink     = errors.New("sink failed")
)

func (p *peer) readLoop(ctx, pingCtx context.Context, r *bufio.Reader) error {
	x := p.x
	for {
		timeout := x.opts.IdleTimeout
		if !p.gotVer {
			timeout = x.opts.HandshakeTimeout
		}
		p.conn.SetReadDeadline(time.Now().Add(timeout))
		cmd, payload, err := readMessage(r, x.magic, x.opts.MaxMessageSize)
		if err != nil {
			return err
		}
		recvd := time.Now()
		x.m.messages.WithLabelValues(commandLabel(cmd)).Inc()
		x.m.bytes.Add(float64(headerSize + len(payload)))
		replies, events, err := p.handle(cmd, payload, recvd)
		for _, msg := range replies {
			if werr := p.write(msg); werr != nil {
				return werr
			}
		}
		for _, e := range events {
			ev, eerr := p.build(e)
			if eerr != nil {
				return fmt.Errorf("%w: %v", errProtocol, eerr)
			}
			if serr := x.emit(ev); serr != nil {
				return fmt.Errorf("%w: %v", errSink, serr)
			}
			x.m.events.WithLabelValues(p.label, eventType(e)).Inc()
		}
		if err != nil {
			return err
		}
		if p.startPing {
			p.startPing = false
			if !x.opts.DisablePing {
				go p.pingLoop(pingCtx)
			}
		}
		if ctx.Err() != nil {
			return errClosed
		}
	}
}

// handle processes one message from the node: the replies to send and
// the events to publish. It is the whole protocol logic, free of I/O, so
// it can be fuzzed.
func (p *peer) handle(cmd string, payload []byte, recvd time.Time) (replies []wire.Message, events []*pb.P2P, err error) {
	x := p.x
	if !p.gotVer {
		if cmd != wire.CmdVersion {
			return nil, nil, fmt.Errorf("%w: %q before version", errProtocol, cmd)
		}
		var v wire.MsgVersion
		if err := decodeWire(&v, payload, protocolVersion); err != nil {
			return nil, nil, err
		}
		p.gotVer = true
		p.info = ConnInfo{Remote: p.remote, UserAgent: v.UserAgent, ProtocolVersion: v.ProtocolVersion,
			Services: uint64(v.Services), StartHeight: v.LastBlock}
		p.node = x.opts.Node
		if x.opts.NodeFor != nil {
			p.node = x.opts.NodeFor(p.info)
		}
		if p.log != nil {
			p.log = p.log.With("user_agent", v.UserAgent)
			p.log.Info("version received", "protocol_version", v.ProtocolVersion, "services", fmt.Sprintf("%016x", uint64(v.Services)),
				"start_height", v.LastBlock, "node", p.node)
		}
		x.m.connected.WithLabelValues(p.label, v.UserAgent).Set(1)
		x.nodeInfo(event.NodeInfo{Implementation: event.ImplementationFromUserAgent(v.UserAgent), Version: v.UserAgent, Network: x.opts.Network})
		replies = append(replies, p.versionMessage())
		// BIP155 and BIP339 signal before verack, to peers that know them.
		if v.ProtocolVersion >= int32(wire.AddrV2Version) {
			replies = append(replies, wire.NewMsgSendAddrV2(), wire.NewMsgWTxIdRelay())
		}
		return replies, nil, nil
	}
	switch cmd {
	case wire.CmdVersion:
		return nil, nil, fmt.Errorf("%w: second version message", errProtocol)
	case wire.CmdVerAck:
		if !p.verackOut {
			p.verackOut, p.startPing = true, true
			if p.log != nil {
				p.log.Info("handshake complete")
			}
			return []wire.Message{wire.NewMsgVerAck()}, nil, nil
		}
	case wire.CmdPing:
		var ping wire.MsgPing
		if err := decodeWire(&ping, payload, protocolVersion); err != nil {
			return nil, nil, err
		}
		return []wire.Message{wire.NewMsgPong(ping.Nonce)}, nil, nil
	case wire.CmdPong:
		var pong wire.MsgPong
		if err := decodeWire(&pong, payload, protocolVersion); err != nil {
			return nil, nil, err
		}
		p.pingMu.Lock()
		sent, ok := p.pending[pong.Nonce]
		delete(p.pending, pong.Nonce)
		p.pingMu.Unlock()
		if !ok {
			x.m.unsolicitedPongs.Inc()
			return nil, nil, nil
		}
		// The nonce is the wall-clock send time (peer-observer's
		// convention); the duration uses the monotonic clock, immune to
		// clock steps.
		d := recvd.Sub(sent)
		if d < 0 {
			d = 0
		}
		x.m.pingSeconds.WithLabelValues(p.label).Observe(d.Seconds())
		x.m.lastPing.WithLabelValues(p.label).Set(float64(d.Nanoseconds()))
		if x.opts.DisablePing {
			return nil, nil, nil
		}
		return nil, []*pb.P2P{{P2PEvent: &pb.P2P_PingDuration{PingDuration: &pb.PingDuration{Duration: proto.Uint64(uint64(d.Nanoseconds()))}}}}, nil
	case wire.CmdAddrV2:
		addrs, err := decodeAddrV2(payload)
		if err != nil {
			return nil, nil, err
		}
		if x.opts.DisableAddrV2 {
			return nil, nil, nil
		}
		return nil, []*pb.P2P{{P2PEvent: &pb.P2P_AddressAnnouncement{AddressAnnouncement: &pb.AddressAnnouncement{Addresses: addrs}}}}, nil
	case wire.CmdInv:
		var inv wire.MsgInv
		if err := decodeWire(&inv, payload, protocolVersion); err != nil {
			return nil, nil, err
		}
		if x.opts.DisableInvs {
			return nil, nil, nil
		}
		return nil, []*pb.P2P{{P2PEvent: &pb.P2P_InventoryAnnouncement{InventoryAnnouncement: &pb.InventoryAnnouncement{Inventory: wirepb.InventoryItems(inv.InvList)}}}}, nil
	case wire.CmdFeeFilter:
		var ff wire.MsgFeeFilter
		if err := decodeWire(&ff, payload, protocolVersion); err != nil {
			return nil, nil, err
		}
		if x.opts.DisableFeeFilter {
			return nil, nil, nil
		}
		return nil, []*pb.P2P{{P2PEvent: &pb.P2P_FeefilterAnnouncement{FeefilterAnnouncement: ff.MinFee}}}, nil
	}
	// Everything else (sendcmpct, getheaders, getaddr, addr, tx, ...) is
	// read and dropped, like peer-observer's extractor does.
	return nil, nil, nil
}

func (p *peer) versionMessage() *wire.MsgVersion {
	zero := wire.NewNetAddressIPPort(net.IPv4zero, 0, 0)
	var nonce [8]byte
	rand.Read(nonce[:])
	v := wire.NewMsgVersion(zero, zero, binary.LittleEndian.Uint64(nonce[:]), 0)
	v.ProtocolVersion = protocolVersion
	v.Services = wire.SFNodeNetwork | wire.SFNodeWitness
	v.Timestamp = time.Unix(p.x.opts.Now().Unix(), 0)
	v.UserAgent = p.x.opts.UserAgent
	v.DisableRelayTx = false // relay=true: we want transaction invs
	return v
}

func (p *peer) write(msg wire.Message) error {
	b, err := encodeMessage(msg, p.x.magic)
	if err != nil {
		return err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	p.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := p.conn.Write(b); err != nil {
		return fmt.Errorf("send %s: %w", msg.Command(), err)
	}
	return nil
}

// pingLoop sends a ping every PingInterval, the nonce being the send time
// in nanoseconds since the epoch.
func (p *peer) pingLoop(ctx context.Context) {
	t := time.NewTicker(p.x.opts.PingInterval)
	defer t.Stop()
	for {
		now := p.x.opts.Now()
		nonce := uint64(now.UnixNano())
		p.pingMu.Lock()
		if p.pending == nil {
			p.pending = map[uint64]time.Time{}
		}
		if len(p.pending) >= maxPendingPings {
			var oldest uint64
			for n := range p.pending {
				if oldest == 0 || n < oldest {
					oldest = n
				}
			}
			delete(p.pending, oldest)
		}
		p.pending[nonce] = time.Now()
		p.pingMu.Unlock()
		if err := p.write(wire.NewMsgPing(nonce)); err != nil {
			p.log.Debug("ping not sent; the connection is closing", "error", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *peer) build(msg *pb.P2P) (event.Event, error) {
	ev, err := event.New(&pb.Event{
		Timestamp:         proto.Uint64(uint64(p.x.opts.Now().UnixMilli())),
		PeerObserverEvent: &pb.Event_P2PExtractor{P2PExtractor: msg},
	})
	if err != nil {
		return event.Event{}, err
	}
	ev.Node = p.node
	return ev, nil
}

func eventType(m *pb.P2P) string {
	switch m.GetP2PEvent().(type) {
	case *pb.P2P_PingDuration:
		return "ping_duration"
	case *pb.P2P_AddressAnnouncement:
		return "address_announcement"
	case *pb.P2P_InventoryAnnouncement:
		return "inventory_announcement"
	case *pb.P2P_FeefilterAnnouncement:
		return "feefilter_announcement"
	}
	return "unknown"
}

// knownCommands bounds the command label's values.
var knownCommands = map[string]bool{
	"version": true, "verack": true, "ping": true, "pong": true, "inv": true, "addr": true, "addrv2": true,
	"feefilter": true, "sendaddrv2": true, "wtxidrelay": true, "sendcmpct": true, "sendheaders": true,
	"getheaders": true, "headers": true, "getaddr": true, "getdata": true, "tx": true, "block": true,
	"cmpctblock": true, "getblocktxn": true, "blocktxn": true, "notfound": true, "mempool": true,
	"sendtxrcncl": true, "getblocks": true, "merkleblock": true, "filterload": true, "filteradd": true,
	"filterclear": true, "reject": true, "getcfilters": true, "getcfheaders": true, "getcfcheckpt": true,
	"cfilter": true, "cfheaders": true, "cfcheckpt": true,
}

func commandLabel(cmd string) string {
	if knownCommands[cmd] {
		return cmd
	}
	return "other"
}
