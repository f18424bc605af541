package analyze

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/peertape/peertape/event"
)

// DetectOptions are the anomaly detectors' thresholds. Zero fields take the
// defaults named after them. Counts are over a trailing Window of event
// time; an anomaly lasts from the first event that reached its threshold
// to the last one, and ends once Cooldown passes without the threshold
// being reached again.
type DetectOptions struct {
	// PingBacklog: a ping answered slower than this, whether a peer's
	// ping (eBPF) or the p2p-extractor's. Default DefaultPingBacklog.
	PingBacklog time.Duration
	// InboundFlood: inbound connections within Window. Default
	// DefaultInboundFlood. A window is a flood only when it also reaches
	// InboundFloodFactor times the node's baseline (see flood.go): the
	// mean inbound connections per Window over the InboundBaseline of
	// event time before it, flood windows left out. Until there is one
	// Window of such history, the bar is InboundFloodWarmup instead.
	InboundFlood int
	// InboundFloodFactor: how many times its baseline a window's inbound
	// connections must reach, at least 1. Default
	// DefaultInboundFloodFactor.
	InboundFloodFactor float64
	// InboundBaseline: the span of event time the baseline is the mean
	// over (at least one Window is used). Default DefaultInboundBaseline.
	InboundBaseline time.Duration
	// InboundFloodWarmup: inbound connections within Window that are a
	// flood while there is no baseline yet (and at least InboundFlood).
	// Default DefaultInboundFloodWarmup.
	InboundFloodWarmup int
	// MisbehavingBurst: misbehaviour reports within Window. Default
	// DefaultMisbehavingBurst.
	MisbehavingBurst int
	// RejectSpike: mempool rejections within Window. Default
	// DefaultRejectSpike.
	RejectSpike int
	// OrphanFlood: orphans in one getorphantxs poll. Default
	// DefaultOrphanFlood (Core's historical orphanage limit).
	OrphanFlood int
	// MutatedBlocks: BlockChecked log lines with a mutated-block state
	// within Window. Default DefaultMutatedBlocks (every one).
	MutatedBlocks int
	// Window is the trailing span counts are taken over. Default
	// DefaultWindow. It is cut into 60 buckets.
	Window time.Duration
	// Cooldown is how long a signal must stay below its threshold for an
	// anomaly to end. Default DefaultCooldown.
	Cooldown time.Duration
	// MaxPeers is how many peers an anomaly lists (those with the most
	// events first). Default DefaultMaxAnomalyPeers.
	MaxPeers int
	// MaxAnomalies bounds the anomalies kept per kind; later ones are
	// counted in Report.Dropped. Default DefaultMaxAnomalies.
	MaxAnomalies int
}

// Defaults for DetectOptions.
const (
	DefaultPingBacklog  = time.Second
	DefaultInboundFlood = 30
	// A synthetic flood is 15 times the spy churn, real ones are usually
	// tens of times the normal rate; four times leaves the Poisson noise
	// of a busy node's churn (±5% per minute at 7/s) far below.
	DefaultInboundFloodFactor = 4
	DefaultInboundBaseline    = 30 * time.Minute
	// Above the heaviest normal churn seen (about 7 connections/s, 420
	// per minute, on mainnet nodes targeted by spies) with margin, below
	// a flood of 40/s.
	DefaultInboundFloodWarmup = 1000
	DefaultMisbehavingBurst   = 10
	DefaultRejectSpike        = 100
	DefaultOrphanFlood        = 100
	DefaultMutatedBlocks      = 1
	DefaultWindow             = time.Minute
	DefaultCooldown           = 2 * time.Minute
	DefaultMaxAnomalyPeers    = 10
	DefaultMaxAnomalies       = 1000
)

func (o DetectOptions) withDefaults() DetectOptions {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defd(&o.PingBacklog, DefaultPingBacklog)
	def(&o.InboundFlood, DefaultInboundFlood)
	if o.InboundFloodFactor == 0 {
		o.InboundFloodFactor = DefaultInboundFloodFactor
	}
	defd(&o.InboundBaseline, DefaultInboundBaseline)
	def(&o.InboundFloodWarmup, DefaultInboundFloodWarmup)
	def(&o.MisbehavingBurst, DefaultMisbehavingBurst)
	def(&o.RejectSpike, DefaultRejectSpike)
	def(&o.OrphanFlood, DefaultOrphanFlood)
	def(&o.MutatedBlocks, DefaultMutatedBlocks)
	defd(&o.Window, DefaultWindow)
	defd(&o.Cooldown, DefaultCooldown)
	def(&o.MaxPeers, DefaultMaxAnomalyPeers)
	def(&o.MaxAnomalies, DefaultMaxAnomalies)
	return o
}

func (o DetectOptions) validate() error {
	for _, c := range []struct {
		name string
		bad  bool
	}{
		{"ping backlog threshold", o.PingBacklog < 0},
		{"inbound flood threshold", o.InboundFlood < 0},
		{"inbound flood factor (want at least 1)", o.InboundFloodFactor != 0 && !(o.InboundFloodFactor >= 1) || math.IsInf(o.InboundFloodFactor, 0)},
		{"inbound baseline span", o.InboundBaseline < 0},
		{"inbound flood warm-up threshold", o.InboundFloodWarmup < 0},
		{"misbehaving burst threshold", o.MisbehavingBurst < 0},
		{"reject spike threshold", o.RejectSpike < 0},
		{"orphan flood threshold", o.OrphanFlood < 0},
		{"mutated blocks threshold", o.MutatedBlocks < 0},
		{"detector window", o.Window < 60*time.Millisecond},
		{"detector cooldown", o.Cooldown < 0},
		{"peers per anomaly", o.MaxPeers < 0},
		{"anomalies per kind", o.MaxAnomalies < 0},
	} {
		if c.bad {
			return fmt.Errorf("analyze: invalid %s", c.name)
		}
	}
	return nil
}

// Thresholds returns the thresholds by name, as reports list them.
func (o DetectOptions) Thresholds() map[string]float64 {
	return map[string]float64{
		"ping_backlog_seconds":     o.PingBacklog.Seconds(),
		"inbound_flood":            float64(o.InboundFlood),
		"inbound_flood_factor":     o.InboundFloodFactor,
		"inbound_flood_warmup":     float64(o.InboundFloodWarmup),
		"inbound_baseline_seconds": o.InboundBaseline.Seconds(),
		"misbehaving_burst":        float64(o.MisbehavingBurst),
		"reject_spike":             float64(o.RejectSpike),
		"orphan_flood":             float64(o.OrphanFlood),
		"mutated_blocks":           float64(o.MutatedBlocks),
		"window_seconds":           o.Window.Seconds(),
		"cooldown_seconds":         o.Cooldown.Seconds(),
	}
}

// Anomaly kinds (the names synth uses for injecting them).
const (
	KindPingBacklog  = "ping-backlog"
	KindInboundFlood = "inbound-flood"
	KindMisbehaving  = "misbehaving"
	KindMutatedBlock = "mutated-block"
	KindOrphanFlood  = "orphan-flood"
	KindRejectSpike  = "reject-spike"
)

// ReportSchema names the JSON schema of Report. A change that is not
// backwards compatible gets a new version.
const ReportSchema = "peertape.analyze.report/v1"

// Report is the anomaly report. Its JSON form is stable: fields are only
// ever added.
type Report struct {
	Schema string `json:"schema"`
	// Events consumed, and the first and last event time (ms and RFC 3339).
	Events     uint64             `json:"events"`
	FirstMs    int64              `json:"first_ms"`
	LastMs     int64              `json:"last_ms"`
	First      string             `json:"first"`
	Last       string             `json:"last"`
	Thresholds map[string]float64 `json:"thresholds"`
	// Anomalies, by start time, then kind, then node.
	Anomalies []Anomaly `json:"anomalies"`
	// Dropped counts anomalies beyond DetectOptions.MaxAnomalies, by kind.
	Dropped map[string]int `json:"dropped,omitempty"`
}

// Anomaly is one detected episode.
type Anomaly struct {
	Kind string `json:"kind"`
	Node string `json:"node"`
	// Start and end event times: the first and the last event that
	// reached the threshold.
	StartMs int64  `json:"start_ms"`
	EndMs   int64  `json:"end_ms"`
	Start   string `json:"start"`
	End     string `json:"end"`
	// Peak is the largest value of the signal and when it was seen.
	Peak   float64 `json:"peak"`
	PeakMs int64   `json:"peak_ms"`
	Unit   string  `json:"unit"`
	// Threshold the signal had to reach when the anomaly opened (for
	// inbound floods, the larger of the absolute and the baseline bar).
	Threshold float64 `json:"threshold"`
	// Ongoing is true when the stream ended less than the cooldown after
	// the anomaly's last event.
	Ongoing bool `json:"ongoing"`
	// Peers involved, most events first (at most DetectOptions.MaxPeers),
	// and how many distinct peers there were in all.
	Peers      []AnomalyPeer `json:"peers"`
	PeersTotal int           `json:"peers_total"`
	// Details: for mutated blocks, the states and block hashes; for
	// inbound floods, the baseline and the dominant source prefix.
	Details []string `json:"details,omitempty"`
	// Source is, for inbound floods, the /24 (IPv4) or /48 (IPv6) prefix
	// most of the episode's connections came from, and SourceShare its
	// share of them (0..1).
	Source      string  `json:"source,omitempty"`
	SourceShare float64 `json:"source_share,omitempty"`
	// Replay is the command that replays the anomaly, set by
	// Report.SetReplay.
	Replay string `json:"replay,omitempty"`
}

// AnomalyPeer is a peer involved in an anomaly.
type AnomalyPeer struct {
	ID     uint64 `json:"id"`
	Addr   string `json:"addr,omitempty"`
	Events uint64 `json:"events"`
}

// ReplayCommand returns the command line that replays paths from fromMs to
// toMs (event time): `peertape replay PATH... --from RFC3339 --to RFC3339`,
// paths quoted for a POSIX shell where needed.
func ReplayCommand(paths []string, fromMs, toMs int64) string {
	var b strings.Builder
	b.WriteString("peertape replay")
	for _, p := range paths {
		b.WriteByte(' ')
		b.WriteString(shellQuote(p))
	}
	b.WriteString(" --from ")
	b.WriteString(formatReplayTime(fromMs))
	b.WriteString(" --to ")
	b.WriteString(formatReplayTime(toMs))
	return b.String()
}

// formatReplayTime renders whole seconds without a fraction, others with
// milliseconds.
func formatReplayTime(ms int64) string {
	t := time.UnixMilli(ms).UTC()
	if ms%1000 == 0 {
		return t.Format(time.RFC3339)
	}
	return event.FormatTime(ms)
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_./:=@%+,-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// SetReplay fills each anomaly's Replay with the command replaying paths
// from margin before its start to margin after its end, widened to whole
// seconds (--to is exclusive, so the end is always included).
func (r *Report) SetReplay(paths []string, margin time.Duration) {
	m := margin.Milliseconds()
	for i := range r.Anomalies {
		a := &r.Anomalies[i]
		from := floorDiv(a.StartMs-m, 1000) * 1000
		to := (floorDiv(a.EndMs+m, 1000) + 1) * 1000
		a.Replay = ReplayCommand(paths, from, to)
	}
}

// maxTrackedPeers bounds the distinct peers an anomaly counts events for.
const maxTrackedPeers = 1024

// maxPeersPerObservation bounds the peers one observation may name.
const maxPeersPerObservation = 64

// peerHit is a peer and how many events it contributed.
type peerHit struct {
	ref peerRef
	n   uint64
}

func hit(ref peerRef) peerHit { return peerHit{ref, 1} }

type episode struct {
	node         uint32
	start, end   int64
	peak         float64
	peakAt       int64
	peers        map[peerKey]*AnomalyPeer
	peersDropped bool
	details      []string
	threshold    float64
	flood        *floodEpisode
}

func (ep *episode) addPeer(h peerHit) {
	p := ep.peers[h.ref.key]
	if p == nil {
		if len(ep.peers) >= maxTrackedPeers {
			ep.peersDropped = true
			return
		}
		p = &AnomalyPeer{ID: h.ref.key.id}
		ep.peers[h.ref.key] = p
	}
	if h.ref.addr != "" {
		p.Addr = h.ref.addr
	}
	p.Events += h.n
}

// detector turns a signal into episodes: an episode opens when the signal
// reaches the threshold, extends while it keeps reaching it, and is closed
// when it reaches it again only after the cooldown (or never).
type detector struct {
	d         *detectors
	kind      string
	unit      string
	threshold float64
	open      map[uint32]*episode
	done      []*episode
	dropped   int
	opened    prometheus.Counter
	onOpen    func(c *evctx, ep *episode)
}

func (d *detector) observe(c *evctx, v float64, hits ...peerHit) {
	d.observeFrom(c, c.now, v, hits...)
}

// observeFrom is observe for a signal that describes a span ending now
// (a ping response): an episode it opens starts at from.
func (d *detector) observeFrom(c *evctx, from int64, v float64, hits ...peerHit) {
	d.observeBar(c, from, v, d.threshold, hits...)
}

// observeBar is observeFrom against a threshold of the moment.
func (d *detector) observeBar(c *evctx, from int64, v, bar float64, hits ...peerHit) {
	if v < bar {
		return
	}
	ep := d.open[c.node]
	if ep != nil && c.now-ep.end > d.d.cooldown {
		d.close(ep)
		ep = nil
	}
	if ep == nil {
		ep = &episode{node: c.node, start: min(from, c.now), peak: v, peakAt: c.now, peers: map[peerKey]*AnomalyPeer{}, threshold: bar}
		d.open[c.node] = ep
		d.opened.Inc()
		if d.onOpen != nil {
			d.onOpen(c, ep)
		}
	}
	ep.end = c.now
	if v > ep.peak {
		ep.peak, ep.peakAt = v, c.now
	}
	for _, h := range hits {
		ep.addPeer(h)
	}
}

func (d *detector) close(ep *episode) {
	delete(d.open, ep.node)
	if len(d.done) >= d.d.opts.MaxAnomalies {
		d.dropped++
		return
	}
	d.done = append(d.done, ep)
}

// windowDetector counts events over the trailing window and feeds the
// count to a detector. It remembers the latest contributors, so that the
// events leading up to the threshold name their peers too.
type windowDetector struct {
	*detector
	w      map[uint32]*window // by node
	recent []recentHit
	next   int
	// flood, for the inbound-flood detector, holds the baselines the
	// threshold is relative to.
	flood *floodState
}

type recentHit struct {
	at  int64
	ref peerRef
}

const recentHits = 256

func (wd *windowDetector) event(c *evctx, refs ...peerRef) {
	w := wd.w[c.node]
	if w == nil {
		w = newWindow(wd.d.window, max(1, wd.d.window/60))
		wd.w[c.node] = w
	}
	w.add(c.now, 1)
	for _, r := range refs {
		if len(wd.recent) < recentHits {
			wd.recent = append(wd.recent, recentHit{c.now, r})
		} else {
			wd.recent[wd.next] = recentHit{c.now, r}
			wd.next = (wd.next + 1) % recentHits
		}
	}
	v := w.sum(c.now)
	bar := wd.threshold
	var fb *floodBaseline
	var base float64
	var hasBase bool
	if wd.flood != nil {
		fb = wd.flood.node(c.node, wd.d.e.nodeFirst[c.node])
		// The baseline is taken before this event counts: it ends where
		// the window begins, so the event cannot be part of it anyway.
		base, hasBase = wd.flood.baseline(fb, c.now)
		wd.flood.add(fb, c.now)
		if hasBase {
			bar = max(bar, wd.d.opts.InboundFloodFactor*base)
		} else {
			bar = max(bar, float64(wd.d.opts.InboundFloodWarmup))
		}
	}
	if v < bar {
		return
	}
	if fb != nil {
		wd.flood.flag(fb, c.now)
	}
	if wd.open[c.node] == nil || c.now-wd.open[c.node].end > wd.d.cooldown {
		// Opening: the hits within the window led up to it.
		wd.detector.observeBar(c, c.now, v, bar)
		ep := wd.open[c.node]
		if wd.flood != nil {
			ep.flood = &floodEpisode{baseline: base, hasBase: hasBase, baseSpan: wd.d.opts.InboundBaseline, sources: map[string]uint64{}}
		}
		from := c.now - wd.d.window
		for _, h := range wd.recent {
			if h.at > from && h.ref.key.node == c.node {
				ep.addPeer(hit(h.ref))
				if ep.flood != nil {
					ep.flood.addSource(h.ref.addr)
				}
			}
		}
		return
	}
	hs := make([]peerHit, 0, len(refs))
	for _, r := range refs {
		hs = append(hs, hit(r))
	}
	wd.detector.observeBar(c, c.now, v, bar, hs...)
	if ep := wd.open[c.node]; ep != nil && ep.flood != nil {
		for _, r := range refs {
			ep.flood.addSource(r.addr)
		}
	}
}

type detectors struct {
	e        *Engine
	opts     DetectOptions
	window   int64
	cooldown int64

	pingBacklog  *detector
	orphanFlood  *detector
	inboundFlood *windowDetector
	misbehaving  *windowDetector
	rejectSpike  *windowDetector
	mutated      *windowDetector
	all          []*detector
}

func newDetectors(e *Engine, f promauto.Factory) *detectors {
	o := e.opts.Detect
	d := &detectors{e: e, opts: o, window: o.Window.Milliseconds(), cooldown: o.Cooldown.Milliseconds()}
	opened := f.NewCounterVec(prometheus.CounterOpts{
		Name: "peertape_anomalies_total",
		Help: "Anomalies the detectors opened, by kind (thresholds in DetectOptions).",
	}, []string{"kind"})
	mk := func(kind, unit string, threshold float64) *detector {
		det := &detector{d: d, kind: kind, unit: unit, threshold: threshold, open: map[uint32]*episode{}, opened: opened.WithLabelValues(kind)}
		d.all = append(d.all, det)
		return det
	}
	mkw := func(kind, unit string, threshold int) *windowDetector {
		return &windowDetector{detector: mk(kind, unit, float64(threshold)), w: map[uint32]*window{}}
	}
	d.pingBacklog = mk(KindPingBacklog, "seconds", o.PingBacklog.Seconds())
	d.inboundFlood = mkw(KindInboundFlood, "connections per window", o.InboundFlood)
	d.inboundFlood.flood = newFloodState(d.window, max(o.InboundBaseline, o.Window))
	d.misbehaving = mkw(KindMisbehaving, "reports per window", o.MisbehavingBurst)
	d.mutated = mkw(KindMutatedBlock, "mutated blocks per window", o.MutatedBlocks)
	d.orphanFlood = mk(KindOrphanFlood, "orphans", float64(o.OrphanFlood))
	d.rejectSpike = mkw(KindRejectSpike, "rejections per window", o.RejectSpike)
	return d
}

// Report returns the anomalies found so far. It does not change the
// engine: anomalies still open are reported as they stand.
func (e *Engine) Report() *Report {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.det
	r := &Report{
		Schema:     ReportSchema,
		Events:     e.events,
		FirstMs:    e.first,
		LastMs:     e.now,
		First:      event.FormatTime(e.first),
		Last:       event.FormatTime(e.now),
		Thresholds: d.opts.Thresholds(),
		Anomalies:  []Anomaly{},
	}
	for _, det := range d.all {
		eps := slices.Clone(det.done)
		for _, ep := range det.open {
			eps = append(eps, ep)
		}
		for _, ep := range eps {
			r.Anomalies = append(r.Anomalies, e.anomaly(det, ep))
		}
		if det.dropped > 0 {
			if r.Dropped == nil {
				r.Dropped = map[string]int{}
			}
			r.Dropped[det.kind] = det.dropped
		}
	}
	slices.SortFunc(r.Anomalies, func(a, b Anomaly) int {
		return cmp.Or(cmp.Compare(a.StartMs, b.StartMs), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Node, b.Node), cmp.Compare(a.EndMs, b.EndMs))
	})
	return r
}

func (e *Engine) anomaly(det *detector, ep *episode) Anomaly {
	a := Anomaly{
		Kind: det.kind, Node: e.nodeNames[ep.node],
		StartMs: ep.start, EndMs: ep.end, Start: event.FormatTime(ep.start), End: event.FormatTime(ep.end),
		Peak: ep.peak, PeakMs: ep.peakAt, Unit: det.unit, Threshold: ep.threshold,
		Ongoing:    det.open[ep.node] == ep && e.now-ep.end <= e.det.cooldown,
		Peers:      []AnomalyPeer{},
		PeersTotal: len(ep.peers),
		Details:    slices.Clone(ep.details),
	}
	if ep.flood != nil {
		a.Details = append(a.Details, ep.flood.details()...)
		a.Source, a.SourceShare = ep.flood.source()
	}
	for _, p := range ep.peers {
		a.Peers = append(a.Peers, *p)
	}
	slices.SortFunc(a.Peers, func(x, y AnomalyPeer) int {
		return cmp.Or(cmp.Compare(y.Events, x.Events), cmp.Compare(x.ID, y.ID))
	})
	if len(a.Peers) > e.det.opts.MaxPeers {
		a.Peers = a.Peers[:e.det.opts.MaxPeers]
	}
	return a
}
