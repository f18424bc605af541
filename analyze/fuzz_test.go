package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/peertape/peertape/event"
)

// FuzzEngineConsume feeds arbitrary event bytes (after the classifier
// accepted them) to an engine: it must never panic, and its expositions
// and report must still be written.
func FuzzEngineConsume(f *testing.F) {
	for _, ev := range everyGroup(f) {
		f.Add(ev.Raw, int64(0))
	}
	f.Add(rejectWithRawReason(f, T0, 99).Raw, int64(5))
	f.Add(estimateSmartFee(f, T0, 3, 7, 2).Raw, int64(-5))
	f.Add(logWithLevelAndBytes(f, T0, 9, 1<<40).Raw, int64(0))
	f.Fuzz(func(t *testing.T, raw []byte, shift int64) {
		ev, err := event.Parse(raw)
		if err != nil {
			return
		}
		e := newEngine(t, Options{Lists: testLists(t), Limits: Limits{MaxPeers: 2, MaxPingsPerPeer: 2}})
		s, err := e.NewSampler(io.Discard, SamplerOptions{TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		e.Consume(ev)
		// The same event again, shifted in time either way.
		ev.Time += shift
		e.Consume(ev)
		if err := e.WriteText(io.Discard); err != nil {
			t.Fatal(err)
		}
		if err := e.WriteOpenMetrics(io.Discard); err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(e.Report()); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseReconstructed: no panics, and an accepted line renders back to
// one that parses the same.
func FuzzParseReconstructed(f *testing.F) {
	f.Add("Successfully reconstructed block ab with 1 txn prefilled, 2 txn from mempool (incl at least 0 from extra pool) and 3 txn requested")
	f.Add("Successfully reconstructed block ab with 1 txn prefilled, 2 txn from mempool (incl at least 0 from extra pool) and 3 txn (10 bytes) requested")
	f.Add("Successfully reconstructed block ")
	f.Add("Successfully reconstructed block ab with 1 txn prefilled (252 bytes), 3078 txn from mempool (1280031 bytes), 3 txn from extrapool (1021 bytes), and 2 txn requested (1412 bytes)")
	f.Fuzz(func(t *testing.T, line string) {
		r, ok := parseReconstructed(line)
		if !ok {
			return
		}
		if r.extra > r.mempool {
			t.Errorf("%q: extra pool %d above mempool %d", line, r.extra, r.mempool)
		}
		again := fmt.Sprintf("Successfully reconstructed block %s with %d txn prefilled, %d txn from mempool (incl at least %d from extra pool) and %d txn requested",
			r.hash, r.prefilled, r.mempool, r.extra, r.requested)
		r2, ok := parseReconstructed(again)
		if !ok || r2 != r {
			// A hash containing " with " cannot round-trip; that is fine.
			if !bytes.Contains([]byte(r.hash), []byte(" with ")) {
				t.Errorf("%q -> %+v -> %q -> %+v, %v", line, r, again, r2, ok)
			}
		}
	})
}
