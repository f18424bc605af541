package analyze

import (
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

func TestPingResponse(t *testing.T) {
	e := newEngine(t, Options{})
	feed(t, e,
		ping(t, T0, pIn, true, 7),
		ping(t, T0+10, pOut, true, 9),
		pong(t, T0+250, pIn, false, 7),   // 250 ms on an inbound peer
		pong(t, T0+3010, pOut, false, 9), // 3 s on an outbound peer
		// The node pinging a peer and the peer's pong: not the backlog.
		ping(t, T0+4000, pIn, false, 11),
		pong(t, T0+4100, pIn, true, 11),
	)
	m := scrape(t, e)
	check(t, m,
		w("peertape_ping_response_seconds", 1, "connection_type=inbound"),
		w("peertape_ping_response_seconds", 1, "connection_type=outbound-full-relay"),
		w("peertape_ping_outstanding", 0),
		w("peertape_pong_unmatched_total", 0),
		w("peertape_ping_response_recent_seconds", 1, "connection_type=inbound"),
		w("peertape_ping_oldest_outstanding_seconds", 0),
	)
	if q := summaryQuantile(m, "peertape_ping_response_recent_seconds", 0.5, "connection_type=inbound"); q != 0.25 {
		t.Errorf("inbound median = %v, want 0.25", q)
	}
	if q := summaryQuantile(m, "peertape_ping_response_recent_seconds", 0.99, "connection_type=outbound-full-relay"); q != 3 {
		t.Errorf("outbound 0.99 quantile = %v, want 3", q)
	}
	h := m["peertape_ping_response_seconds"]
	for _, s := range h.Metric {
		if s.Label[0].GetValue() == "inbound" && s.GetHistogram().GetSampleSum() != 0.25 {
			t.Errorf("inbound sum = %v, want 0.25", s.GetHistogram().GetSampleSum())
		}
	}
	absent(t, m, "peertape_ping_response_recent_seconds", "connection_type=block-relay-only")
	// Eleven minutes later the window is empty: quantiles NaN, count kept.
	feed(t, e, ping(t, T0+11*60_000, pBRO, true, 1))
	m = scrape(t, e)
	check(t, m, w("peertape_ping_response_recent_seconds", 1, "connection_type=inbound"))
	if q := summaryQuantile(m, "peertape_ping_response_recent_seconds", 0.5, "connection_type=inbound"); !math.IsNaN(q) {
		t.Errorf("median of an empty window = %v, want NaN", q)
	}
}

func TestPongWithoutPing(t *testing.T) {
	e := newEngine(t, Options{})
	feed(t, e,
		pong(t, T0, pIn, false, 42),
		ping(t, T0+5, pIn, true, 1),
		pong(t, T0+6, pIn, false, 2), // wrong nonce
	)
	m := scrape(t, e)
	check(t, m,
		w("peertape_pong_unmatched_total", 2),
		w("peertape_ping_outstanding", 1),
		w("peertape_ping_response_seconds", 0, "connection_type=inbound"),
	)
}

func TestPingNonceReuse(t *testing.T) {
	e := newEngine(t, Options{})
	feed(t, e,
		ping(t, T0, pIn, true, 5),
		ping(t, T0+100, pIn, true, 5), // same nonce while the first is outstanding
		pong(t, T0+1000, pIn, false, 5),
		pong(t, T0+1100, pIn, false, 5),
	)
	m := scrape(t, e)
	check(t, m,
		w("peertape_ping_nonce_reuse_total", 1),
		w("peertape_ping_outstanding", 0),
		w("peertape_pong_unmatched_total", 0),
		w("peertape_ping_response_seconds", 2, "connection_type=inbound"),
	)
	// First in, first out: 1.0 s and 1.0 s, not 1.1 s and 1.0 s.
	for _, s := range m["peertape_ping_response_seconds"].Metric {
		if s.Label[0].GetValue() == "inbound" && s.GetHistogram().GetSampleSum() != 2.0 {
			t.Errorf("sum of responses = %v, want 2.0", s.GetHistogram().GetSampleSum())
		}
	}
}

func TestPingPeerDisconnectsMidPing(t *testing.T) {
	e := newEngine(t, Options{})
	feed(t, e,
		ping(t, T0, pIn, true, 1),
		ping(t, T0+1, pIn, true, 2),
		ping(t, T0+2, pOut, true, 3),
		closed(t, T0+500, pIn, uint64(T0/1000-60)),
		pong(t, T0+600, pIn, false, 1), // after the disconnect: unmatched
	)
	m := scrape(t, e)
	check(t, m,
		w("peertape_ping_unanswered_total", 2, "reason=disconnected"),
		w("peertape_ping_outstanding", 1),
		w("peertape_pong_unmatched_total", 1),
		w("peertape_ping_oldest_outstanding_seconds", 0.598),
	)
}

func TestPingClockBackwards(t *testing.T) {
	e := newEngine(t, Options{})
	feed(t, e,
		ping(t, T0+5000, pIn, true, 1),
		pong(t, T0+1000, pIn, false, 1), // stamped 4 s before its ping
		ping(t, T0+6000, pIn, true, 2),
		pong(t, T0+6500, pIn, false, 2),
	)
	m := scrape(t, e)
	check(t, m,
		w("peertape_events_out_of_order_total", 1),
		w("peertape_ping_response_seconds", 2, "connection_type=inbound"),
		w("peertape_last_event_timestamp_seconds", float64(T0+6500)/1000),
	)
	for _, s := range m["peertape_ping_response_seconds"].Metric {
		if s.Label[0].GetValue() == "inbound" {
			if sum := s.GetHistogram().GetSampleSum(); sum != 0.5 {
				t.Errorf("sum of responses = %v, want 0.5 (0 for the backwards pong, 0.5 for the next)", sum)
			}
		}
	}
}

func TestPingTimeoutOverflowSkipped(t *testing.T) {
	e := newEngine(t, Options{Limits: Limits{MaxPingsPerPeer: 3, PingTimeout: time.Minute}})
	evs := []event.Event{}
	for i := range 5 {
		evs = append(evs, ping(t, T0+int64(i), pIn, true, uint64(i)))
	}
	// 5 pings, 3 kept: 2 overflow. Answer the last: the two before it were skipped.
	evs = append(evs, pong(t, T0+10, pIn, false, 4))
	// A ping nobody answers on another peer, then time passes.
	evs = append(evs, ping(t, T0+20, pOut, true, 99))
	evs = append(evs, msg(t, T0+3*60_000, pBRO, "verack", true, 0, func(m *pb.MessageEvent) { m.Msg = &pb.MessageEvent_Verack{Verack: true} }))
	feed(t, e, evs...)
	check(t, scrape(t, e),
		w("peertape_ping_unanswered_total", 2, "reason=overflow"),
		w("peertape_ping_unanswered_total", 2, "reason=skipped"),
		w("peertape_ping_unanswered_total", 1, "reason=timeout"),
		w("peertape_ping_outstanding", 0),
		w("peertape_ping_response_seconds", 1, "connection_type=inbound"),
	)
}

func TestPeerStateEviction(t *testing.T) {
	e := newEngine(t, Options{Limits: Limits{MaxPeers: 4}})
	for i := range 10 {
		feed(t, e, ping(t, T0+int64(i), peer{uint64(i), "192.0.2.1:1", pb.ConnType_Inbound}, true, 1))
	}
	m := scrape(t, e)
	check(t, m,
		w("peertape_state_evictions_total", 6, "state=peers"),
		w("peertape_state_entries", 4, "state=peers"),
		w("peertape_ping_unanswered_total", 6, "reason=evicted"),
		w("peertape_ping_outstanding", 4),
	)
	// The most recent peers survived: answering peer 9 matches.
	feed(t, e, pong(t, T0+20, peer{9, "192.0.2.1:1", pb.ConnType_Inbound}, false, 1))
	feed(t, e, pong(t, T0+21, peer{0, "192.0.2.1:1", pb.ConnType_Inbound}, false, 1))
	check(t, scrape(t, e),
		w("peertape_ping_response_seconds", 1, "connection_type=inbound"),
		w("peertape_pong_unmatched_total", 1),
	)
}

func TestP2PExtractorPing(t *testing.T) {
	e := newEngine(t, Options{})
	for i, ns := range []uint64{300_000, 1_500_000_000} {
		feed(t, e, mk(t, T0+int64(i), "", p2pEv(&pb.P2P{P2PEvent: &pb.P2P_PingDuration{PingDuration: &pb.PingDuration{Duration: proto.Uint64(ns)}}})))
	}
	m := scrape(t, e)
	check(t, m,
		w("peertape_p2pextractor_ping_duration_seconds", 2),
		w("peerobserver_p2pextractor_ping_duration_nanoseconds", 1_500_000_000),
	)
	r := e.Report()
	if len(r.Anomalies) != 1 || r.Anomalies[0].Kind != KindPingBacklog || r.Anomalies[0].Peak != 1.5 {
		t.Errorf("anomalies = %+v, want one ping-backlog with peak 1.5", r.Anomalies)
	}
}
