package event

import (
	"math/rand/v2"
	"testing"
)

// TestAppendTimeMatchesFormatTime checks the fast path against the time
// package at the edges of its range and on random instants.
func TestAppendTimeMatchesFormatTime(t *testing.T) {
	cases := []int64{0, 1, 999, 1000, 86_399_999, 86_400_000, 951_782_400_000 /* 2000-02-29 */, 1_709_164_800_123,
		4_107_542_399_999 /* 2100-02-28T23:59:59.999 */, 4_107_542_400_000, maxFastTime - 1, maxFastTime, -1, -86_400_001}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		cases = append(cases, rng.Int64N(maxFastTime))
	}
	for _, ms := range cases {
		if got, want := string(appendTime(nil, ms)), FormatTime(ms); got != want {
			t.Fatalf("appendTime(%d) = %q, FormatTime = %q", ms, got, want)
		}
	}
}
