package analyze

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestDetectors(t *testing.T) {
	type tc struct {
		name  string
		opts  DetectOptions
		evs   func(t *testing.T) []event.Event
		kind  string
		start int64
		end   int64
		peak  float64
		peers []uint64
	}
	cases := []tc{
		{
			name: "ping backlog", kind: KindPingBacklog, start: T0, end: T0 + 13_000, peak: 3,
			peers: []uint64{1, 2},
			evs: func(t *testing.T) []event.Event {
				return []event.Event{
					ping(t, T0, pIn, true, 1), pong(t, T0+2000, pIn, false, 1), // 2 s
					ping(t, T0+9000, pIn, true, 2), pong(t, T0+9100, pIn, false, 2), // fast, below
					ping(t, T0+10_000, pOut, true, 3), pong(t, T0+13_000, pOut, false, 3), // 3 s
					ping(t, T0+900_000, pOut, true, 4), pong(t, T0+900_010, pOut, false, 4),
				}
			},
		},
		{
			name: "inbound flood", kind: KindInboundFlood, opts: DetectOptions{InboundFlood: 5, InboundFloodWarmup: 5}, start: T0 + 4000, end: T0 + 7000, peak: 8,
			peers: []uint64{10, 11, 12, 13, 14, 15, 16, 17},
			evs: func(t *testing.T) []event.Event {
				var evs []event.Event
				for i := range 8 {
					evs = append(evs, inbound(t, T0+int64(i)*1000, peer{uint64(10 + i), fmt.Sprintf("192.0.2.%d:1", i), pb.ConnType_Inbound}, 1))
				}
				// A lone connection ten minutes later: below the threshold.
				return append(evs, inbound(t, T0+600_000, peer{99, "192.0.2.99:1", pb.ConnType_Inbound}, 1))
			},
		},
		{
			name: "misbehaving burst", kind: KindMisbehaving, opts: DetectOptions{MisbehavingBurst: 3}, start: T0 + 200, end: T0 + 400, peak: 5,
			peers: []uint64{7, 8},
			evs: func(t *testing.T) []event.Event {
				var evs []event.Event
				for i := range 5 {
					evs = append(evs, misbehaving(t, T0+int64(i)*100, uint64(7+i%2), "invalid header received"))
				}
				return evs
			},
		},
		{
			name: "reject spike", kind: KindRejectSpike, opts: DetectOptions{RejectSpike: 3}, start: T0 + 1002, end: T0 + 1003, peak: 4,
			peers: []uint64{1},
			evs: func(t *testing.T) []event.Event {
				// pIn sent two of the transactions that get rejected.
				tx := func(ms int64, b byte) event.Event {
					return msg(t, ms, pIn, "tx", true, 100, func(m *pb.MessageEvent) {
						m.Msg = &pb.MessageEvent_Tx{Tx: &pb.Tx{Tx: &pb.Transaction{Txid: hash32(b), Wtxid: hash32(b)}}}
					})
				}
				return []event.Event{tx(T0, 1), tx(T0, 2),
					rejected(t, T0+1000, hash32(1), "bad-txns"), rejected(t, T0+1001, hash32(2), "bad-txns"),
					rejected(t, T0+1002, hash32(3), "bad-txns"), rejected(t, T0+1003, hash32(4), "bad-txns")}
			},
		},
		{
			name: "orphan flood", kind: KindOrphanFlood, opts: DetectOptions{OrphanFlood: 3}, start: T0 + 10_000, end: T0 + 20_000, peak: 4,
			peers: []uint64{5, 6},
			evs: func(t *testing.T) []event.Event {
				return []event.Event{
					orphans(t, T0, orphan("a", 1, 5)),
					orphans(t, T0+10_000, orphan("a", 1, 5), orphan("b", 1, 5), orphan("c", 1, 6)),
					orphans(t, T0+20_000, orphan("a", 1, 5), orphan("b", 1, 5), orphan("c", 1, 6), orphan("d", 1, 5)),
					orphans(t, T0+30_000, orphan("a", 1, 5)),
				}
			},
		},
		{
			name: "mutated block", kind: KindMutatedBlock, start: T0 + 500, end: T0 + 500, peak: 1,
			peers: []uint64{2},
			evs: func(t *testing.T) []event.Event {
				h := hash32(0x40)
				blk := msg(t, T0, pOut, "block", true, 1000, func(m *pb.MessageEvent) {
					m.Msg = &pb.MessageEvent_Block{Block: &pb.Block{Header: &pb.BlockHeader{Hash: h}}}
				})
				return []event.Event{blk, blockChecked(t, T0+500, displayHex(h), "bad-txnmrklroot"), blockChecked(t, T0+600, "ff", "valid")}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t, Options{Detect: c.opts})
			feed(t, e, c.evs(t)...)
			r := e.Report()
			if len(r.Anomalies) != 1 {
				t.Fatalf("anomalies = %+v, want one", r.Anomalies)
			}
			a := r.Anomalies[0]
			if a.Kind != c.kind || a.StartMs != c.start || a.EndMs != c.end || a.Peak != c.peak {
				t.Errorf("got kind %s start %d end %d peak %v; want %s %d %d %v", a.Kind, a.StartMs-T0, a.EndMs-T0, a.Peak, c.kind, c.start-T0, c.end-T0, c.peak)
			}
			var ids []uint64
			for _, p := range a.Peers {
				ids = append(ids, p.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(c.peers) && !sameSet(ids, c.peers) {
				t.Errorf("peers = %v, want %v", ids, c.peers)
			}
			if a.Ongoing {
				// Every case ends with the stream long after, or within the
				// cooldown — check consistency with the definition.
				if r.LastMs-a.EndMs > DefaultCooldown.Milliseconds() {
					t.Errorf("ongoing although the stream ended %v after it", time.Duration(r.LastMs-a.EndMs)*time.Millisecond)
				}
			}
			check(t, scrape(t, e), w("peertape_anomalies_total", 1, "kind="+c.kind))
		})
	}
}

func sameSet(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[uint64]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

func TestDetectorCooldownSplitsEpisodes(t *testing.T) {
	e := newEngine(t, Options{Detect: DetectOptions{Cooldown: time.Minute}})
	feed(t, e,
		ping(t, T0, pIn, true, 1), pong(t, T0+5000, pIn, false, 1),
		ping(t, T0+30_000, pIn, true, 2), pong(t, T0+35_000, pIn, false, 2), // within the cooldown: same episode
		ping(t, T0+200_000, pIn, true, 3), pong(t, T0+204_000, pIn, false, 3), // after: a new one
	)
	r := e.Report()
	if len(r.Anomalies) != 2 {
		t.Fatalf("anomalies = %d, want 2: %+v", len(r.Anomalies), r.Anomalies)
	}
	if a := r.Anomalies[0]; a.StartMs != T0 || a.EndMs != T0+35_000 || a.Ongoing || a.Peers[0].Events != 2 {
		t.Errorf("first = %+v", a)
	}
	if a := r.Anomalies[1]; a.StartMs != T0+200_000 || a.EndMs != T0+204_000 || !a.Ongoing {
		t.Errorf("second = %+v", a)
	}
	// Report does not change the engine: asking twice gives the same.
	if a, b := mustJSON(t, e.Report()), mustJSON(t, r); !bytes.Equal(a, b) {
		t.Errorf("second report differs")
	}
}

func TestDetectorsPerNode(t *testing.T) {
	e := newEngine(t, Options{Detect: DetectOptions{InboundFlood: 2, InboundFloodWarmup: 2}})
	var evs []event.Event
	for i, node := range []string{"a", "b", "a"} {
		ev := inbound(t, T0+int64(i), peer{uint64(i), "192.0.2.1:1", pb.ConnType_Inbound}, 0)
		ev.Node = node
		evs = append(evs, ev)
	}
	feed(t, e, evs...)
	r := e.Report()
	if len(r.Anomalies) != 1 || r.Anomalies[0].Node != "a" || r.Anomalies[0].Peak != 2 {
		t.Errorf("anomalies = %+v, want one on node a with peak 2", r.Anomalies)
	}
}

func TestDetectOptionsValidate(t *testing.T) {
	for _, o := range []DetectOptions{{InboundFlood: -1}, {Window: time.Millisecond}, {Cooldown: -time.Second}, {PingBacklog: -1}} {
		if _, err := New(Options{Detect: o}); err == nil {
			t.Errorf("New(%+v): no error", o)
		}
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestReportGolden pins the report's JSON schema.
func TestReportGolden(t *testing.T) {
	e := newEngine(t, Options{Detect: DetectOptions{InboundFlood: 3, InboundFloodWarmup: 3}})
	var evs []event.Event
	for i := range 4 {
		evs = append(evs, inbound(t, T0+int64(i)*1500, peer{uint64(20 + i), fmt.Sprintf("192.0.2.%d:8333", i), pb.ConnType_Inbound}, 1))
	}
	h := hash32(7)
	evs = append(evs,
		msg(t, T0+9000, pOut, "cmpctblock", true, 1000, func(m *pb.MessageEvent) {
			m.Msg = &pb.MessageEvent_Compactblock{Compactblock: &pb.CompactBlock{Header: &pb.BlockHeader{Hash: h}}}
		}),
		blockChecked(t, T0+9500, displayHex(h), "unexpected-witness"),
		ping(t, T0+600_000, pIn, true, 1), pong(t, T0+604_321, pIn, false, 1),
	)
	for _, ev := range evs {
		ev.Node = "mainnet-1"
		feed(t, e, ev)
	}
	r := e.Report()
	r.SetReplay([]string{"/var/lib/peertape/mainnet-1", "my archive.seg.zst"}, 30*time.Second)
	got := mustJSON(t, r)
	golden := filepath.Join("testdata", "report.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report differs from %s (run with -update after checking):\n%s", golden, got)
	}
	// The replay command round-trips through event.ParseTimeSpec.
	a := r.Anomalies[0]
	if a.Replay != "peertape replay /var/lib/peertape/mainnet-1 'my archive.seg.zst' --from 2026-03-01T23:59:33Z --to 2026-03-02T00:00:35Z" {
		t.Errorf("replay = %q", a.Replay)
	}
}

func TestReplayCommand(t *testing.T) {
	for _, tc := range []struct {
		paths    []string
		from, to int64
		want     string
	}{
		{[]string{"a.seg.zst"}, T0, T0 + 60_000, "peertape replay a.seg.zst --from 2026-03-02T00:00:00Z --to 2026-03-02T00:01:00Z"},
		{[]string{"dir/", "x y", "it's"}, T0 + 1, T0 + 1500, `peertape replay dir/ 'x y' 'it'\''s' --from 2026-03-02T00:00:00.001Z --to 2026-03-02T00:00:01.500Z`},
		{[]string{""}, T0, T0, "peertape replay '' --from 2026-03-02T00:00:00Z --to 2026-03-02T00:00:00Z"},
	} {
		got := ReplayCommand(tc.paths, tc.from, tc.to)
		if got != tc.want {
			t.Errorf("ReplayCommand(%q) = %q, want %q", tc.paths, got, tc.want)
		}
	}
	// The times parse back as the replay command reads them.
	for _, s := range []string{"2026-03-02T00:00:00Z", "2026-03-02T00:00:01.500Z"} {
		ts, err := event.ParseTimeSpec(s)
		if err != nil || ts.Resolve(0)%500 != 0 {
			t.Errorf("ParseTimeSpec(%q) = %v, %v", s, ts, err)
		}
	}
}
