package synth

import (
	"context"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// action is one scheduled step of the simulation.
type action struct {
	at   int64 // event time, ms
	seq  uint64
	anom bool // scheduled by an anomaly: its events count as anomaly events
	fn   func()
}

// actionHeap is a binary min-heap ordered by (at, seq), so that actions at
// the same millisecond run in the order they were scheduled.
type actionHeap []action

func (h actionHeap) less(i, j int) bool {
	return h[i].at < h[j].at || (h[i].at == h[j].at && h[i].seq < h[j].seq)
}

func (h *actionHeap) push(a action) {
	*h = append(*h, a)
	q := *h
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *actionHeap) pop() action {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q[n] = action{}
	q = q[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

// Stats summarises a finished run.
type Stats struct {
	Events        uint64 // all events emitted
	AnomalyEvents uint64 // events caused by anomalies (on top of the baseline)
	RawBytes      uint64 // sum of event.Event sizes
	Blocks        int    // blocks connected
	TxAccepted    uint64 // transactions added to the mempool
	Connections   uint64 // connections opened during the run
	// Activity is the final traffic multiplier the rate controller chose
	// (1 is the calibrated default node).
	Activity float64
	// Injected lists the anomalies as they were injected.
	Injected []Injected
}

// sim is the state of one run. It is single-threaded: actions run in time
// order and emit events as they go, so event times never decrease.
type sim struct {
	o    Options
	ctx  context.Context
	sink event.Sink
	err  error

	now, start, end int64 // ms
	q               actionHeap
	seq             uint64
	inAnom          bool

	rTx, rPeers, rChurn, rBlocks, rRPC, rLog, rAddr, rPing, rAnom, rMisc, rRelay *rng

	activity float64
	baseEv   uint64
	lastBase uint64
	obsRate  float64
	stats    Stats

	lastLogUs int64

	net     *network
	pool    *mempool
	chain   *chain
	addrs   *addrBook
	anoms   *anomalies
	scratch []byte
}

// Generator produces a synthetic event stream. It implements event.Source;
// every call to Run produces the same events for the same Options.
type Generator struct {
	o     Options
	stats Stats
}

// New validates o and returns a generator.
func New(o Options) (*Generator, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	return &Generator{o: o.withDefaults()}, nil
}

// Options returns the options with defaults filled in.
func (g *Generator) Options() Options { return g.o }

// Stats returns the statistics of the last completed Run.
func (g *Generator) Stats() Stats { return g.stats }

// Run generates the stream into sink in event-time order. It returns nil
// when the whole duration was generated, the context's error when
// cancelled, or the sink's error (event.ErrStop ends it without error).
// Node info (implementation "synthetic") is passed to sinks that accept it.
func (g *Generator) Run(ctx context.Context, sink event.Sink) error {
	if ns, ok := sink.(event.NodeInfoSink); ok {
		ns.NodeInfo(event.NodeInfo{Implementation: Implementation, Version: NodeUserAgent, Network: "mainnet"})
	}
	s := newSim(g.o, ctx, sink)
	err := s.run()
	g.stats = s.stats
	if errors.Is(err, event.ErrStop) {
		return nil
	}
	return err
}

func newSim(o Options, ctx context.Context, sink event.Sink) *sim {
	s := &sim{o: o, ctx: ctx, sink: sink}
	s.start = o.Start.UnixMilli()
	s.end = s.start + o.Duration.Milliseconds()
	s.now = s.start
	seed := o.Seed
	s.rTx = newRNG(seed, streamTx)
	s.rPeers = newRNG(seed, streamPeers)
	s.rChurn = newRNG(seed, streamChurn)
	s.rBlocks = newRNG(seed, streamBlocks)
	s.rRPC = newRNG(seed, streamRPC)
	s.rLog = newRNG(seed, streamLog)
	s.rAddr = newRNG(seed, streamAddr)
	s.rPing = newRNG(seed, streamPing)
	s.rAnom = newRNG(seed, streamAnomaly)
	s.rMisc = newRNG(seed, streamMisc)
	s.rRelay = newRNG(seed, streamRelay)
	s.activity = initialActivity(o.Rate)
	if fixedActivity > 0 {
		s.activity = fixedActivity
	}
	s.obsRate = o.Rate
	s.lastLogUs = s.start * 1000
	return s
}

// Calibration of the rate controller: the event rate the model produces
// at a few activity levels (measured over 20 minutes of event time). The
// fixed part (pings, RPC polls, the p2p-extractor, blocks, address
// gossip) is about 50 events/s; inv messages saturate as activity grows.
var calibration = [][2]float64{{48, 0.01}, {412, 0.25}, {1153, 1}, {3125, 3}}

// fixedActivity, when set (by tests calibrating the model), pins the
// activity and turns the controller off.
var fixedActivity float64

// initialActivity interpolates the calibration for rate.
func initialActivity(rate float64) float64 {
	c := calibration
	for i := 1; i < len(c); i++ {
		if rate <= c[i][0] || i == len(c)-1 {
			lo, hi := c[i-1], c[i]
			a := lo[1] + (rate-lo[0])*(hi[1]-lo[1])/(hi[0]-lo[0])
			return math.Max(0.005, a)
		}
	}
	return 1
}

// at schedules fn at event time t (never before now).
func (s *sim) at(t int64, fn func()) {
	if t < s.now {
		t = s.now
	}
	s.seq++
	s.q.push(action{at: t, seq: s.seq, anom: s.inAnom, fn: fn})
}

// after schedules fn d milliseconds from now.
func (s *sim) after(d int64, fn func()) { s.at(s.now+max(0, d), fn) }

func (s *sim) run() error {
	s.addrs = newAddrBook(s)
	s.chain = newChain(s)
	s.pool = newMempool(s)
	s.net = newNetwork(s)
	s.anoms = newAnomalies(s)
	s.net.init()
	s.pool.init()
	s.chain.init()
	s.startRPC()
	s.startP2PExtractor()
	s.startLogs()
	s.anoms.init()
	s.at(s.start+10_000, s.control)

	for len(s.q) > 0 {
		a := s.q.pop()
		if a.at >= s.end {
			break
		}
		s.now = a.at
		s.inAnom = a.anom
		a.fn()
		s.inAnom = false
		if s.err != nil {
			return s.err
		}
	}
	s.stats.Activity = s.activity
	for _, in := range s.anoms.list {
		s.stats.Injected = append(s.stats.Injected, *in)
	}
	return s.ctx.Err()
}

// control keeps the baseline event count on target: every 10 s of event
// time it scales the activity (transaction arrivals, spy-node churn) so
// that the count would meet Rate × elapsed a minute from now. Events
// caused by anomalies are not counted, so anomalies add on top.
func (s *sim) control() {
	const period, horizon = 10.0, 60.0
	if fixedActivity > 0 {
		return
	}
	got := float64(s.baseEv - s.lastBase)
	s.lastBase = s.baseEv
	s.obsRate = 0.7*s.obsRate + 0.3*(got/period)
	elapsed := float64(s.now-s.start) / 1000
	need := (s.o.Rate*(elapsed+horizon) - float64(s.baseEv)) / horizon
	if s.obsRate > 0 {
		f := need / s.obsRate
		f = math.Min(1.2, math.Max(0.83, f))
		s.activity = math.Min(400, math.Max(0.005, s.activity*f))
	}
	s.after(10_000, s.control)
}

// emit stamps e with the current event time and hands it to the sink.
func (s *sim) emit(e *pb.Event) {
	if s.err != nil {
		return
	}
	e.Timestamp = proto.Uint64(uint64(s.now))
	raw, err := event.Marshal(e)
	if err != nil {
		s.err = fmt.Errorf("synth: event at %d ms: %w", s.now, err)
		return
	}
	s.emitRaw(raw)
}

// Event builders for each extractor.

func ebpfEvent(e *pb.Ebpf) *pb.Event {
	return &pb.Event{PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: e}}
}

func rpcEvent(r *pb.Rpc) *pb.Event {
	return &pb.Event{PeerObserverEvent: &pb.Event_RpcExtractor{RpcExtractor: r}}
}

func p2pEvent(p *pb.P2P) *pb.Event {
	return &pb.Event{PeerObserverEvent: &pb.Event_P2PExtractor{P2PExtractor: p}}
}

func connEvent(c *pb.ConnectionEvent) *pb.Event {
	return ebpfEvent(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: c}})
}

func mempoolEvent(m *pb.MempoolEvent) *pb.Event {
	return ebpfEvent(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Mempool{Mempool: m}})
}
