package analyze

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/internal/testevents"
	"github.com/peertape/peertape/proto/pb"
)

func rawEvent(t testing.TB, raw []byte) event.Event {
	t.Helper()
	ev, err := event.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestUnknownEventKinds(t *testing.T) {
	// An event.Event with oneof arm 9 (a future extractor) and one with no
	// arm at all: counted as kind unknown, otherwise ignored.
	var future []byte
	future = protowire.AppendTag(future, 10, protowire.VarintType)
	future = protowire.AppendVarint(future, uint64(T0))
	future = protowire.AppendTag(future, 9, protowire.BytesType)
	future = protowire.AppendBytes(future, []byte{0x08, 0x01})
	var bare []byte
	bare = protowire.AppendTag(bare, 10, protowire.VarintType)
	bare = protowire.AppendVarint(bare, uint64(T0+1))
	// An eBPF event whose inner arm (7) this build does not know.
	var inner []byte
	inner = protowire.AppendTag(inner, 7, protowire.BytesType)
	inner = protowire.AppendBytes(inner, nil)
	var ebpfUnknown []byte
	ebpfUnknown = protowire.AppendTag(ebpfUnknown, 10, protowire.VarintType)
	ebpfUnknown = protowire.AppendVarint(ebpfUnknown, uint64(T0+2))
	ebpfUnknown = protowire.AppendTag(ebpfUnknown, 1, protowire.BytesType)
	ebpfUnknown = protowire.AppendBytes(ebpfUnknown, inner)

	e := newEngine(t, Options{})
	feed(t, e, rawEvent(t, future), rawEvent(t, bare), rawEvent(t, ebpfUnknown))
	m := scrape(t, e)
	check(t, m,
		w("peertape_events_total", 3, "kind=unknown"),
		w("peertape_events_malformed_total", 0),
		w("peertape_last_event_timestamp_seconds", float64(T0+2)/1000),
	)
}

func TestUnknownMessageTypes(t *testing.T) {
	e := newEngine(t, Options{})
	// The extractor's unknown arm (a command rust-bitcoin does not model)
	// and a message with a command but no arm this build knows (field 60).
	sendtxrcncl := msg(t, T0, pIn, "sendtxrcncl", true, 16, func(m *pb.MessageEvent) {
		m.Msg = &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{Command: proto.String("sendtxrcncl"), Payload: []byte{1, 2}}}
	})
	me, err := proto.Marshal(&pb.MessageEvent{Meta: meta(pOut, "newcmd", false, 3)})
	if err != nil {
		t.Fatal(err)
	}
	me = protowire.AppendTag(me, 60, protowire.BytesType)
	me = protowire.AppendBytes(me, []byte{1, 2, 3})
	var eb, raw []byte
	eb = protowire.AppendTag(eb, 1, protowire.BytesType)
	eb = protowire.AppendBytes(eb, me)
	raw = protowire.AppendTag(raw, 10, protowire.VarintType)
	raw = protowire.AppendVarint(raw, uint64(T0))
	raw = protowire.AppendTag(raw, 1, protowire.BytesType)
	raw = protowire.AppendBytes(raw, eb)
	feed(t, e, sendtxrcncl, rawEvent(t, raw))
	check(t, scrape(t, e),
		w("peertape_p2p_unknown_messages_total", 1, "direction=inbound"),
		w("peertape_p2p_unknown_messages_total", 1, "direction=outbound"),
		w("peerobserver_p2p_message_count", 1, "message=sendtxrcncl", "connection_type=1", "direction=inbound"),
		w("peerobserver_p2p_message_count", 1, "message=newcmd", "connection_type=2", "direction=outbound"),
		w("peertape_events_total", 2, "kind=netmsg"),
	)
}

func TestMalformedEventsSkipped(t *testing.T) {
	e := newEngine(t, Options{})
	good := ping(t, T0, pIn, true, 1)
	// Valid outer framing (so Parse classifies it) with a broken inner
	// message: the decode fails, the event is counted and skipped.
	var inner []byte
	inner = protowire.AppendTag(inner, 1, protowire.BytesType)
	inner = append(inner, 0x05, 0x0a) // length 5, only 1 byte follows
	var raw []byte
	raw = protowire.AppendTag(raw, 10, protowire.VarintType)
	raw = protowire.AppendVarint(raw, uint64(T0+1))
	raw = protowire.AppendTag(raw, 2, protowire.BytesType)
	raw = protowire.AppendBytes(raw, inner)
	bad := event.Event{Time: T0 + 1, Kind: event.RPC, Raw: raw}
	feed(t, e, good, bad, pong(t, T0+2, pIn, false, 1))
	check(t, scrape(t, e),
		w("peertape_events_malformed_total", 1),
		w("peertape_ping_response_seconds", 1, "connection_type=inbound"),
	)
}

func TestPeersKeyedByNode(t *testing.T) {
	e := newEngine(t, Options{})
	a := ping(t, T0, pIn, true, 1)
	a.Node = "a"
	b := pong(t, T0+1, pIn, false, 1)
	b.Node = "b" // same peer id on another node: not a match
	c := pong(t, T0+2, pIn, false, 1)
	c.Node = "a"
	feed(t, e, a, b, c)
	check(t, scrape(t, e),
		w("peertape_pong_unmatched_total", 1),
		w("peertape_ping_response_seconds", 1, "connection_type=inbound"),
	)
}

// TestDeterminism: the same events fed to two engines give byte-identical
// text and OpenMetrics expositions and reports, also when one of them is
// scraped, sampled and advanced along the way.
func TestDeterminism(t *testing.T) {
	evs := append(realisticMix(t, 20_000, 1), everyGroup(t)...)
	evs = append(evs, testevents.Mixed(500, 3, T0+40_000)...)
	run := func(disturb bool) (text, om, report []byte) {
		e := newEngine(t, Options{Lists: testLists(t)})
		var s *Sampler
		if disturb {
			var err error
			s, err = e.NewSampler(&bytes.Buffer{}, SamplerOptions{Interval: time.Second})
			if err != nil {
				t.Fatal(err)
			}
		}
		for i, ev := range evs {
			if disturb && i%997 == 0 {
				e.AdvanceTo(ev.Time)
				var b bytes.Buffer
				e.WriteText(&b)
				e.Report()
			}
			feed(t, e, ev)
		}
		if s != nil {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		var tb, ob bytes.Buffer
		if err := e.WriteText(&tb); err != nil {
			t.Fatal(err)
		}
		if err := e.WriteOpenMetrics(&ob); err != nil {
			t.Fatal(err)
		}
		return tb.Bytes(), ob.Bytes(), mustJSON(t, e.Report())
	}
	t1, o1, r1 := run(false)
	t2, o2, r2 := run(false)
	t3, o3, r3 := run(true)
	if !bytes.Equal(t1, t2) || !bytes.Equal(t1, t3) {
		t.Errorf("text expositions differ (%d, %d, %d bytes)", len(t1), len(t2), len(t3))
		diffLines(t, t1, t3)
	}
	if !bytes.Equal(o1, o2) || !bytes.Equal(o1, o3) {
		t.Errorf("OpenMetrics expositions differ")
	}
	if !bytes.Equal(r1, r2) || !bytes.Equal(r1, r3) {
		t.Errorf("reports differ")
	}
	if len(t1) < 10_000 {
		t.Errorf("exposition suspiciously small: %d bytes", len(t1))
	}
}

func diffLines(t *testing.T, a, b []byte) {
	al, bl := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := 0; i < len(al) && i < len(bl); i++ {
		if !bytes.Equal(al[i], bl[i]) {
			t.Logf("first difference at line %d:\n  %s\n  %s", i+1, al[i], bl[i])
			return
		}
	}
}

// TestConcurrentScrape scrapes, reports and samples while events are
// consumed from another goroutine (run with -race).
func TestConcurrentScrape(t *testing.T) {
	evs := realisticMix(t, 5000, 21)
	e := newEngine(t, Options{})
	s, err := e.NewSampler(&bytes.Buffer{}, SamplerOptions{Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, ev := range evs {
			e.Consume(ev)
		}
	}()
	for {
		select {
		case <-done:
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			var n float64
			for _, ev := range evs {
				if ev.Kind == event.NetMsg {
					n++
				}
			}
			check(t, scrape(t, e), w("peertape_events_total", n, "kind=netmsg"))
			return
		default:
			var b bytes.Buffer
			if err := e.WriteOpenMetrics(&b); err != nil {
				t.Fatal(err)
			}
			e.Report()
		}
	}
}
