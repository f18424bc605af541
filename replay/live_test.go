package replay

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/internal/testenv"
	"github.com/peertape/peertape/natsbus"
)

// TestRealTimeSpeed1 replays a few hundred events spread over a couple of
// seconds on the real clock: they come out in order and the whole replay
// takes the recorded span to within 10%. (Per-event timing is the fake
// clock tests' job; here only the total is checked.)
func TestRealTimeSpeed1(t *testing.T) {
	n, spanMs := 400, int64(2500)
	if testing.Short() {
		n, spanMs = 200, 1200
	}
	times := make([]int64, n)
	for i := range times {
		// Uneven spacing: bursts every 100 ms with quiet in between.
		times[i] = t0 + int64(i)*spanMs/int64(n-1)/10*10
	}
	times[n-1] = t0 + spanMs
	r := open(t, []string{segOf(t, times...)})
	c := &collector{}
	start := time.Now()
	st := run(t, r, c)
	took := time.Since(start)
	span := time.Duration(spanMs) * time.Millisecond
	if took < span*9/10 || took > span*11/10 {
		t.Errorf("replay took %v for a %v span (want within 10%%)", took, span)
	}
	if len(c.evs) != n {
		t.Fatalf("got %d events, want %d", len(c.evs), n)
	}
	for i, ev := range c.evs {
		if tagOf(t, ev) != i {
			t.Fatalf("event %d out of order (tag %d)", i, tagOf(t, ev))
		}
	}
	t.Logf("took %v for %v; lag p50 %v p99 %v max %v over %d events", took, span, st.LagP50, st.LagP99, st.LagMax, st.Paced)
}

type natsMsg struct {
	subject string
	data    []byte
}

// subscribeAll subscribes to every single-token subject (peer-observer's
// subjects are single tokens) and returns the channel of messages.
func subscribeAll(t *testing.T, srv *natsbus.Server) <-chan natsMsg {
	t.Helper()
	nc := testenv.NATSConn(t, srv)
	ch := make(chan natsMsg, 1<<16)
	sub, err := nc.Subscribe("*", func(m *nats.Msg) { ch <- natsMsg{m.Subject, m.Data} })
	if err != nil {
		t.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil { // the subscription is registered
		t.Fatal(err)
	}
	return ch
}

// TestRepublishByteExact: a replay into NATS publishes every recorded
// payload unchanged, on the subject peer-observer uses for its kind, in
// event-time order, for archives mixing every kind, nodes and formats.
func TestRepublishByteExact(t *testing.T) {
	srv := testenv.NATS(t)
	msgs := subscribeAll(t, srv)
	dir := t.TempDir()
	paths := []string{
		writeSeg(t, dir, "a.seg.zst", "alpha", everyKind(t, 1000, t0), 8192),
		writePartial(t, dir, "b.seg.zst", "beta", everyKind(t, 500, t0+3)),
		writeUpstream(t, dir, "gamma.20260407-090713-133.bin.zst", everyKind(t, 300, t0+7)),
	}
	want := readAll(t, open(t, paths))
	kinds := map[event.Kind]int{}
	for _, ev := range want {
		kinds[ev.Kind]++
	}
	if len(kinds) != len(event.Kinds()) {
		t.Fatalf("test archive covers %d kinds, want all %d", len(kinds), len(event.Kinds()))
	}

	for _, speed := range []float64{Max, 200} {
		pub := natsbus.NewPublisher(testenv.NATSConn(t, srv))
		r := open(t, paths, Speed(speed))
		if err := r.Run(context.Background(), pub); err != nil {
			t.Fatal(err)
		}
		if err := pub.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i, ev := range want {
			var m natsMsg
			select {
			case m = <-msgs:
			case <-time.After(10 * time.Second):
				t.Fatalf("speed %v: got %d of %d messages", speed, i, len(want))
			}
			subj := ev.Kind.Subject()
			if subj == "" {
				subj = "unknown"
			}
			if m.subject != subj || !bytes.Equal(m.data, ev.Raw) {
				t.Fatalf("speed %v: message %d on %q (%d bytes), want %s on %q", speed, i, m.subject, len(m.data), ev.Selector(), subj)
			}
			if i > 0 && ev.Time < want[i-1].Time {
				t.Fatalf("reference stream out of order at %d", i)
			}
		}
		select {
		case m := <-msgs:
			t.Fatalf("speed %v: extra message on %s", speed, m.subject)
		default:
		}
	}
}
