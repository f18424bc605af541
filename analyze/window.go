package analyze

import (
	"math"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// window sums values over a trailing span of event time, as a ring of n
// buckets of width ms each. A bucket remembers which slice of time (its
// epoch) it holds, so stale buckets are recognised when read and reset
// when written; nothing has to run as time passes. The sum at time now
// covers the bucket holding now and the n-1 before it, i.e. between
// (n-1)·width and n·width of event time.
type window struct {
	width  int64
	epochs []int64
	sums   []float64
}

func newWindow(span, width int64) *window {
	n := int(span / width)
	if n < 1 {
		n = 1
	}
	w := &window{width: width, epochs: make([]int64, n), sums: make([]float64, n)}
	for i := range w.epochs {
		w.epochs[i] = math.MinInt64
	}
	return w
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func (w *window) slot(ep int64) int {
	n := int64(len(w.epochs))
	return int(((ep % n) + n) % n)
}

// add adds v at time now. Callers pass the watermark, which never goes
// backwards, so a bucket is only ever reset for a newer epoch.
func (w *window) add(now int64, v float64) {
	ep := floorDiv(now, w.width)
	i := w.slot(ep)
	if w.epochs[i] != ep {
		w.epochs[i] = ep
		w.sums[i] = 0
	}
	w.sums[i] += v
}

// sum returns the total of the buckets within the window ending at now.
func (w *window) sum(now int64) float64 {
	ep := floorDiv(now, w.width)
	lo := ep - int64(len(w.epochs))
	var s float64
	for i, e := range w.epochs {
		if e > lo && e <= ep {
			s += w.sums[i]
		}
	}
	return s
}

// spanSeconds is the nominal length of the window.
func (w *window) spanSeconds() float64 {
	return float64(w.width*int64(len(w.epochs))) / 1000
}

// funcCollector exposes values computed at collection time (rates over
// windows, quantiles) under one metric name. collect is called with the
// engine lock held by the gathering caller; it emits one value per label
// set. Label sets must be emitted in a fixed order only for readability:
// the registry sorts them.
type funcCollector struct {
	desc    *prometheus.Desc
	typ     prometheus.ValueType
	collect func(emit func(v float64, labels ...string))
}

func newFuncCollector(name, help string, typ prometheus.ValueType, labels []string, collect func(emit func(v float64, labels ...string))) *funcCollector {
	return &funcCollector{desc: prometheus.NewDesc(name, help, labels, nil), typ: typ, collect: collect}
}

// Describe implements prometheus.Collector.
func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *funcCollector) Collect(ch chan<- prometheus.Metric) {
	c.collect(func(v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.desc, c.typ, v, labels...)
	})
}

// collectorFunc is a collector of one descriptor whose metrics are built
// at collection time.
type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(ch chan<- prometheus.Metric)
}

// Describe implements prometheus.Collector.
func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// quantile returns the q-quantile of sorted values (nearest rank with
// linear interpolation between the two neighbours), 0 for none.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	if lo == hi {
		return sorted[lo]
	}
	f := pos - float64(lo)
	return sorted[lo]*(1-f) + sorted[hi]*f
}

// median and mean ignore NaNs and return 0 for an empty slice, as
// peer-observer's statistics helpers do. median sorts xs in place.
func median(xs []float64) float64 {
	xs = slices.DeleteFunc(xs, math.IsNaN)
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func mean(xs []float64) float64 {
	var s float64
	n := 0
	for _, x := range xs {
		if !math.IsNaN(x) {
			s += x
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return s / float64(n)
}
