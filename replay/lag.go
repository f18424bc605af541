package replay

import (
	"math/bits"
	"time"
)

// lagHist is a log-linear histogram of non-negative durations: 16 buckets
// per power of two, so a quantile is within 1/16 (6%) of the true value,
// in fixed memory however many events a replay sends.
type lagHist struct {
	counts [61 * 16]uint64
	n      uint64
	max    time.Duration
}

func lagBucket(v uint64) int {
	if v < 32 {
		return int(v)
	}
	e := bits.Len64(v) - 5
	return (e+1)*16 + int((v>>e)&15)
}

// lagBucketMid returns a representative value of bucket i: exact below 32,
// else the middle of the bucket.
func lagBucketMid(i int) uint64 {
	if i < 32 {
		return uint64(i)
	}
	e := i/16 - 1
	lo := uint64(16+i%16) << e
	return lo + (uint64(1)<<e)/2
}

func (h *lagHist) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[lagBucket(uint64(d))]++
	h.n++
	h.max = max(h.max, d)
}

// quantile returns the q-quantile (0 < q ≤ 1), 0 for an empty histogram.
func (h *lagHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(lagBucketMid(i)), h.max)
		}
	}
	return h.max
}
