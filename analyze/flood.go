package analyze

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"
)

// The inbound-flood detector compares each window's inbound connections
// with the node's own normal churn, because honeynodes differ a lot in it
// (spies and crawlers such as LinkingLion connect every few seconds to
// some nodes and rarely to others) and an absolute threshold alone fires
// all the time on the busy ones.
//
// The baseline is the mean count per Window over the trailing
// InboundBaseline of event time that ends where the current window
// begins, counted in buckets of Window/10 (a ring per node, so memory is
// bounded by InboundBaseline/Window). Buckets that overlapped a window
// which reached the bar are left out, so a flood does not raise its own
// baseline and fade out of view while it lasts. Time before the node's
// first event is not history: the mean is the count over the clean
// history covered, scaled to one Window.
//
// Until the clean history covers one Window (at the start of a stream, or
// when a flood has lasted the whole baseline span), there is no baseline
// and only the warm-up bar InboundFloodWarmup applies, so an extreme
// flood at the very start is still reported.

// floodBuckets is how many baseline buckets one Window is cut into.
const floodBuckets = 10

// maxFloodSources bounds the distinct source prefixes an episode counts.
const maxFloodSources = 1024

// floodBaseline is one node's inbound-connection history.
type floodBaseline struct {
	first   int64 // the node's first event, ms
	epochs  []int64
	counts  []float64
	flagged []bool

	cacheHi  int64   // the last bucket of the cached baseline
	cacheOK  bool    // whether the cache holds a baseline
	cacheVal float64 // connections per window
	cached   bool
}

// floodState is the inbound-flood detector's per-node state.
type floodState struct {
	width  int64 // bucket width, ms
	nBase  int64 // buckets in the baseline span
	window int64
	nodes  map[uint32]*floodBaseline
}

func newFloodState(window int64, baseline time.Duration) *floodState {
	width := max(1, window/floodBuckets)
	nBase := max(1, baseline.Milliseconds()/width)
	return &floodState{width: width, nBase: nBase, window: window, nodes: map[uint32]*floodBaseline{}}
}

func (f *floodState) node(node uint32, first int64) *floodBaseline {
	b := f.nodes[node]
	if b == nil {
		// The ring holds the baseline span, the buckets the current
		// window overlaps and the gap of at most one bucket between.
		n := f.nBase + f.window/f.width + 3
		b = &floodBaseline{first: first, epochs: make([]int64, n), counts: make([]float64, n), flagged: make([]bool, n)}
		for i := range b.epochs {
			b.epochs[i] = math.MinInt64
		}
		f.nodes[node] = b
	}
	return b
}

func (b *floodBaseline) slot(ep int64) int {
	n := int64(len(b.epochs))
	return int(((ep % n) + n) % n)
}

// bucket returns the slot of epoch ep, reset if it held an older one.
func (b *floodBaseline) bucket(ep int64) int {
	i := b.slot(ep)
	if b.epochs[i] != ep {
		b.epochs[i], b.counts[i], b.flagged[i] = ep, 0, false
	}
	return i
}

func (f *floodState) add(b *floodBaseline, now int64) {
	b.counts[b.bucket(floorDiv(now, f.width))]++
}

// flag leaves the buckets the window ending at now overlaps out of any
// later baseline.
func (f *floodState) flag(b *floodBaseline, now int64) {
	for ep := floorDiv(now-f.window, f.width); ep <= floorDiv(now, f.width); ep++ {
		b.flagged[b.bucket(ep)] = true
	}
}

// baseline returns the mean inbound connections per window before the
// window ending at now, and false while there is not one window of clean
// history.
func (f *floodState) baseline(b *floodBaseline, now int64) (float64, bool) {
	hi := floorDiv(now-f.window, f.width) - 1 // the last bucket wholly before the window
	if b.cached && b.cacheHi == hi {
		return b.cacheVal, b.cacheOK
	}
	var count, covered float64
	for ep := hi - f.nBase + 1; ep <= hi; ep++ {
		from, to := ep*f.width, (ep+1)*f.width
		from = max(from, b.first)
		if to <= from {
			continue
		}
		i := b.slot(ep)
		if b.epochs[i] == ep {
			if b.flagged[i] {
				continue
			}
			count += b.counts[i]
		}
		covered += float64(to - from)
	}
	b.cached, b.cacheHi = true, hi
	b.cacheOK = covered >= float64(f.window)
	b.cacheVal = 0
	if b.cacheOK {
		b.cacheVal = count * float64(f.window) / covered
	}
	return b.cacheVal, b.cacheOK
}

// floodEpisode is what an inbound-flood episode adds to an episode: the
// baseline it was judged against and where its connections came from.
type floodEpisode struct {
	baseline   float64
	hasBase    bool
	baseSpan   time.Duration
	sources    map[string]uint64
	total      uint64
	unassigned uint64 // connections whose prefix was beyond maxFloodSources
}

func (fe *floodEpisode) addSource(addr string) {
	if addr == "" {
		return
	}
	fe.total++
	p := sourcePrefix(ipFromAddr(addr))
	if _, ok := fe.sources[p]; !ok && len(fe.sources) >= maxFloodSources {
		fe.unassigned++
		return
	}
	fe.sources[p]++
}

// details describes the baseline and the dominant source prefix.
func (fe *floodEpisode) details() []string {
	var d []string
	if fe.hasBase {
		d = append(d, fmt.Sprintf("baseline %s connections per window over the previous %s", formatG(fe.baseline), fe.baseSpan))
	} else {
		d = append(d, "no baseline yet (less than one window of history): warm-up threshold")
	}
	if top, share := fe.source(); top != "" {
		d = append(d, fmt.Sprintf("source %s: %.0f%% of %d connections", top, 100*share, fe.total))
	}
	return d
}

// source returns the dominant source prefix and its share of the
// episode's connections, "" when no connection had an address.
func (fe *floodEpisode) source() (string, float64) {
	if fe.total == 0 {
		return "", 0
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range fe.sources {
			if !yield(k) {
				return
			}
		}
	})
	var top string
	var n uint64
	for _, k := range keys {
		if fe.sources[k] > n {
			top, n = k, fe.sources[k]
		}
	}
	return top, float64(n) / float64(fe.total)
}

func formatG(v float64) string { return fmt.Sprintf("%.4g", v) }

// sourcePrefix returns the /24 of an IPv4 or the /48 of an IPv6 address
// in CIDR form, or host unchanged when it is not an IP address (onion,
// I2P), since a flood's connections come from one network.
func sourcePrefix(host string) string {
	a, err := netip.ParseAddr(stripBrackets(host))
	if err != nil {
		return host
	}
	a = a.WithZone("").Unmap()
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return host
	}
	return p.String()
}
