package analyze

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/peertape/peertape/proto/pb"
)

// addrmanAnalyzer compares successive getrawaddrman snapshots position by
// position (bucket, slot): a slot filled that was empty is an added entry,
// a slot whose address:port changed is a replaced one. It feeds
// peer-observer's rpc_getrawaddrman_{added_entry, replaced_entry,
// changed_services, changed_timestamps} counters and peertape's rates.
// Like peer-observer, it does not diff against an empty previous snapshot.
type addrmanAnalyzer struct {
	e        *Engine
	max      int
	prev     [2]map[uint64]addrmanSlot // new, tried
	prevAt   int64
	havePrev bool

	added, replaced         [2]prometheus.Counter
	addedRate, replacedRate [2]prometheus.Gauge
	entries                 [2]prometheus.Gauge
	evictions               prometheus.Counter
}

type addrmanSlot struct {
	addr     string
	port     uint32
	time     int64
	services uint64
}

var addrmanTables = [2]string{"new", "tried"}

func newAddrmanAnalyzer(e *Engine, f promauto.Factory) *addrmanAnalyzer {
	a := &addrmanAnalyzer{e: e, max: e.opts.Limits.MaxAddrmanEntries}
	added := f.NewCounterVec(prometheus.CounterOpts{Name: "peertape_addrman_added_entries_total", Help: "Addrman slots filled between successive getrawaddrman snapshots, by table."}, []string{"table"})
	replaced := f.NewCounterVec(prometheus.CounterOpts{Name: "peertape_addrman_replaced_entries_total", Help: "Addrman slots whose address:port changed between successive getrawaddrman snapshots, by table."}, []string{"table"})
	addedRate := f.NewGaugeVec(prometheus.GaugeOpts{Name: "peertape_addrman_added_per_hour", Help: "Addrman slots filled per hour of event time between the last two getrawaddrman snapshots, by table."}, []string{"table"})
	replacedRate := f.NewGaugeVec(prometheus.GaugeOpts{Name: "peertape_addrman_replaced_per_hour", Help: "Addrman slots replaced per hour of event time between the last two getrawaddrman snapshots, by table."}, []string{"table"})
	entries := f.NewGaugeVec(prometheus.GaugeOpts{Name: "peertape_addrman_entries", Help: "Entries in the latest getrawaddrman snapshot, by table."}, []string{"table"})
	for i, t := range addrmanTables {
		a.added[i] = added.WithLabelValues(t)
		a.replaced[i] = replaced.WithLabelValues(t)
		a.addedRate[i] = addedRate.WithLabelValues(t)
		a.replacedRate[i] = replacedRate.WithLabelValues(t)
		a.entries[i] = entries.WithLabelValues(t)
	}
	a.evictions = e.m.evictions.WithLabelValues("addrman")
	return a
}

// remembered is the number of slots kept from the previous snapshot.
func (a *addrmanAnalyzer) remembered() int { return len(a.prev[0]) + len(a.prev[1]) }

func (a *addrmanAnalyzer) snapshot(c *evctx, am *pb.Addrman) {
	a.e.po.rawAddrman(am)
	tables := [2]map[uint32]*pb.AddrmanBucket{am.GetNew(), am.GetTried()}
	var cur [2]map[uint64]addrmanSlot
	total := 0
	for i, tbl := range tables {
		cur[i] = map[uint64]addrmanSlot{}
		for b, bucket := range tbl {
			for pos, en := range bucket.GetEntries() {
				total++
				if total > a.max {
					continue
				}
				cur[i][uint64(b)<<32|uint64(pos)] = addrmanSlot{en.GetAddress(), en.GetPort(), en.GetTime(), en.GetServices()}
			}
		}
	}
	if total > a.max {
		a.evictions.Add(float64(total - a.max))
	}
	for i := range tables {
		a.entries[i].Set(float64(countEntries(tables[i])))
	}
	if a.havePrev && total <= a.max {
		hours := float64(c.now-a.prevAt) / float64(hourMs)
		m := &a.e.po.rm
		for i, t := range addrmanTables {
			var added, replaced, services, stamps uint64
			for k, s := range cur[i] {
				p, ok := a.prev[i][k]
				switch {
				case !ok:
					added++
				case p.addr != s.addr || p.port != s.port:
					replaced++
				default:
					if p.time != s.time {
						stamps++
					}
					if p.services != s.services {
						services++
					}
				}
			}
			m.ramAdded.WithLabelValues(t).Add(float64(added))
			m.ramReplaced.WithLabelValues(t).Add(float64(replaced))
			m.ramChangedServices.WithLabelValues(t).Add(float64(services))
			m.ramChangedTimestamps.WithLabelValues(t).Add(float64(stamps))
			a.added[i].Add(float64(added))
			a.replaced[i].Add(float64(replaced))
			if hours > 0 {
				a.addedRate[i].Set(float64(added) / hours)
				a.replacedRate[i].Set(float64(replaced) / hours)
			}
		}
	}
	if total <= a.max {
		a.prev = cur
		a.havePrev = total > 0
	} else {
		a.prev = [2]map[uint64]addrmanSlot{}
		a.havePrev = false
	}
	a.prevAt = c.now
}

func countEntries(tbl map[uint32]*pb.AddrmanBucket) int {
	n := 0
	for _, b := range tbl {
		n += len(b.GetEntries())
	}
	return n
}
