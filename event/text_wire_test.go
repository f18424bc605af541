package event_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/internal/testevents"
	"github.com/peertape/peertape/proto/pb"
)

// TestWireRenderMatches checks that rendering straight from the wire
// (msg == nil) gives exactly the bytes of rendering the decoded message,
// on a synthetic mainnet mix, testevents' mix, and byte mutations of both
// (where the fast path must decline or agree, never differ).
func TestWireRenderMatches(t *testing.T) {
	var evs []event.Event
	synthEvs, _, _ := renderEvents(t)
	step := 10
	if testing.Short() {
		step = 50
	}
	for i := 0; i < len(synthEvs); i += step {
		evs = append(evs, synthEvs[i])
	}
	evs = append(evs, testevents.Mixed(20_000, 7, 1_700_000_000_000)...)
	rng := rand.New(rand.NewPCG(3, 4))
	n := len(evs)
	for i := 0; i < n; i += 5 {
		raw := append([]byte(nil), evs[i].Raw...)
		if len(raw) == 0 {
			continue
		}
		switch rng.IntN(3) {
		case 0:
			raw[rng.IntN(len(raw))] ^= byte(1 << rng.IntN(8))
		case 1:
			raw = raw[:rng.IntN(len(raw))]
		case 2:
			raw[rng.IntN(len(raw))] = byte(rng.IntN(256))
		}
		ev := evs[i]
		ev.Raw = raw
		evs = append(evs, ev)
	}
	fast := 0
	for i, ev := range evs {
		msg, decErr := ev.Decode()
		for _, r := range []struct {
			name   string
			render func([]byte, event.Event, *pb.Event) ([]byte, error)
		}{{"text", event.AppendTextLine}, {"json", event.AppendJSONLine}} {
			got, err := r.render([]byte("prefix "), ev, nil)
			if decErr != nil {
				if err == nil || string(got) != "prefix " {
					t.Fatalf("event %d (%s): %s of undecodable event: %q, %v; want error %v", i, ev.Selector(), r.name, got, err, decErr)
				}
				continue
			}
			want, err2 := r.render([]byte("prefix "), ev, msg)
			if err != nil || err2 != nil {
				t.Fatalf("event %d (%s): %s errors %v / %v", i, ev.Selector(), r.name, err, err2)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("event %d (%s) raw %x:\n%s from the wire:\n%s\ndecoded:\n%s", i, ev.Selector(), ev.Raw, r.name, got, want)
			}
			fast++
		}
	}
	t.Logf("%d events, %d renderings compared", len(evs), fast)
}
