package analyze

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
	"github.com/peertape/peertape/synth"
)

// churn returns inbound connections to node at perSec a second from
// fromMs to toMs, each from its own address in 10.0.0.0/8 (ids from id0),
// or from prefix (a "a.b.c." /24) when it is not empty.
func churn(t *testing.T, node string, fromMs, toMs int64, perSec int, id0 uint64, prefix string) []event.Event {
	var evs []event.Event
	step := int64(1000 / perSec)
	for i, ms := 0, fromMs; ms < toMs; i, ms = i+1, ms+step {
		addr := fmt.Sprintf("10.%d.%d.%d:8333", i/65536%256, i/256%256, i%256)
		if prefix != "" {
			addr = fmt.Sprintf("%s%d:8333", prefix, i%250+1)
		}
		p := peer{id0 + uint64(i), addr, pb.ConnType_Inbound}
		evs = append(evs, connEv(t, ms, node, &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Inbound{Inbound: &pb.InboundConnection{Conn: conn(p, 1), ExistingConnections: proto.Uint64(1)}}}))
	}
	return evs
}

// merge orders streams by time (stable), as a recorder would.
func merge(streams ...[]event.Event) []event.Event {
	var all []event.Event
	for _, s := range streams {
		all = append(all, s...)
	}
	// Insertion by time keeps the order of equal times.
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && all[j].Time < all[j-1].Time; j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	return all
}

func floods(r *Report) []Anomaly {
	var out []Anomaly
	for _, a := range r.Anomalies {
		if a.Kind == KindInboundFlood {
			out = append(out, a)
		}
	}
	return out
}

const minute = int64(60_000)

func TestInboundFloodBaseline(t *testing.T) {
	type want struct {
		node             string
		startLo, startHi int64 // ms after T0
		endLo, endHi     int64
		threshold        float64
		source           string
		detail           string
	}
	cases := []struct {
		name string
		opts DetectOptions
		evs  func(t *testing.T) []event.Event
		want []want
	}{
		{
			// 2/s is four times the absolute threshold, but it is the
			// node's normal: never a flood, during warm-up or after.
			name: "steady churn above the absolute threshold",
			evs:  func(t *testing.T) []event.Event { return churn(t, "a", T0, T0+20*minute, 2, 1000, "") },
		},
		{
			// 1/s for ten minutes, then 9/s more from one /24 for a
			// minute: the window reaches 4 × 60 = 240 about 20 s in, and
			// falls below it about 40 s after the burst.
			name: "burst ten times the baseline",
			evs: func(t *testing.T) []event.Event {
				return merge(churn(t, "a", T0, T0+20*minute, 1, 1000, ""),
					churn(t, "a", T0+10*minute, T0+11*minute, 9, 100_000, "198.51.100."))
			},
			want: []want{{node: "a", startLo: 10*minute + 15_000, startHi: 10*minute + 25_000, endLo: 11*minute + 35_000, endHi: 11*minute + 45_000,
				threshold: 240, source: "198.51.100.0/24", detail: "baseline 60 connections per window over the previous 30m0s"}},
		},
		{
			// The flood's windows stay out of the baseline, so a flood
			// longer than InboundBaseline/InboundFloodFactor does not
			// become its own baseline and end early.
			name: "long flood does not raise its baseline",
			evs: func(t *testing.T) []event.Event {
				return merge(churn(t, "a", T0, T0+40*minute, 1, 1000, ""),
					churn(t, "a", T0+10*minute, T0+25*minute, 9, 100_000, "198.51.100."))
			},
			want: []want{{node: "a", startLo: 10*minute + 15_000, startHi: 10*minute + 25_000, endLo: 25*minute + 35_000, endHi: 25*minute + 45_000,
				threshold: 240, source: "198.51.100.0/24"}},
		},
		{
			// No history: a window of 500 is no flood yet (below the
			// warm-up bar of 1000), one of 2400 is, reaching 1000 25 s in.
			name: "warm-up: moderate start is not a flood",
			evs:  func(t *testing.T) []event.Event { return churn(t, "a", T0, T0+minute, 8, 1000, "") },
		},
		{
			name: "warm-up: extreme start is a flood",
			evs: func(t *testing.T) []event.Event {
				return merge(churn(t, "a", T0, T0+minute, 40, 1000, "203.0.113."), churn(t, "a", T0, T0+10*minute, 1, 100_000, ""))
			},
			want: []want{{node: "a", startLo: 24_000, startHi: 26_000, endLo: minute, endHi: minute + 40_000,
				threshold: 1000, source: "203.0.113.0/24", detail: "no baseline yet"}},
		},
		{
			// Per node: 120 a minute is a flood for the quiet node b
			// (baseline 6) and the normal of the busy node a.
			name: "baselines are per node",
			evs: func(t *testing.T) []event.Event {
				return merge(churn(t, "a", T0, T0+20*minute, 2, 1000, ""),
					quiet(t, "b", T0, T0+20*minute),
					churn(t, "b", T0+10*minute, T0+11*minute, 2, 200_000, "192.0.2."))
			},
			want: []want{{node: "b", startLo: 10 * minute, startHi: 11 * minute, endLo: 11 * minute, endHi: 12 * minute,
				threshold: 30, source: "192.0.2.0/24"}},
		},
		{
			name: "factor is an option",
			opts: DetectOptions{InboundFloodFactor: 20},
			evs: func(t *testing.T) []event.Event {
				return merge(churn(t, "a", T0, T0+20*minute, 1, 1000, ""),
					churn(t, "a", T0+10*minute, T0+11*minute, 9, 100_000, "198.51.100."))
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t, Options{Detect: c.opts})
			feed(t, e, c.evs(t)...)
			got := floods(e.Report())
			if len(got) != len(c.want) {
				t.Fatalf("%d inbound floods, want %d: %+v", len(got), len(c.want), got)
			}
			for i, w := range c.want {
				a := got[i]
				if a.Node != w.node || a.StartMs-T0 < w.startLo || a.StartMs-T0 > w.startHi || a.EndMs-T0 < w.endLo || a.EndMs-T0 > w.endHi {
					t.Errorf("node %s %v → %v; want node %s start %v..%v end %v..%v", a.Node,
						time.Duration(a.StartMs-T0)*time.Millisecond, time.Duration(a.EndMs-T0)*time.Millisecond, w.node,
						time.Duration(w.startLo)*time.Millisecond, time.Duration(w.startHi)*time.Millisecond,
						time.Duration(w.endLo)*time.Millisecond, time.Duration(w.endHi)*time.Millisecond)
				}
				if a.Threshold < w.threshold*0.95 || a.Threshold > w.threshold*1.05 {
					t.Errorf("threshold %v, want about %v", a.Threshold, w.threshold)
				}
				if a.Source != w.source || a.SourceShare < 0.5 || a.SourceShare > 1 {
					t.Errorf("source %q (%v), want %q dominant", a.Source, a.SourceShare, w.source)
				}
				if !strings.Contains(strings.Join(a.Details, "\n"), w.detail) {
					t.Errorf("details %q lack %q", a.Details, w.detail)
				}
			}
		})
	}
}

// quiet returns one inbound connection to node every 10 s.
func quiet(t *testing.T, node string, fromMs, toMs int64) []event.Event {
	var evs []event.Event
	for i, ms := 0, fromMs; ms < toMs; i, ms = i+1, ms+10_000 {
		p := peer{uint64(500_000 + i), fmt.Sprintf("172.16.%d.%d:8333", i/250, i%250+1), pb.ConnType_Inbound}
		evs = append(evs, connEv(t, ms, node, &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Inbound{Inbound: &pb.InboundConnection{Conn: conn(p, 1), ExistingConnections: proto.Uint64(1)}}}))
	}
	return evs
}

func TestInboundFloodOptionsValidate(t *testing.T) {
	for _, o := range []DetectOptions{{InboundFloodFactor: 0.5}, {InboundFloodFactor: -1}, {InboundBaseline: -time.Second}, {InboundFloodWarmup: -1}} {
		if _, err := New(Options{Detect: o}); err == nil || !strings.Contains(err.Error(), "inbound") {
			t.Errorf("%+v: err = %v, want one naming the inbound option", o, err)
		}
	}
}

// On a synthetic mainnet stream at the default rate the spies' churn
// (about 7 inbound connections a second) is far above the absolute
// threshold: only the injected flood may be reported.
func TestInboundFloodSynth(t *testing.T) {
	if testing.Short() {
		t.Skip("two 15-minute synthetic streams at the default rate")
	}
	for _, c := range []struct {
		name      string
		anomalies []synth.Anomaly
		want      int
	}{
		{"inbound-flood@11m", []synth.Anomaly{{Kind: synth.InboundFlood, Offset: 11 * time.Minute, Duration: synth.DefaultAnomalyDuration(synth.InboundFlood)}}, 1},
		{"none", nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, err := synth.New(synth.Options{Node: "demo-1", Duration: 15 * time.Minute, Seed: 1, Anomalies: c.anomalies})
			if err != nil {
				t.Fatal(err)
			}
			e := newEngine(t, Options{})
			if err := g.Run(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			r := e.Report()
			got := floods(r)
			if len(got) != c.want {
				t.Fatalf("%d inbound floods, want %d: %+v", len(got), c.want, got)
			}
			if c.want == 0 {
				return
			}
			start := synth.DefaultStart.UnixMilli() + (11 * time.Minute).Milliseconds()
			if a := got[0]; a.StartMs < start || a.StartMs > start+DefaultWindow.Milliseconds() {
				t.Errorf("flood starts at %s, want within a window after %s", a.Start, event.FormatTime(start))
			} else if !strings.HasSuffix(a.Source, ".0/24") || a.SourceShare < 0.8 {
				t.Errorf("source %q share %v, want the flood's /24 dominant", a.Source, a.SourceShare)
			}
		})
	}
}
