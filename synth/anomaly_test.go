package synth

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// window is a span of event time, ms. Counting "inside" goes on for a
// grace period after it, for answers still in flight when it ends.
type window struct{ from, to int64 }

const grace = 10_000

func (w window) has(t int64) bool { return t >= w.from && t < w.to+grace }

// observations are what an analyzer would compute, inside and outside a
// window.
type observations struct {
	pongDelayMax    [2]int64 // ms, node's pong after an inbound ping: outside, inside
	p2pPingMax      [2]uint64
	misbehaving     [2]int
	mutated         [2]int
	mutatedStates   map[string]int
	rejected        [2]int
	orphansMax      [2]int
	announcersMax   [2]int
	inboundBySubnet map[string][2]int
}

func observe(evs []event.Event, msgs []*pb.Event, w window) observations {
	o := observations{mutatedStates: map[string]int{}, inboundBySubnet: map[string][2]int{}}
	type key struct{ peer, nonce uint64 }
	pings := map[key]int64{}
	in := func(t int64) int {
		if w.has(t) {
			return 1
		}
		return 0
	}
	for i, ev := range evs {
		m := msgs[i]
		x := in(ev.Time)
		if me := m.GetEbpfExtractor().GetMessage(); me != nil {
			meta := me.GetMeta()
			switch {
			case meta.GetInbound() && me.GetPing() != nil:
				pings[key{meta.GetPeerId(), me.GetPing().GetValue()}] = ev.Time
			case !meta.GetInbound() && me.GetPong() != nil:
				k := key{meta.GetPeerId(), me.GetPong().GetValue()}
				if t0, ok := pings[k]; ok {
					o.pongDelayMax[in(t0)] = max(o.pongDelayMax[in(t0)], ev.Time-t0)
					delete(pings, k)
				}
			}
		}
		if d := m.GetP2PExtractor().GetPingDuration(); d != nil {
			o.p2pPingMax[x] = max(o.p2pPingMax[x], d.GetDuration())
		}
		if c := m.GetEbpfExtractor().GetConnection(); c != nil {
			if c.GetMisbehaving() != nil {
				o.misbehaving[x]++
			}
			if ib := c.GetInbound(); ib != nil {
				ap, err := netip.ParseAddrPort(ib.GetConn().GetAddr())
				if err == nil && ap.Addr().Is4() {
					p, _ := ap.Addr().Prefix(24)
					c := o.inboundBySubnet[p.String()]
					c[x]++
					o.inboundBySubnet[p.String()] = c
				}
			}
		}
		if bc := m.GetLogExtractor().GetBlockCheckedLog(); bc != nil && bc.GetState() != "Valid" {
			o.mutated[x]++
			o.mutatedStates[bc.GetState()+", "+bc.GetDebugMessage()]++
		}
		if m.GetEbpfExtractor().GetMempool().GetRejected() != nil {
			o.rejected[x]++
		}
		if ot := m.GetRpcExtractor().GetOrphanTxs(); ot != nil {
			o.orphansMax[x] = max(o.orphansMax[x], len(ot.GetOrphans()))
			for _, orphan := range ot.GetOrphans() {
				o.announcersMax[x] = max(o.announcersMax[x], len(orphan.GetFrom()))
			}
		}
	}
	return o
}

// Each anomaly changes what its detector looks at, inside its window and
// not without it: the same seed without the anomaly is the baseline.
func TestAnomalies(t *testing.T) {
	const rate = 300
	base := Options{Duration: 14 * time.Minute, Rate: rate, Seed: 9}
	w := window{}
	off, dur := 5*time.Minute, 4*time.Minute
	w.from = DefaultStart.UnixMilli() + off.Milliseconds()
	w.to = w.from + dur.Milliseconds()
	bevs, bmsgs, _ := run(t, base)
	b := observe(bevs, bmsgs, w)
	// The baseline's own levels, against which each anomaly must stand out.
	if b.pongDelayMax[0] > 200 || b.pongDelayMax[1] > 200 || b.p2pPingMax[0] > 2e8 || b.p2pPingMax[1] > 2e8 {
		t.Fatalf("baseline pong delays %v ms, p2p ping %v ns: too high", b.pongDelayMax, b.p2pPingMax)
	}
	if b.mutated != [2]int{} {
		t.Fatalf("baseline has mutated blocks: %v", b.mutatedStates)
	}
	if b.orphansMax[0] > 25 || b.orphansMax[1] > 25 || b.announcersMax[0] > 4 || b.announcersMax[1] > 4 {
		t.Fatalf("baseline orphanage %v, announcers %v", b.orphansMax, b.announcersMax)
	}
	baseMaxSubnet := 0
	for _, c := range b.inboundBySubnet {
		baseMaxSubnet = max(baseMaxSubnet, c[0]+c[1])
	}
	t.Logf("baseline: pong max %v ms, p2p ping max %v ns, misbehaving %v, rejected %v, orphans max %v (announcers %v), busiest /24 %d inbound in 14 min",
		b.pongDelayMax, b.p2pPingMax, b.misbehaving, b.rejected, b.orphansMax, b.announcersMax, baseMaxSubnet)

	cases := []struct {
		kind  AnomalyKind
		check func(t *testing.T, o observations, in Injected)
	}{
		{PingBacklog, func(t *testing.T, o observations, _ Injected) {
			if o.pongDelayMax[1] < 5000 || o.p2pPingMax[1] < 5e9 {
				t.Errorf("in window: pong delay max %d ms, p2p ping max %d ns; want ≥ 5 s", o.pongDelayMax[1], o.p2pPingMax[1])
			}
			if o.pongDelayMax[0] > 200 || o.p2pPingMax[0] > 2e8 {
				t.Errorf("outside window: pong delay max %d ms, p2p ping %d ns", o.pongDelayMax[0], o.p2pPingMax[0])
			}
		}},
		{InboundFlood, func(t *testing.T, o observations, in Injected) {
			c := o.inboundBySubnet[in.Subnet]
			if want := int(floodMinRate * dur.Seconds() * 0.8); c[1] < want || c[0] != 0 {
				t.Errorf("%s: %d inbound in the window (want ≥ %d), %d outside", in.Subnet, c[1], want, c[0])
			}
			if c[1] < 20*baseMaxSubnet {
				t.Errorf("flood of %d is not 20× the busiest baseline /24 (%d)", c[1], baseMaxSubnet)
			}
			if len(in.Peers) != min(in.Count, maxInjectedPeers) || in.Count == 0 {
				t.Errorf("injected %d connections, %d peers listed", in.Count, len(in.Peers))
			}
		}},
		{Misbehaving, func(t *testing.T, o observations, in Injected) {
			if want := int(misbehavingRate * dur.Seconds() * 0.7); o.misbehaving[1] < want || o.misbehaving[1] < 20*(b.misbehaving[1]+1) {
				t.Errorf("%d misbehaving events in the window (baseline %d), want ≥ %d", o.misbehaving[1], b.misbehaving[1], want)
			}
			if o.misbehaving[0] > b.misbehaving[0] {
				t.Errorf("%d misbehaving outside the window, baseline %d", o.misbehaving[0], b.misbehaving[0])
			}
		}},
		{MutatedBlock, func(t *testing.T, o observations, in Injected) {
			if o.mutated[1] < int(dur/(mutatedEvery*time.Millisecond))-1 || o.mutated[0] != 0 {
				t.Errorf("mutated BlockChecked: %d in the window, %d outside", o.mutated[1], o.mutated[0])
			}
			if o.mutatedStates["bad-txnmrklroot, hashMerkleRoot mismatch"] == 0 ||
				o.mutatedStates["bad-witness-nonce-size, CheckWitnessMalleation : invalid witness reserved value size"] == 0 {
				t.Errorf("states %v", o.mutatedStates)
			}
			if len(in.Peers) != 1 {
				t.Errorf("peers %v", in.Peers)
			}
		}},
		{OrphanFlood, func(t *testing.T, o observations, in Injected) {
			if o.orphansMax[1] < 4*max(b.orphansMax[1], 10) || o.announcersMax[1] < 5 {
				t.Errorf("orphanage max %d with up to %d announcers in the window (baseline %d, %d)", o.orphansMax[1], o.announcersMax[1], b.orphansMax[1], b.announcersMax[1])
			}
		}},
		{RejectSpike, func(t *testing.T, o observations, in Injected) {
			if want := int(rejectSpikeRate * dur.Seconds() * 0.7); o.rejected[1] < want || o.rejected[1] < 20*(b.rejected[1]+1) {
				t.Errorf("%d rejections in the window (baseline %d), want ≥ %d", o.rejected[1], b.rejected[1], want)
			}
			if o.rejected[0] > b.rejected[0]*2+10 {
				t.Errorf("%d rejections outside the window, baseline %d", o.rejected[0], b.rejected[0])
			}
		}},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			o := base
			o.Anomalies = []Anomaly{{Kind: c.kind, Offset: off, Duration: dur}}
			evs, msgs, st := run(t, o)
			if len(st.Injected) != 1 || st.Injected[0].StartMs != w.from || st.Injected[0].EndMs != w.to {
				t.Fatalf("injected %+v", st.Injected)
			}
			// Before the anomaly the stream is the baseline's.
			n := slices.IndexFunc(evs, func(ev event.Event) bool { return ev.Time >= w.from })
			if n <= 0 || digest(evs[:n]) != digest(bevs[:n]) {
				t.Errorf("the stream differs from the baseline before the anomaly starts")
			}
			obs := observe(evs, msgs, w)
			c.check(t, obs, st.Injected[0])
			if st.AnomalyEvents == 0 && c.kind != PingBacklog {
				t.Errorf("no events attributed to the anomaly")
			}
			t.Logf("%s: %d anomaly events; pong max %v, p2p %v, misbehaving %v, mutated %v, rejected %v, orphans %v/%v, injected %d, subnet %q",
				c.kind, st.AnomalyEvents, obs.pongDelayMax, obs.p2pPingMax, obs.misbehaving, obs.mutated, obs.rejected, obs.orphansMax, obs.announcersMax, st.Injected[0].Count, st.Injected[0].Subnet)
		})
	}
}

// Anomaly windows are reported back as injected.
func TestInjectedReport(t *testing.T) {
	o := Options{Duration: 3 * time.Minute, Rate: 200, Seed: 1, Anomalies: []Anomaly{
		{Kind: InboundFlood, Offset: time.Minute, Duration: 20 * time.Second},
		{Kind: PingBacklog, Offset: 0, Duration: time.Minute},
	}}
	_, st := generate(t, o)
	if len(st.Injected) != 2 {
		t.Fatalf("%+v", st.Injected)
	}
	f := st.Injected[0]
	if f.Anomaly.Kind != InboundFlood || !strings.HasSuffix(f.Subnet, ".0/24") || f.Count < 500 || f.EndMs-f.StartMs != 20_000 {
		t.Fatalf("flood %+v", f)
	}
	if _, err := netip.ParsePrefix(f.Subnet); err != nil {
		t.Fatal(err)
	}
	if st.Injected[1].Anomaly.Kind != PingBacklog || st.Injected[1].StartMs != DefaultStart.UnixMilli() {
		t.Fatalf("%+v", st.Injected[1])
	}
	_ = fmt.Sprint
}
