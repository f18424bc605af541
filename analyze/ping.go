package analyze

import (
	"math"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/peertape/peertape/proto/pb"
)

// pingAnalyzer measures how long the node takes to answer a peer's ping:
// from an inbound ping to the node's outbound pong with the same nonce on
// the same peer (eBPF message events). Core queues a ping behind the
// peer's other messages, so this time is the node's message-processing
// backlog as that peer sees it (peer-observer issue #212). Both times are
// the watermark, so a clock that steps backwards between the two cannot
// give a negative duration.
//
// Matching is first-in first-out per peer: a pong answers the oldest
// outstanding ping with its nonce, so a reused nonce is matched in order
// (and counted). Pings older than the matched one were skipped by the
// node or their pongs were lost; they are dropped as "skipped". A pong
// with no outstanding ping of its nonce counts as unmatched.
type pingAnalyzer struct {
	e           *Engine
	maxPerPeer  int
	timeout     int64
	window      int64
	outstanding int

	response   [numConnTypes]prometheus.Observer
	rings      [numConnTypes]*sampleRing
	respCount  [numConnTypes]uint64
	respSum    [numConnTypes]float64
	quantDesc  *prometheus.Desc
	unmatched  prometheus.Counter
	reuse      prometheus.Counter
	unanswered map[string]prometheus.Counter
	extractor  prometheus.Histogram
}

// Connection types as Core names them (peer-observer's ConnType enum).
const (
	ctUnknown = iota
	ctInbound
	ctOutboundFullRelay
	ctBlockRelayOnly
	ctFeeler
	numConnTypes
)

var connTypeNames = [numConnTypes]string{"unknown", "inbound", "outbound-full-relay", "block-relay-only", "feeler"}

func connTypeIndex(ct pb.ConnType) int {
	if ct >= 0 && int(ct) < numConnTypes {
		return int(ct)
	}
	return ctUnknown
}

// Buckets for ping response times. Event time has millisecond resolution,
// so nothing below 1 ms can be told apart.
var bucketsPingSeconds = []float64{0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1200}

// The p2p-extractor measures in nanoseconds.
var bucketsExtractorPingSeconds = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

var pingQuantiles = []float64{0.5, 0.9, 0.99}

var unansweredReasons = []string{"disconnected", "timeout", "overflow", "evicted", "skipped"}

func newPingAnalyzer(e *Engine, f promauto.Factory) *pingAnalyzer {
	l := e.opts.Limits
	p := &pingAnalyzer{
		e:          e,
		maxPerPeer: l.MaxPingsPerPeer,
		timeout:    l.PingTimeout.Milliseconds(),
		window:     l.PingQuantileWindow.Milliseconds(),
		unanswered: map[string]prometheus.Counter{},
	}
	resp := f.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "peertape_ping_response_seconds",
		Help:    "Time from a peer's ping to the node's pong with the same nonce (eBPF events), by connection type: the node's message-processing backlog.",
		Buckets: bucketsPingSeconds,
	}, []string{"connection_type"})
	for i := range p.response {
		p.response[i] = resp.WithLabelValues(connTypeNames[i])
		p.rings[i] = newSampleRing(l.PingQuantileSamples)
	}
	p.quantDesc = prometheus.NewDesc("peertape_ping_response_recent_seconds",
		"Ping response time by connection type: quantiles over the trailing window (Limits.PingQuantileWindow, at most Limits.PingQuantileSamples responses; NaN when none), count and sum over all responses.",
		[]string{"connection_type"}, nil)
	e.reg.MustRegister(collectorFunc{p.quantDesc, p.collectQuantiles})
	p.unmatched = f.NewCounter(prometheus.CounterOpts{
		Name: "peertape_pong_unmatched_total",
		Help: "Pongs the node sent with no outstanding ping of that nonce on that peer.",
	})
	p.reuse = f.NewCounter(prometheus.CounterOpts{
		Name: "peertape_ping_nonce_reuse_total",
		Help: "Inbound pings whose nonce equals one still outstanding on the same peer.",
	})
	un := f.NewCounterVec(prometheus.CounterOpts{
		Name: "peertape_ping_unanswered_total",
		Help: "Inbound pings dropped without a matching pong, by reason: disconnected, timeout, overflow (too many outstanding on the peer), evicted (peer state evicted), skipped (a later ping was answered first).",
	}, []string{"reason"})
	for _, r := range unansweredReasons {
		p.unanswered[r] = un.WithLabelValues(r)
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "peertape_ping_outstanding",
		Help: "Inbound pings waiting for the node's pong.",
	}, func() float64 { return float64(p.outstanding) })
	e.reg.MustRegister(newFuncCollector("peertape_ping_oldest_outstanding_seconds",
		"Age of the oldest inbound ping still waiting for the node's pong at the latest event time (0 when none).",
		prometheus.GaugeValue, nil, func(emit func(float64, ...string)) {
			oldest := int64(math.MaxInt64)
			for _, ps := range e.peers.m {
				if len(ps.pings) > 0 && ps.pings[0].at < oldest {
					oldest = ps.pings[0].at
				}
			}
			if oldest == math.MaxInt64 {
				emit(0)
				return
			}
			emit(float64(max(0, e.now-oldest)) / 1000)
		}))
	p.extractor = f.NewHistogram(prometheus.HistogramOpts{
		Name:    "peertape_p2pextractor_ping_duration_seconds",
		Help:    "Time the node took to answer the p2p-extractor's pings (peer-observer exposes only the latest, in ns).",
		Buckets: bucketsExtractorPingSeconds,
	})
	return p
}

func (p *pingAnalyzer) ping(c *evctx, ps *peerState, nonce uint64) {
	p.expire(ps, c.now)
	for _, pp := range ps.pings {
		if pp.nonce == nonce {
			p.reuse.Inc()
			break
		}
	}
	if len(ps.pings) >= p.maxPerPeer {
		n := len(ps.pings) - p.maxPerPeer + 1
		p.drop(ps, n, "overflow")
	}
	ps.pings = append(ps.pings, pendingPing{nonce: nonce, at: c.now})
	p.outstanding++
}

func (p *pingAnalyzer) pong(c *evctx, ps *peerState, nonce uint64) {
	p.expire(ps, c.now)
	idx := slices.IndexFunc(ps.pings, func(pp pendingPing) bool { return pp.nonce == nonce })
	if idx < 0 {
		p.unmatched.Inc()
		return
	}
	if idx > 0 {
		p.drop(ps, idx, "skipped")
	}
	at := ps.pings[0].at
	d := float64(c.now-at) / 1000
	p.drop(ps, 1, "")
	ct := connTypeIndex(ps.connType)
	p.response[ct].Observe(d)
	p.rings[ct].add(c.now, d)
	p.respCount[ct]++
	p.respSum[ct] += d
	p.e.det.pingBacklog.observeFrom(c, at, d, hit(peerRef{ps.key, ps.addr}))
}

// drop removes the n oldest pings of a peer, counting them as unanswered
// with reason (none for a matched ping).
func (p *pingAnalyzer) drop(ps *peerState, n int, reason string) {
	n = min(n, len(ps.pings))
	if n <= 0 {
		return
	}
	if reason != "" {
		p.unanswered[reason].Add(float64(n))
	}
	ps.pings = append(ps.pings[:0], ps.pings[n:]...)
	p.outstanding -= n
}

// expire drops the peer's pings older than the timeout (they are oldest
// first).
func (p *pingAnalyzer) expire(ps *peerState, now int64) {
	n := 0
	for n < len(ps.pings) && now-ps.pings[n].at > p.timeout {
		n++
	}
	p.drop(ps, n, "timeout")
}

// sweep expires stale pings of every peer; the engine calls it once per
// minute of event time, so peers that went quiet do not hold pings until
// eviction.
func (p *pingAnalyzer) sweep(now int64) {
	if p.outstanding == 0 {
		return
	}
	for _, ps := range p.e.peers.m {
		if len(ps.pings) > 0 {
			p.expire(ps, now)
		}
	}
}

// dropPeer forgets a peer's outstanding pings when its state goes away.
func (p *pingAnalyzer) dropPeer(ps *peerState, reason string) {
	p.drop(ps, len(ps.pings), reason)
}

func (p *pingAnalyzer) extractorPing(c *evctx, ns uint64) {
	d := float64(ns) / 1e9
	p.extractor.Observe(d)
	p.e.det.pingBacklog.observeFrom(c, c.now-int64(ns/1e6), d)
}

func (p *pingAnalyzer) collectQuantiles(ch chan<- prometheus.Metric) {
	now := p.e.evalNow
	var buf []float64
	for ct, r := range p.rings {
		if p.respCount[ct] == 0 {
			continue
		}
		buf = r.since(buf[:0], now-p.window, now)
		slices.Sort(buf)
		qs := make(map[float64]float64, len(pingQuantiles))
		for _, q := range pingQuantiles {
			if len(buf) == 0 {
				qs[q] = math.NaN()
			} else {
				qs[q] = quantile(buf, q)
			}
		}
		ch <- prometheus.MustNewConstSummary(p.quantDesc, p.respCount[ct], p.respSum[ct], qs, connTypeNames[ct])
	}
}

// sampleRing keeps the latest values with their times.
type sampleRing struct {
	at   []int64
	v    []float64
	next int
	full bool
}

func newSampleRing(n int) *sampleRing {
	return &sampleRing{at: make([]int64, n), v: make([]float64, n)}
}

func (r *sampleRing) add(at int64, v float64) {
	r.at[r.next], r.v[r.next] = at, v
	r.next++
	if r.next == len(r.at) {
		r.next, r.full = 0, true
	}
}

// since appends the values with from < at <= to.
func (r *sampleRing) since(dst []float64, from, to int64) []float64 {
	n := r.next
	if r.full {
		n = len(r.at)
	}
	for i := 0; i < n; i++ {
		if r.at[i] > from && r.at[i] <= to {
			dst = append(dst, r.v[i])
		}
	}
	return dst
}
