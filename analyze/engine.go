package analyze

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// Options configures an Engine. The zero value is usable: no IP lists, the
// default limits and detector thresholds.
type Options struct {
	// Lists are the IP lists peer-observer has built in; nil lists are
	// empty (their metrics exist and stay 0).
	Lists IPLists
	// Limits bound the engine's memory.
	Limits Limits
	// Detect sets the anomaly detectors' thresholds.
	Detect DetectOptions
}

// Limits bound the state the analyzers keep. Zero fields take the
// defaults named after them.
type Limits struct {
	// MaxPeers bounds the per-peer table (outstanding pings, last
	// feefilter, address). Default DefaultMaxPeers.
	MaxPeers int
	// MaxPingsPerPeer bounds the outstanding inbound pings per peer.
	// Default DefaultMaxPingsPerPeer.
	MaxPingsPerPeer int
	// PingTimeout expires an inbound ping the node has not answered.
	// Default DefaultPingTimeout (Core disconnects a peer whose ping is
	// unanswered for 20 minutes; an unanswered ping from the peer is
	// the same order of magnitude).
	PingTimeout time.Duration
	// PingQuantileWindow and PingQuantileSamples define the trailing
	// window the ping response quantiles are computed over: samples no
	// older than the window, at most this many per connection type.
	// Defaults DefaultPingQuantileWindow and DefaultPingQuantileSamples.
	PingQuantileWindow  time.Duration
	PingQuantileSamples int
	// MaxRecentTxs and MaxRecentBlocks bound the maps from transaction
	// id and block hash to the peer that sent it, used to name the peers
	// behind rejections and mutated blocks. Defaults DefaultMaxRecentTxs
	// and DefaultMaxRecentBlocks.
	MaxRecentTxs    int
	MaxRecentBlocks int
	// MaxAddrmanEntries bounds the previous getrawaddrman snapshot kept
	// for diffs; past it, diffs are skipped and counted. Default
	// DefaultMaxAddrmanEntries (Core's tables hold 81,920).
	MaxAddrmanEntries int
	// MaxOrphans bounds the previous getorphantxs snapshot. Default
	// DefaultMaxOrphans.
	MaxOrphans int
}

// Defaults for Limits.
const (
	DefaultMaxPeers            = 4096
	DefaultMaxPingsPerPeer     = 16
	DefaultPingTimeout         = 20 * time.Minute
	DefaultPingQuantileWindow  = 10 * time.Minute
	DefaultPingQuantileSamples = 1024
	DefaultMaxRecentTxs        = 16384
	DefaultMaxRecentBlocks     = 256
	DefaultMaxAddrmanEntries   = 1 << 18
	DefaultMaxOrphans          = 1 << 16
)

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxPeers, DefaultMaxPeers)
	def(&l.MaxPingsPerPeer, DefaultMaxPingsPerPeer)
	def(&l.PingQuantileSamples, DefaultPingQuantileSamples)
	def(&l.MaxRecentTxs, DefaultMaxRecentTxs)
	def(&l.MaxRecentBlocks, DefaultMaxRecentBlocks)
	def(&l.MaxAddrmanEntries, DefaultMaxAddrmanEntries)
	def(&l.MaxOrphans, DefaultMaxOrphans)
	if l.PingTimeout <= 0 {
		l.PingTimeout = DefaultPingTimeout
	}
	if l.PingQuantileWindow <= 0 {
		l.PingQuantileWindow = DefaultPingQuantileWindow
	}
	return l
}

// Engine runs every analyzer over an event stream. It implements
// event.Sink. Consume, the writers, Handler and Report may be called from
// different goroutines: a mutex serialises them, so a scrape sees the state
// between two events, never in the middle of one.
type Engine struct {
	mu   sync.Mutex
	opts Options
	reg  *prometheus.Registry
	msg  pb.Event // reused for every decode

	started      bool
	first, now   int64 // first event time, watermark (ms)
	evalNow      int64 // time collectors evaluate windows at
	events       uint64
	version      uint64 // changes with every event consumed (samplers compare it)
	nodeNames    []string
	nodeFirst    []int64 // each node's first event time (watermark), ms
	nodeIdx      map[string]uint32
	lastNode     string
	lastNodeIdx  uint32
	nextSweep    int64
	samplers     []*Sampler
	samplerError error

	peers        *peerTable
	recentTxs    *boundedMap[[32]byte, peerRef]
	recentBlocks *boundedMap[string, []peerRef]

	po      *upstream
	ping    *pingAnalyzer
	relay   *relayAnalyzer
	pinfo   *peerInfoAnalyzer
	orphans *orphanAnalyzer
	addrman *addrmanAnalyzer
	blocks  *blockAnalyzer
	det     *detectors

	m engineMetrics
}

type engineMetrics struct {
	eventsByKind    [16]prometheus.Counter
	malformed       prometheus.Counter
	outOfOrder      prometheus.Counter
	unknownMessages [2]prometheus.Counter // by direction: 0 outbound, 1 inbound
	evictions       *prometheus.CounterVec
	evictPeers      prometheus.Counter
	evictTxs        prometheus.Counter
	evictBlocks     prometheus.Counter
}

// peerRef names a peer in anomalies: the node-scoped key and its address
// as last seen.
type peerRef struct {
	key  peerKey
	addr string
}

// evctx is what every handler gets besides the decoded event.
type evctx struct {
	t    int64 // the event's own time, ms
	now  int64 // the watermark, ms
	node uint32
}

// sweepInterval is how often (in event time) stale pings are expired.
const sweepInterval = int64(time.Minute / time.Millisecond)

// New returns an Engine with its own registry and every analyzer
// registered on it.
func New(opts Options) (*Engine, error) {
	opts.Limits = opts.Limits.withDefaults()
	opts.Detect = opts.Detect.withDefaults()
	if err := opts.Detect.validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		opts:         opts,
		reg:          prometheus.NewRegistry(),
		nodeIdx:      map[string]uint32{},
		peers:        newPeerTable(opts.Limits.MaxPeers),
		recentTxs:    newBoundedMap[[32]byte, peerRef](opts.Limits.MaxRecentTxs),
		recentBlocks: newBoundedMap[string, []peerRef](opts.Limits.MaxRecentBlocks),
	}
	e.nodeName("") // index 0 is the unnamed node
	f := promauto.With(e.reg)
	kinds := f.NewCounterVec(prometheus.CounterOpts{
		Name: "peertape_events_total",
		Help: "Events the analyzers consumed, by kind (unknown: an event.Event oneof arm this build does not know).",
	}, []string{"kind"})
	for _, k := range event.Kinds() {
		e.m.eventsByKind[k] = kinds.WithLabelValues(k.String())
	}
	e.m.malformed = f.NewCounter(prometheus.CounterOpts{
		Name: "peertape_events_malformed_total",
		Help: "Events whose bytes did not decode as an event.Event; they are skipped.",
	})
	e.m.outOfOrder = f.NewCounter(prometheus.CounterOpts{
		Name: "peertape_events_out_of_order_total",
		Help: "Events whose event time was earlier than the latest event time seen before them (the clock went backwards).",
	})
	unknown := f.NewCounterVec(prometheus.CounterOpts{
		Name: "peertape_p2p_unknown_messages_total",
		Help: "P2P message events of a type the extractor could not decode (the unknown arm) or this build does not know, by direction.",
	}, []string{"direction"})
	e.m.unknownMessages = [2]prometheus.Counter{unknown.WithLabelValues("outbound"), unknown.WithLabelValues("inbound")}
	e.m.evictions = f.NewCounterVec(prometheus.CounterOpts{
		Name: "peertape_state_evictions_total",
		Help: "Entries dropped from the analyzers' bounded state because it was full, by state.",
	}, []string{"state"})
	e.m.evictPeers = e.m.evictions.WithLabelValues("peers")
	e.m.evictTxs = e.m.evictions.WithLabelValues("recent_txs")
	e.m.evictBlocks = e.m.evictions.WithLabelValues("recent_blocks")
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "peertape_first_event_timestamp_seconds",
		Help: "Event time of the first event consumed, UNIX seconds.",
	}, func() float64 { return float64(e.first) / 1000 })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "peertape_last_event_timestamp_seconds",
		Help: "Latest event time seen (the watermark), UNIX seconds.",
	}, func() float64 { return float64(e.now) / 1000 })
	e.reg.MustRegister(newFuncCollector("peertape_state_entries",
		"Entries held in the analyzers' bounded state, by state.", prometheus.GaugeValue, []string{"state"},
		func(emit func(float64, ...string)) {
			emit(float64(e.peers.len()), "peers")
			emit(float64(e.recentTxs.len()), "recent_txs")
			emit(float64(e.recentBlocks.len()), "recent_blocks")
			emit(float64(e.ping.outstanding), "pings")
			emit(float64(e.addrman.remembered()), "addrman")
			emit(float64(len(e.orphans.prev)), "orphans")
		}))

	e.det = newDetectors(e, f)
	e.po = newUpstream(e, prometheus.WrapRegistererWithPrefix("peerobserver_", e.reg))
	e.ping = newPingAnalyzer(e, f)
	e.relay = newRelayAnalyzer(e, f)
	e.pinfo = newPeerInfoAnalyzer(e, f)
	e.orphans = newOrphanAnalyzer(e, f)
	e.addrman = newAddrmanAnalyzer(e, f)
	e.blocks = newBlockAnalyzer(e, f)
	e.peers.onEvict = func(ps *peerState) {
		e.ping.dropPeer(ps, "evicted")
		e.m.evictPeers.Inc()
	}
	e.peers.onRemove = func(ps *peerState) { e.ping.dropPeer(ps, "disconnected") }
	return e, nil
}

// Registry returns the engine's registry. Callers may gather it; they
// must not register collectors that depend on the wall clock, or the
// exposition stops being a function of the events.
func (e *Engine) Registry() *prometheus.Registry { return e.reg }

// nodeName interns a node name to its index.
func (e *Engine) nodeName(name string) uint32 {
	if name == e.lastNode && len(e.nodeNames) > 0 {
		return e.lastNodeIdx
	}
	i, ok := e.nodeIdx[name]
	if !ok {
		i = uint32(len(e.nodeNames))
		e.nodeIdx[name] = i
		e.nodeNames = append(e.nodeNames, name)
		e.nodeFirst = append(e.nodeFirst, e.now)
	}
	e.lastNode, e.lastNodeIdx = name, i
	return i
}

// Consume analyzes one event. It never fails: an event that does not
// decode is counted (peertape_events_malformed_total) and skipped, so a bad
// record cannot stop a live exporter or a replay.
func (e *Engine) Consume(ev event.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.consume(ev)
	return nil
}

func (e *Engine) consume(ev event.Event) {
	t := ev.Time
	if !e.started {
		e.started = true
		e.first, e.now, e.evalNow = t, t, t
		e.nextSweep = t + sweepInterval
		e.po.start(t)
		for _, s := range e.samplers {
			s.begin(t)
		}
	} else if t < e.now {
		e.m.outOfOrder.Inc()
	} else if t > e.now {
		e.advanceSamplers(t)
		e.now = t
		e.evalNow = t
	}
	// Counted only now: samples of boundaries up to this event's time
	// were taken above and must not include it.
	e.events++
	e.version++
	if int(ev.Kind) < len(e.m.eventsByKind) && e.m.eventsByKind[ev.Kind] != nil {
		e.m.eventsByKind[ev.Kind].Inc()
	}
	if ev.Kind == event.Unknown {
		return
	}
	if err := ev.DecodeInto(&e.msg); err != nil {
		e.m.malformed.Inc()
		return
	}
	c := evctx{t: t, now: e.now, node: e.nodeName(ev.Node)}
	if e.now >= e.nextSweep {
		e.ping.sweep(e.now)
		e.nextSweep = e.now + sweepInterval
	}
	switch x := e.msg.PeerObserverEvent.(type) {
	case *pb.Event_EbpfExtractor:
		e.ebpf(&c, x.EbpfExtractor)
	case *pb.Event_RpcExtractor:
		e.rpc(&c, x.RpcExtractor)
	case *pb.Event_P2PExtractor:
		e.p2pExtractor(&c, x.P2PExtractor)
	case *pb.Event_LogExtractor:
		e.po.log(&c, x.LogExtractor)
		e.blocks.log(&c, x.LogExtractor)
	case *pb.Event_IpcExtractor:
		e.po.ipc(x.IpcExtractor)
	}
}

func (e *Engine) ebpf(c *evctx, x *pb.Ebpf) {
	switch y := x.EbpfEvent.(type) {
	case *pb.Ebpf_Message:
		m := y.Message
		e.po.message(c, m)
		e.messageAnalyzers(c, m)
	case *pb.Ebpf_Connection:
		e.po.connection(c, y.Connection)
		e.connection(c, y.Connection)
	case *pb.Ebpf_Mempool:
		e.po.mempool(y.Mempool)
		e.mempool(c, y.Mempool)
	case *pb.Ebpf_Validation:
		e.po.validation(y.Validation)
		e.blocks.validation(c, y.Validation)
	case *pb.Ebpf_Addrman:
		e.po.addrmanEvent(y.Addrman)
	}
}

// messageAnalyzers runs peertape's own analyzers on a P2P message.
func (e *Engine) messageAnalyzers(c *evctx, m *pb.MessageEvent) {
	meta := m.GetMeta()
	inbound := meta.GetInbound()
	key := peerKey{c.node, meta.GetPeerId()}
	switch x := m.Msg.(type) {
	case *pb.MessageEvent_Ping:
		if inbound {
			e.ping.ping(c, e.touchPeer(key, meta), x.Ping.GetValue())
		}
	case *pb.MessageEvent_Pong:
		if !inbound {
			e.ping.pong(c, e.touchPeer(key, meta), x.Pong.GetValue())
		}
	case *pb.MessageEvent_Addr:
		e.relay.addr(c, inbound, msgAddr, len(x.Addr.GetAddresses()))
	case *pb.MessageEvent_Addrv2:
		e.relay.addr(c, inbound, msgAddrv2, len(x.Addrv2.GetAddresses()))
	case *pb.MessageEvent_Emptyaddrv2:
		e.relay.addr(c, inbound, msgAddrv2, 0)
	case *pb.MessageEvent_Inv:
		e.relay.inv(c, inbound, x.Inv.GetItems())
	case *pb.MessageEvent_Feefilter:
		e.relay.feefilter(e.touchPeer(key, meta), inbound, x.Feefilter.GetFee())
	case *pb.MessageEvent_Tx:
		if inbound {
			var id [32]byte
			if copy(id[:], x.Tx.GetTx().GetTxid()) == 32 {
				before := e.recentTxs.evictions
				e.recentTxs.put(id, peerRef{key, meta.GetAddr()})
				if e.recentTxs.evictions != before {
					e.m.evictTxs.Inc()
				}
			}
		}
	case *pb.MessageEvent_Block:
		if inbound {
			e.blockFrom(key, meta, x.Block.GetHeader().GetHash())
		}
	case *pb.MessageEvent_Compactblock:
		if inbound {
			e.blockFrom(key, meta, x.Compactblock.GetHeader().GetHash())
		}
	case *pb.MessageEvent_Unknown, nil:
		e.m.unknownMessages[b2i(inbound)].Inc()
	}
}

// touchPeer returns the peer's state, refreshing its address and
// connection type.
func (e *Engine) touchPeer(k peerKey, meta *pb.Metadata) *peerState {
	ps := e.peers.get(k)
	if a := meta.GetAddr(); a != "" && a != ps.addr {
		ps.addr = a
	}
	ps.connType = meta.GetConnType()
	return ps
}

// blockFrom remembers which peers sent a block, by display-order hash,
// so a mutated block found in the log can name them.
func (e *Engine) blockFrom(k peerKey, meta *pb.Metadata, hash []byte) {
	if len(hash) != 32 {
		return
	}
	h := displayHex(hash)
	refs, _ := e.recentBlocks.get(h)
	for _, r := range refs {
		if r.key == k {
			return
		}
	}
	if len(refs) < 16 {
		before := e.recentBlocks.evictions
		e.recentBlocks.put(h, append(refs, peerRef{k, meta.GetAddr()}))
		if e.recentBlocks.evictions != before {
			e.m.evictBlocks.Inc()
		}
	}
}

func (e *Engine) connection(c *evctx, ce *pb.ConnectionEvent) {
	switch x := ce.Event.(type) {
	case *pb.ConnectionEvent_Inbound:
		conn := x.Inbound.GetConn()
		k := peerKey{c.node, conn.GetPeerId()}
		ps := e.peers.get(k)
		ps.addr, ps.connType = conn.GetAddr(), conn.GetConnType()
		e.det.inboundFlood.event(c, peerRef{k, ps.addr})
	case *pb.ConnectionEvent_Outbound:
		conn := x.Outbound.GetConn()
		ps := e.peers.get(peerKey{c.node, conn.GetPeerId()})
		ps.addr, ps.connType = conn.GetAddr(), conn.GetConnType()
	case *pb.ConnectionEvent_Closed:
		e.peers.remove(peerKey{c.node, x.Closed.GetConn().GetPeerId()})
	case *pb.ConnectionEvent_Misbehaving:
		k := peerKey{c.node, x.Misbehaving.GetId()}
		ref := peerRef{key: k}
		if ps := e.peers.lookup(k); ps != nil {
			ref.addr = ps.addr
		}
		e.det.misbehaving.event(c, ref)
	}
}

func (e *Engine) mempool(c *evctx, me *pb.MempoolEvent) {
	if r, ok := me.Event.(*pb.MempoolEvent_Rejected); ok {
		var id [32]byte
		var refs []peerRef
		if copy(id[:], r.Rejected.GetTxid()) == 32 {
			if ref, ok := e.recentTxs.get(id); ok {
				refs = append(refs, ref)
			}
		}
		e.det.rejectSpike.event(c, refs...)
	}
}

func (e *Engine) rpc(c *evctx, r *pb.Rpc) {
	e.po.rpc(c, r)
	switch x := r.RpcEvent.(type) {
	case *pb.Rpc_PeerInfos:
		e.pinfo.peerInfos(c, x.PeerInfos)
	case *pb.Rpc_OrphanTxs:
		e.orphans.snapshot(c, x.OrphanTxs)
	case *pb.Rpc_Addrman:
		e.addrman.snapshot(c, x.Addrman)
	}
}

func (e *Engine) p2pExtractor(c *evctx, p *pb.P2P) {
	e.po.p2pExtractor(p)
	switch x := p.P2PEvent.(type) {
	case *pb.P2P_PingDuration:
		e.ping.extractorPing(c, x.PingDuration.GetDuration())
	case *pb.P2P_AddressAnnouncement:
		e.relay.extractorAddr(c, len(x.AddressAnnouncement.GetAddresses()))
	case *pb.P2P_InventoryAnnouncement:
		e.relay.extractorInv(c, x.InventoryAnnouncement.GetInventory())
	case *pb.P2P_FeefilterAnnouncement:
		e.relay.extractorFeefilter(x.FeefilterAnnouncement)
	}
}

// Now returns the watermark: the latest event time seen, ms.
func (e *Engine) Now() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// Events returns the number of events consumed.
func (e *Engine) Events() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.events
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func direction(inbound bool) string {
	if inbound {
		return "inbound"
	}
	return "outbound"
}

// displayHex renders a hash in internal byte order as display-order hex
// (reversed), as block explorers and debug.log show it.
func displayHex(h []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(h))
	for i := range h {
		b := h[len(h)-1-i]
		out[2*i] = digits[b>>4]
		out[2*i+1] = digits[b&0xf]
	}
	return string(out)
}

// String describes the engine for logs.
func (e *Engine) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fmt.Sprintf("analyze.Engine{events: %d, peers: %d}", e.events, e.peers.len())
}
