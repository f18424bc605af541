package analyze

import (
	"cmp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/peertape/peertape/proto/pb"
)

// orphanAnalyzer follows the orphanage through successive getorphantxs
// polls: its size, churn (orphans that appeared or disappeared between
// polls; short-lived orphans between two polls are not seen) and the
// peers announcing them. It also computes the diff behind peer-observer's
// rpc_getorphantxs_{added,removed}_* counters.
type orphanAnalyzer struct {
	e        *Engine
	max      int
	prev     map[string]uint64 // wtxid -> bytes of the previous poll
	havePrev bool

	size, bytes       prometheus.Gauge
	added, removed    prometheus.Counter
	churn             *window
	announcers        prometheus.Gauge
	topAnnouncerRatio prometheus.Gauge
	evictions         prometheus.Counter
}

func newOrphanAnalyzer(e *Engine, f promauto.Factory) *orphanAnalyzer {
	o := &orphanAnalyzer{e: e, max: e.opts.Limits.MaxOrphans, prev: map[string]uint64{}, churn: newWindow(hourMs, minuteMs)}
	o.size = f.NewGauge(prometheus.GaugeOpts{Name: "peertape_orphanage_transactions", Help: "Orphan transactions in the latest getorphantxs."})
	o.bytes = f.NewGauge(prometheus.GaugeOpts{Name: "peertape_orphanage_bytes", Help: "Size of the orphan transactions in the latest getorphantxs."})
	o.added = f.NewCounter(prometheus.CounterOpts{Name: "peertape_orphanage_added_total", Help: "Orphans present in a getorphantxs poll but not in the one before (the first poll is the baseline)."})
	o.removed = f.NewCounter(prometheus.CounterOpts{Name: "peertape_orphanage_removed_total", Help: "Orphans present in a getorphantxs poll but gone in the next."})
	e.reg.MustRegister(newFuncCollector("peertape_orphanage_churn_per_hour",
		"Orphans added plus removed between getorphantxs polls over the trailing hour of event time.",
		prometheus.GaugeValue, nil, func(emit func(float64, ...string)) {
			if o.havePrev {
				emit(o.churn.sum(e.evalNow))
			}
		}))
	o.announcers = f.NewGauge(prometheus.GaugeOpts{Name: "peertape_orphanage_announcers", Help: "Distinct peers that announced the orphans of the latest getorphantxs."})
	o.topAnnouncerRatio = f.NewGauge(prometheus.GaugeOpts{Name: "peertape_orphanage_top_announcer_ratio", Help: "Share (0 to 1) of the latest orphans announced by the peer that announced the most of them."})
	o.evictions = e.m.evictions.WithLabelValues("orphans")
	return o
}

func (o *orphanAnalyzer) snapshot(c *evctx, ot *pb.OrphanTxs) {
	orphans := ot.GetOrphans()
	cur := make(map[string]uint64, min(len(orphans), o.max))
	var addedN, addedB, removedN, removedB, bytes uint64
	perPeer := map[uint64]int{}
	for _, tx := range orphans {
		w := tx.GetWtxid()
		bytes += tx.GetBytes()
		if _, ok := o.prev[w]; !ok {
			addedN++
			addedB += tx.GetBytes()
		}
		if len(cur) < o.max {
			cur[w] = tx.GetBytes()
		} else {
			o.evictions.Inc()
		}
		seen := map[uint64]bool{}
		for _, id := range tx.GetFrom() {
			if !seen[id] {
				seen[id] = true
				perPeer[id]++
			}
		}
	}
	for w, b := range o.prev {
		if _, ok := cur[w]; !ok {
			removedN++
			removedB += b
		}
	}
	o.e.po.orphanSnapshot(ot, addedN, addedB, removedN, removedB)
	if o.havePrev {
		o.added.Add(float64(addedN))
		o.removed.Add(float64(removedN))
		o.churn.add(c.now, float64(addedN+removedN))
	}
	o.prev, o.havePrev = cur, true
	o.size.Set(float64(len(orphans)))
	o.bytes.Set(float64(bytes))
	o.announcers.Set(float64(len(perPeer)))
	top := 0
	for _, n := range perPeer {
		top = max(top, n)
	}
	o.topAnnouncerRatio.Set(ratio(float64(top), float64(len(orphans))))

	if float64(len(orphans)) >= o.e.det.orphanFlood.threshold {
		type pc struct {
			id uint64
			n  int
		}
		var tops []pc
		for id, n := range perPeer {
			tops = append(tops, pc{id, n})
		}
		slices.SortFunc(tops, func(a, b pc) int {
			if a.n != b.n {
				return cmp.Compare(b.n, a.n)
			}
			return cmp.Compare(a.id, b.id)
		})
		var hits []peerHit
		for _, t := range tops[:min(len(tops), maxPeersPerObservation)] {
			k := peerKey{c.node, t.id}
			ref := peerRef{key: k}
			if ps := o.e.peers.lookup(k); ps != nil {
				ref.addr = ps.addr
			}
			hits = append(hits, peerHit{ref, uint64(t.n)})
		}
		o.e.det.orphanFlood.observe(c, float64(len(orphans)), hits...)
	} else {
		o.e.det.orphanFlood.observe(c, float64(len(orphans)))
	}
}
