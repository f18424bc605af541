package synth

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
)

// rng is one deterministic random stream. Every subsystem of the
// simulation draws from its own stream, so that injecting an anomaly (or a
// different activity level) does not shift, say, the block times.
type rng struct {
	r *rand.Rand
}

// Stream identifiers: part of the output format, do not renumber.
const (
	streamTx uint64 = iota + 1
	streamPeers
	streamChurn
	streamBlocks
	streamRPC
	streamLog
	streamAddr
	streamPing
	streamAnomaly
	streamMisc
	streamInit
	streamRelay
)

func newRNG(seed, stream uint64) *rng {
	return &rng{r: rand.New(rand.NewPCG(mix64(seed^0x5eed), mix64(stream*0x9e3779b97f4a7c15+seed)))}
}

// mix64 is SplitMix64's finalizer: a cheap, well-spread hash of x.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unit turns a hash into a float in (0, 1].
func unit(h uint64) float64 { return (float64(h>>11) + 1) / (1 << 53) }

func (r *rng) u64() uint64           { return r.r.Uint64() }
func (r *rng) u32() uint32           { return r.r.Uint32() }
func (r *rng) intn(n int) int        { return r.r.IntN(n) }
func (r *rng) float() float64        { return r.r.Float64() }
func (r *rng) chance(p float64) bool { return r.r.Float64() < p }

// between returns an int in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.r.IntN(hi-lo+1) }

// exp draws an exponential with the given mean.
func (r *rng) exp(mean float64) float64 { return r.r.ExpFloat64() * mean }

// expMs draws an exponential delay in whole milliseconds (at least 1).
func (r *rng) expMs(mean float64) int64 { return max(1, int64(r.exp(mean))) }

// lognormal draws a log-normal value with the given median and shape.
func (r *rng) lognormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*r.r.NormFloat64())
}

// fill fills b with random bytes.
func (r *rng) fill(b []byte) {
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, r.r.Uint64())
		b = b[8:]
	}
	if len(b) > 0 {
		var t [8]byte
		binary.LittleEndian.PutUint64(t[:], r.r.Uint64())
		copy(b, t[:])
	}
}

// bytes returns n fresh random bytes.
func (r *rng) bytes(n int) []byte {
	b := make([]byte, n)
	r.fill(b)
	return b
}

// hash32 returns a fresh random 32-byte hash.
func (r *rng) hash32() [32]byte {
	var h [32]byte
	r.fill(h[:])
	return h
}

// weighted picks an index with probability proportional to its weight.
type weighted struct {
	cum []float64
}

func newWeighted(w ...float64) weighted {
	c := make([]float64, len(w))
	s := 0.0
	for i, x := range w {
		s += x
		c[i] = s
	}
	for i := range c {
		c[i] /= s
	}
	return weighted{cum: c}
}

func (w weighted) pick(r *rng) int {
	x := r.float()
	for i, c := range w.cum {
		if x < c {
			return i
		}
	}
	return len(w.cum) - 1
}

// pickStr picks from a table of weighted strings.
type choice struct {
	s string
	w float64
}

type choices struct {
	items []choice
	w     weighted
}

func newChoices(items ...choice) choices {
	ws := make([]float64, len(items))
	for i, it := range items {
		ws[i] = it.w
	}
	return choices{items: items, w: newWeighted(ws...)}
}

func (c choices) pick(r *rng) string { return c.items[c.w.pick(r)].s }
