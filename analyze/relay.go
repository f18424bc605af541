package analyze

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/peertape/peertape/proto/pb"
)

// Trailing windows of event time for rates.
const (
	hourMs   = int64(3600_000)
	minuteMs = int64(60_000)
	secondMs = int64(1000)
)

// relayAnalyzer derives relay rates from P2P messages and the
// p2p-extractor's announcements: addresses per hour and per message,
// INV messages and entries per second by type, and feefilter changes.
type relayAnalyzer struct {
	e *Engine

	addrs, addrMsgs       [2][2]*window // [direction][addr, addrv2], trailing hour
	addrSeen              [2][2]bool
	extAddrs, extAddrMsgs *window
	extAddrSeen           bool

	invMsgs    [2]*window              // trailing minute
	invEntries [2][numInvTypes]*window // trailing minute
	invSeen    [2][numInvTypes]bool
	extInv     [numInvTypes]*window
	extInvSeen [numInvTypes]bool
	extInvSize prometheus.Histogram

	feeChanges    [2]prometheus.Counter
	extFeeChanges prometheus.Counter
	extFee        int64
	extFeeSet     bool
}

var bucketsInvEntries = []float64{0, 1, 2, 5, 10, 20, 35, 50, 100, 200, 500, 1000, 5000, 50000}

func newRelayAnalyzer(e *Engine, f promauto.Factory) *relayAnalyzer {
	r := &relayAnalyzer{e: e}
	for d := range 2 {
		for m := range 2 {
			r.addrs[d][m] = newWindow(hourMs, minuteMs)
			r.addrMsgs[d][m] = newWindow(hourMs, minuteMs)
		}
		r.invMsgs[d] = newWindow(minuteMs, secondMs)
		for t := range numInvTypes {
			r.invEntries[d][t] = newWindow(minuteMs, secondMs)
		}
	}
	r.extAddrs = newWindow(hourMs, minuteMs)
	r.extAddrMsgs = newWindow(hourMs, minuteMs)
	for t := range numInvTypes {
		r.extInv[t] = newWindow(minuteMs, secondMs)
	}
	msgNames := [2]string{"addr", "addrv2"}
	dirs := []string{"direction", "message"}
	perAddr := func(name, help string, value func(d, m int) float64) {
		e.reg.MustRegister(newFuncCollector(name, help, prometheus.GaugeValue, dirs, func(emit func(float64, ...string)) {
			for d := range 2 {
				for m := range 2 {
					if r.addrSeen[d][m] {
						emit(value(d, m), direction(d == 1), msgNames[m])
					}
				}
			}
		}))
	}
	perAddr("peertape_addr_relay_addresses_per_hour",
		"Address entries in addr/addrv2 messages over the trailing hour of event time, by direction and message.",
		func(d, m int) float64 { return r.addrs[d][m].sum(e.evalNow) })
	perAddr("peertape_addr_relay_messages_per_hour",
		"addr/addrv2 messages over the trailing hour of event time, by direction and message.",
		func(d, m int) float64 { return r.addrMsgs[d][m].sum(e.evalNow) })
	perAddr("peertape_addr_relay_addresses_per_message",
		"Mean address entries per addr/addrv2 message over the trailing hour (0 without messages).",
		func(d, m int) float64 { return ratio(r.addrs[d][m].sum(e.evalNow), r.addrMsgs[d][m].sum(e.evalNow)) })
	extAddr := func(name, help string, value func() float64) {
		e.reg.MustRegister(newFuncCollector(name, help, prometheus.GaugeValue, nil, func(emit func(float64, ...string)) {
			if r.extAddrSeen {
				emit(value())
			}
		}))
	}
	extAddr("peertape_p2pextractor_addrv2relay_addresses_per_hour",
		"Addresses the node relayed to the p2p-extractor over the trailing hour of event time.",
		func() float64 { return r.extAddrs.sum(e.evalNow) })
	extAddr("peertape_p2pextractor_addrv2relay_addresses_per_message",
		"Mean addresses per addrv2 message the node sent the p2p-extractor over the trailing hour.",
		func() float64 { return ratio(r.extAddrs.sum(e.evalNow), r.extAddrMsgs.sum(e.evalNow)) })

	e.reg.MustRegister(newFuncCollector("peertape_inv_messages_per_second",
		"INV messages per second over the trailing minute of event time, by direction.",
		prometheus.GaugeValue, []string{"direction"}, func(emit func(float64, ...string)) {
			for d := range 2 {
				if r.anyInv(d) {
					emit(r.invMsgs[d].sum(e.evalNow)/r.invMsgs[d].spanSeconds(), direction(d == 1))
				}
			}
		}))
	e.reg.MustRegister(newFuncCollector("peertape_inv_entries_per_second",
		"INV entries per second over the trailing minute of event time, by direction and type (WTx: wtxid transaction announcements).",
		prometheus.GaugeValue, []string{"direction", "inv_type"}, func(emit func(float64, ...string)) {
			for d := range 2 {
				for t := range numInvTypes {
					if r.invSeen[d][t] {
						w := r.invEntries[d][t]
						emit(w.sum(e.evalNow)/w.spanSeconds(), direction(d == 1), invTypeNames[t])
					}
				}
			}
		}))
	e.reg.MustRegister(newFuncCollector("peertape_inv_entries_per_message",
		"Mean entries per INV message over the trailing minute of event time, by direction (0 without messages).",
		prometheus.GaugeValue, []string{"direction"}, func(emit func(float64, ...string)) {
			for d := range 2 {
				if !r.anyInv(d) {
					continue
				}
				var entries float64
				for t := range numInvTypes {
					entries += r.invEntries[d][t].sum(e.evalNow)
				}
				emit(ratio(entries, r.invMsgs[d].sum(e.evalNow)), direction(d == 1))
			}
		}))
	e.reg.MustRegister(newFuncCollector("peertape_p2pextractor_inv_entries_per_second",
		"INV entries per second the node announced to the p2p-extractor over the trailing minute, by type.",
		prometheus.GaugeValue, []string{"inv_type"}, func(emit func(float64, ...string)) {
			for t := range numInvTypes {
				if r.extInvSeen[t] {
					emit(r.extInv[t].sum(e.evalNow)/r.extInv[t].spanSeconds(), invTypeNames[t])
				}
			}
		}))
	r.extInvSize = f.NewHistogram(prometheus.HistogramOpts{
		Name:    "peertape_p2pextractor_inv_size_entries",
		Help:    "Entries per INV message the node sent to the p2p-extractor (peer-observer exposes only the latest).",
		Buckets: bucketsInvEntries,
	})
	fc := f.NewCounterVec(prometheus.CounterOpts{
		Name: "peertape_feefilter_changes_total",
		Help: "feefilter messages whose fee rate differs from the previous feefilter in the same direction on the same peer, by direction.",
	}, []string{"direction"})
	r.feeChanges = [2]prometheus.Counter{fc.WithLabelValues("outbound"), fc.WithLabelValues("inbound")}
	r.extFeeChanges = f.NewCounter(prometheus.CounterOpts{
		Name: "peertape_p2pextractor_feefilter_changes_total",
		Help: "feefilter messages to the p2p-extractor whose fee rate differs from the previous one.",
	})
	return r
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func (r *relayAnalyzer) anyInv(d int) bool {
	for _, s := range r.invSeen[d] {
		if s {
			return true
		}
	}
	return false
}

func (r *relayAnalyzer) addr(c *evctx, inbound bool, msg, entries int) {
	d := b2i(inbound)
	r.addrSeen[d][msg] = true
	r.addrs[d][msg].add(c.now, float64(entries))
	r.addrMsgs[d][msg].add(c.now, 1)
}

func (r *relayAnalyzer) inv(c *evctx, inbound bool, items []*pb.InventoryItem) {
	d := b2i(inbound)
	r.invMsgs[d].add(c.now, 1)
	if len(items) == 0 {
		r.invSeen[d][invNone] = true
		r.invEntries[d][invNone].add(c.now, 0)
		return
	}
	var counts [numInvTypes]int
	for _, it := range items {
		counts[invType(it)]++
	}
	for t, n := range counts {
		if n > 0 {
			r.invSeen[d][t] = true
			r.invEntries[d][t].add(c.now, float64(n))
		}
	}
}

func (r *relayAnalyzer) feefilter(ps *peerState, inbound bool, fee int64) {
	d := b2i(inbound)
	if ps.feeSet[d] && ps.fee[d] != fee {
		r.feeChanges[d].Inc()
	}
	ps.fee[d], ps.feeSet[d] = fee, true
}

func (r *relayAnalyzer) extractorAddr(c *evctx, entries int) {
	r.extAddrSeen = true
	r.extAddrs.add(c.now, float64(entries))
	r.extAddrMsgs.add(c.now, 1)
}

func (r *relayAnalyzer) extractorInv(c *evctx, items []*pb.InventoryItem) {
	r.extInvSize.Observe(float64(len(items)))
	var counts [numInvTypes]int
	for _, it := range items {
		counts[invType(it)]++
	}
	for t, n := range counts {
		if n > 0 {
			r.extInvSeen[t] = true
			r.extInv[t].add(c.now, float64(n))
		}
	}
}

func (r *relayAnalyzer) extractorFeefilter(fee int64) {
	if r.extFeeSet && r.extFee != fee {
		r.extFeeChanges.Inc()
	}
	r.extFee, r.extFeeSet = fee, true
}
