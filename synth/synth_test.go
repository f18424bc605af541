package synth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// generate returns the events of o.
func generate(t testing.TB, o Options) ([]event.Event, Stats) {
	t.Helper()
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	if err := g.Run(context.Background(), event.SinkFunc(func(ev event.Event) error {
		evs = append(evs, ev)
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	return evs, g.Stats()
}

// run generates o and returns the events with their decoded messages.
func run(t testing.TB, o Options) ([]event.Event, []*pb.Event, Stats) {
	t.Helper()
	evs, st := generate(t, o)
	msgs := make([]*pb.Event, len(evs))
	for i, ev := range evs {
		m, err := ev.Decode()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		msgs[i] = m
	}
	return evs, msgs, st
}

// digest hashes the stream: times, nodes and bytes.
func digest(evs []event.Event) string {
	h := sha256.New()
	for _, ev := range evs {
		fmt.Fprintf(h, "%d %s %d ", ev.Time, ev.Node, len(ev.Raw))
		h.Write(ev.Raw)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestDeterministic(t *testing.T) {
	o := Options{Node: "det", Duration: 4 * time.Minute, Rate: 400, Seed: 7,
		Anomalies: []Anomaly{{Kind: InboundFlood, Offset: time.Minute, Duration: 30 * time.Second}, {Kind: OrphanFlood, Offset: 2 * time.Minute, Duration: time.Minute}}}
	a, sa := generate(t, o)
	b, sb := generate(t, o)
	if len(a) == 0 {
		t.Fatal("no events")
	}
	if da, db := digest(a), digest(b); da != db || len(a) != len(b) {
		t.Fatalf("same options, different streams: %d events %s vs %d events %s", len(a), da, len(b), db)
	}
	if sa.Events != sb.Events || sa.AnomalyEvents != sb.AnomalyEvents {
		t.Fatalf("stats differ: %+v vs %+v", sa, sb)
	}
	// The same generator run twice gives the same stream too.
	g, _ := New(o)
	for range 2 {
		var evs []event.Event
		if err := g.Run(context.Background(), event.SinkFunc(func(ev event.Event) error { evs = append(evs, ev); return nil })); err != nil {
			t.Fatal(err)
		}
		if digest(evs) != digest(a) {
			t.Fatal("Generator.Run is not repeatable")
		}
	}
	o.Seed = 8
	c, _ := generate(t, o)
	if digest(c) == digest(a) {
		t.Fatal("another seed gave the same stream")
	}
}

func TestTimesOrderedAndInRange(t *testing.T) {
	o := Options{Duration: 3 * time.Minute, Rate: 500, Seed: 3, Start: time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)}
	evs, msgs, _ := run(t, o)
	start := o.Start.UnixMilli()
	end := start + o.Duration.Milliseconds()
	last := int64(0)
	for i, ev := range evs {
		if ev.Time < last {
			t.Fatalf("event %d: time %d before the previous %d", i, ev.Time, last)
		}
		if ev.Time < start || ev.Time >= end {
			t.Fatalf("event %d: time %d outside [%d, %d)", i, ev.Time, start, end)
		}
		if ev.Node != "synth" {
			t.Fatalf("event %d: node %q", i, ev.Node)
		}
		last = ev.Time
		// Log lines carry their own µs timestamp, written before the
		// extractor read them.
		if l := msgs[i].GetLogExtractor(); l != nil {
			us := int64(l.GetLogTimestamp())
			if us > ev.Time*1000+999 || us < ev.Time*1000-5_000 {
				t.Fatalf("event %d: log timestamp %d µs far from event time %d ms", i, us, ev.Time)
			}
		}
	}
}

// Every event has all proto2 required fields (a non-partial marshal
// succeeds) and re-encodes to exactly its bytes, so peer-observer's Rust
// tools and our own readers see the same thing.
func TestRequiredFieldsAndCanonicalBytes(t *testing.T) {
	evs, msgs, _ := run(t, Options{Duration: 3 * time.Minute, Rate: 600, Seed: 11,
		Anomalies: []Anomaly{{Kind: MutatedBlock, Offset: time.Minute, Duration: time.Minute}, {Kind: Misbehaving, Offset: 30 * time.Second, Duration: time.Minute}}})
	for i, m := range msgs {
		if err := proto.CheckInitialized(m); err != nil {
			t.Fatalf("event %d (%s): %v", i, evs[i].Selector(), err)
		}
		raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !bytes.Equal(raw, evs[i].Raw) {
			t.Fatalf("event %d (%s) does not re-encode to its bytes", i, evs[i].Selector())
		}
	}
}

// kindOf classifies a decoded event independently of event.Parse.
func kindOf(m *pb.Event) (event.Kind, string) {
	switch e := m.PeerObserverEvent.(type) {
	case *pb.Event_EbpfExtractor:
		switch x := e.EbpfExtractor.EbpfEvent.(type) {
		case *pb.Ebpf_Message:
			return event.NetMsg, x.Message.GetMeta().GetCommand()
		case *pb.Ebpf_Connection:
			return event.NetConn, string(x.Connection.ProtoReflect().WhichOneof(x.Connection.ProtoReflect().Descriptor().Oneofs().Get(0)).Name())
		case *pb.Ebpf_Mempool:
			return event.Mempool, string(x.Mempool.ProtoReflect().WhichOneof(x.Mempool.ProtoReflect().Descriptor().Oneofs().Get(0)).Name())
		case *pb.Ebpf_Validation:
			return event.Validation, "block_connected"
		}
	case *pb.Event_RpcExtractor:
		r := e.RpcExtractor.ProtoReflect()
		return event.RPC, string(r.WhichOneof(r.Descriptor().Oneofs().Get(0)).Name())
	case *pb.Event_P2PExtractor:
		r := e.P2PExtractor.ProtoReflect()
		return event.P2P, string(r.WhichOneof(r.Descriptor().Oneofs().Get(0)).Name())
	case *pb.Event_LogExtractor:
		r := e.LogExtractor.ProtoReflect()
		return event.Log, string(r.WhichOneof(r.Descriptor().Oneofs().Get(0)).Name())
	}
	return event.Unknown, ""
}

// event.Parse (cheap tag reading) agrees with the full decode, and every
// netmsg's oneof arm matches its command.
func TestParseKindsAndTypes(t *testing.T) {
	evs, msgs, _ := run(t, Options{Duration: 2 * time.Minute, Rate: 800, Seed: 5})
	counts := map[event.Kind]int{}
	for i, ev := range evs {
		p, err := event.Parse(ev.Raw)
		if err != nil {
			t.Fatal(err)
		}
		k, typ := kindOf(msgs[i])
		if p.Kind != k || p.Type != typ || p.Time != ev.Time {
			t.Fatalf("event %d: Parse says %s:%s@%d, decode says %s:%s@%d", i, p.Kind, p.Type, p.Time, k, typ, ev.Time)
		}
		counts[k]++
		if me := msgs[i].GetEbpfExtractor().GetMessage(); me != nil {
			arm := string(me.ProtoReflect().WhichOneof(me.ProtoReflect().Descriptor().Oneofs().Get(0)).Name())
			want := map[string]string{"cmpctblock": "compactblock", "sendcmpct": "sendcompact", "sendtxrcncl": "unknown"}[typ]
			if want == "" {
				want = typ
			}
			if typ == "ping" && arm == "oldping" {
				want = "oldping"
			}
			if arm != want {
				t.Fatalf("event %d: command %q in arm %q", i, typ, arm)
			}
		}
	}
	for _, k := range []event.Kind{event.NetMsg, event.NetConn, event.Mempool, event.RPC, event.P2P, event.Log} {
		if counts[k] == 0 {
			t.Errorf("no %s events in two minutes", k)
		}
	}
	if counts[event.Unknown] != 0 || counts[event.Addrman] != 0 || counts[event.IPC] != 0 {
		t.Errorf("unexpected kinds: %v", counts)
	}
}

// The rate controller meets the requested rate; anomalies come on top.
func TestRate(t *testing.T) {
	cases := []struct {
		rate float64
		dur  time.Duration
		tol  float64
	}{
		{DefaultRate, 12 * time.Minute, 0.05},
		{150, 30 * time.Minute, 0.06},
		{5000, 4 * time.Minute, 0.06},
	}
	if testing.Short() {
		cases = cases[1:2]
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.rate), func(t *testing.T) {
			g, err := New(Options{Duration: c.dur, Rate: c.rate, Seed: 21})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			if err := g.Run(context.Background(), event.SinkFunc(func(event.Event) error { n++; return nil })); err != nil {
				t.Fatal(err)
			}
			got := float64(n) / c.dur.Seconds()
			if math.Abs(got/c.rate-1) > c.tol {
				t.Fatalf("rate %.1f events/s, want %g ± %.0f%% (activity %.2f)", got, c.rate, 100*c.tol, g.Stats().Activity)
			}
		})
	}
}

// mixRun is a longer stream at a low rate: blocks, expiries and the rare
// message types all show up in it.
func mixRun(t *testing.T) ([]event.Event, []*pb.Event, Stats) {
	t.Helper()
	return run(t, Options{Duration: 75 * time.Minute, Rate: 150, Seed: 2})
}

func TestMix(t *testing.T) {
	if testing.Short() {
		t.Skip("75 minutes of events")
	}
	evs, msgs, st := mixRun(t)
	types := map[string]int{}
	kinds := map[event.Kind]int{}
	reasons := map[string]int{}
	for i, ev := range evs {
		types[ev.Selector()]++
		kinds[ev.Kind]++
		if r := msgs[i].GetEbpfExtractor().GetMempool().GetRemoved(); r != nil {
			reasons[r.GetReason()]++
		}
	}
	for _, sel := range []string{
		"netmsg:version", "netmsg:verack", "netmsg:wtxidrelay", "netmsg:sendaddrv2", "netmsg:sendcmpct", "netmsg:feefilter",
		"netmsg:ping", "netmsg:pong", "netmsg:inv", "netmsg:getdata", "netmsg:tx", "netmsg:notfound", "netmsg:addr",
		"netmsg:addrv2", "netmsg:getaddr", "netmsg:getheaders", "netmsg:headers", "netmsg:cmpctblock", "netmsg:getblocktxn",
		"netmsg:blocktxn", "netmsg:block", "netmsg:sendtxrcncl",
		"netconn:inbound", "netconn:outbound", "netconn:closed", "netconn:inbound_evicted", "netconn:misbehaving",
		"mempool:added", "mempool:removed", "mempool:replaced", "mempool:rejected",
		"validation:block_connected",
		"rpc:peer_infos", "rpc:mempool_info", "rpc:uptime", "rpc:net_totals", "rpc:memory_info", "rpc:addrman_info",
		"rpc:chain_tx_stats", "rpc:network_info", "rpc:blockchain_info", "rpc:orphan_txs", "rpc:addrman",
		"p2p:ping_duration", "p2p:inventory_announcement", "p2p:address_announcement",
		"log:unknown_log_message", "log:block_connected_log", "log:block_checked_log",
	} {
		if types[sel] == 0 {
			t.Errorf("no %s in %d events", sel, len(evs))
		}
	}
	for _, r := range []string{"block", "replaced", "conflict", "expiry"} {
		if reasons[r] == 0 {
			t.Errorf("no mempool removal with reason %q (have %v)", r, reasons)
		}
	}
	// Polls: every 10 s and every 120 s.
	if n, want := types["rpc:peer_infos"], 75*6; n < want-1 || n > want+1 {
		t.Errorf("%d getpeerinfo polls in 75 minutes, want %d", n, want)
	}
	if n, want := types["rpc:addrman"], 75/2; n < want-1 || n > want+1 {
		t.Errorf("%d getrawaddrman polls in 75 minutes, want about %d", n, want)
	}
	if n, want := types["p2p:ping_duration"], 75*6; n < want-1 || n > want+1 {
		t.Errorf("%d p2p-extractor pings in 75 minutes, want %d", n, want)
	}
	if st.Blocks < 2 || st.Blocks > 20 {
		t.Errorf("%d blocks in 75 minutes", st.Blocks)
	}
	if types["validation:block_connected"] != st.Blocks || types["log:block_checked_log"] != st.Blocks {
		t.Errorf("%d blocks, %d block_connected, %d BlockChecked", st.Blocks, types["validation:block_connected"], types["log:block_checked_log"])
	}
	share := func(k event.Kind) float64 { return float64(kinds[k]) / float64(len(evs)) }
	for _, c := range []struct {
		k      event.Kind
		lo, hi float64
	}{{event.Log, 0.55, 0.85}, {event.NetMsg, 0.12, 0.40}, {event.NetConn, 0.003, 0.06}, {event.Mempool, 0.005, 0.06}} {
		if s := share(c.k); s < c.lo || s > c.hi {
			t.Errorf("%s share %.4f outside [%g, %g]", c.k, s, c.lo, c.hi)
		}
	}
	t.Logf("%d events, %d blocks, kinds %v", len(evs), st.Blocks, kinds)
}

// Core's connection types as peer-observer maps them: feelers appear as
// OutboundFullRelay, the p2p-extractor's manual connection as Unknown,
// enum value 4 never.
func TestConnTypes(t *testing.T) {
	_, msgs, _ := run(t, Options{Duration: 10 * time.Minute, Rate: 200, Seed: 4})
	seen := map[pb.ConnType]int{}
	for _, m := range msgs {
		e := m.GetEbpfExtractor()
		if me := e.GetMessage(); me != nil {
			seen[me.GetMeta().GetConnType()]++
			if me.GetMeta().GetConnType() == pb.ConnType_Unknown && me.GetMeta().GetAddr() != "127.0.0.1:9333" {
				t.Fatalf("manual peer %q", me.GetMeta().GetAddr())
			}
		}
		if c := e.GetConnection(); c != nil {
			for _, conn := range []*pb.Connection{c.GetInbound().GetConn(), c.GetOutbound().GetConn(), c.GetClosed().GetConn(), c.GetInboundEvicted().GetConn()} {
				if conn != nil {
					seen[conn.GetConnType()]++
				}
			}
		}
	}
	if seen[pb.ConnType_Feeler] != 0 {
		t.Errorf("ConnType Feeler (4) emitted %d times; peer-observer maps feelers to OutboundFullRelay", seen[pb.ConnType_Feeler])
	}
	for _, c := range []pb.ConnType{pb.ConnType_Unknown, pb.ConnType_Inbound, pb.ConnType_OutboundFullRelay, pb.ConnType_BlockRelayOnly} {
		if seen[c] == 0 {
			t.Errorf("no events with connection type %v", c)
		}
	}
}

func TestCancelAndSinkErrors(t *testing.T) {
	g, err := New(Options{Duration: time.Hour, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err = g.Run(ctx, event.SinkFunc(func(event.Event) error {
		if n++; n == 5000 {
			cancel()
		}
		return nil
	}))
	if !errors.Is(err, context.Canceled) || n > 5000+1024 {
		t.Fatalf("after cancel: err %v, %d events", err, n)
	}
	boom := errors.New("disk full")
	n = 0
	err = g.Run(context.Background(), event.SinkFunc(func(event.Event) error {
		if n++; n == 100 {
			return boom
		}
		return nil
	}))
	if !errors.Is(err, boom) || n != 100 {
		t.Fatalf("sink error: err %v after %d events", err, n)
	}
	n = 0
	err = g.Run(context.Background(), event.SinkFunc(func(event.Event) error {
		if n++; n == 10 {
			return event.ErrStop
		}
		return nil
	}))
	if err != nil || n != 10 {
		t.Fatalf("ErrStop: err %v after %d events", err, n)
	}
}

func TestParseAnomaly(t *testing.T) {
	cases := []struct {
		in      string
		want    Anomaly
		wantErr string
	}{
		{"ping-backlog@10m:5m", Anomaly{PingBacklog, 10 * time.Minute, 5 * time.Minute}, ""},
		{"inbound-flood@90", Anomaly{InboundFlood, 90 * time.Second, 2 * time.Minute}, ""},
		{"Orphan-Flood@1h2m:30s", Anomaly{OrphanFlood, time.Hour + 2*time.Minute, 30 * time.Second}, ""},
		{"mutated-block@0:1.5", Anomaly{MutatedBlock, 0, 1500 * time.Millisecond}, ""},
		{"reject-spike@5m", Anomaly{RejectSpike, 5 * time.Minute, 2 * time.Minute}, ""},
		{"misbehaving@1m:1m", Anomaly{Misbehaving, time.Minute, time.Minute}, ""},
		{"ping-backlog", Anomaly{}, "want KIND@OFFSET"},
		{"@10m", Anomaly{}, "want KIND@OFFSET"},
		{"eclipse@10m", Anomaly{}, "unknown kind"},
		{"ping-backlog@soon", Anomaly{}, "offset"},
		{"ping-backlog@-1m", Anomaly{}, "offset"},
		{"ping-backlog@1m:0s", Anomaly{}, "positive"},
		{"ping-backlog@1m:x", Anomaly{}, "duration"},
	}
	for _, c := range cases {
		got, err := ParseAnomaly(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseAnomaly(%q) error %v, want one mentioning %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseAnomaly(%q) = %v, %v; want %v", c.in, got, err, c.want)
			continue
		}
		back, err := ParseAnomaly(got.String())
		if err != nil || back != got {
			t.Errorf("String() %q does not parse back: %v %v", got.String(), back, err)
		}
	}
}

func TestValidateAndMeta(t *testing.T) {
	bad := []struct {
		o    Options
		want string
	}{
		{Options{}, "duration"},
		{Options{Duration: time.Minute, Rate: 10}, "rate"},
		{Options{Duration: time.Minute, Rate: 1e6}, "rate"},
		{Options{Duration: time.Minute, Anomalies: []Anomaly{{PingBacklog, 50 * time.Second, 20 * time.Second}}}, "must end"},
		{Options{Duration: time.Minute, Start: time.Unix(-5, 0)}, "before 1970"},
	}
	for _, c := range bad {
		if _, err := New(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) error %v, want one mentioning %q", c.o, err, c.want)
		}
	}
	o := Options{Node: "n1", Duration: 90 * time.Second, Rate: 250, Seed: 42, Anomalies: []Anomaly{{PingBacklog, 10 * time.Second, time.Minute}}}
	m := o.Meta()
	if m.GetImplementation() != "synthetic" || m.GetNode() != "n1" || m.GetNetwork() != "mainnet" ||
		m.GetSynthetic().GetSeed() != 42 || m.GetSynthetic().GetRate() != 250 || m.GetSynthetic().GetDurationMs() != 90_000 ||
		!slices.Equal(m.GetSynthetic().GetAnomalies(), []string{"ping-backlog@10s:1m0s"}) {
		t.Fatalf("Meta() = %v", m)
	}
	if d := (Options{Duration: time.Second}).Meta(); d.GetSynthetic().GetRate() != DefaultRate || d.GetNode() != "synth" {
		t.Fatalf("defaults not in Meta: %v", d)
	}
}

// The node info sinks learn is the synthetic implementation.
func TestNodeInfo(t *testing.T) {
	g, _ := New(Options{Duration: time.Second, Seed: 1})
	var got event.NodeInfo
	s := &infoSink{f: func(i event.NodeInfo) { got = i }}
	if err := g.Run(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if got.Implementation != Implementation || got.Version != NodeUserAgent || got.Network != "mainnet" {
		t.Fatalf("node info %+v", got)
	}
}

type infoSink struct{ f func(event.NodeInfo) }

func (s *infoSink) Consume(event.Event) error { return nil }
func (s *infoSink) NodeInfo(i event.NodeInfo) { s.f(i) }
