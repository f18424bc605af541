package edit

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/proto/pb"
	"github.com/peertape/peertape/sanitize/sanitizetest"
)

const t0 = 1_775_552_833_133

// file is one input file and the events written into it.
type file struct {
	path string
	node string
	evs  []event.Event
}

// inputs writes node n1 as two complete segments (the first with a gap)
// and a .partial, and node n2 as a peer-observer archive, overlapping in
// time. Streams carry unknown fields, so byte equality covers them.
func inputs(t testing.TB, n int) (string, []file) {
	t.Helper()
	dir := t.TempDir()
	a := sanitizetest.Events(n, 1, t0, sanitizetest.Options{Unknown: true})
	b := sanitizetest.Events(n/3, 2, t0+500, sanitizetest.Options{Unknown: true})
	q := n / 3
	files := []file{
		{filepath.Join(dir, "n1-a.seg.zst"), "n1", a[:q]},
		{filepath.Join(dir, "n1-b.seg.zst"), "n1", a[q : 2*q]},
		{filepath.Join(dir, "n1-c.seg.zst.partial"), "n1", a[2*q:]},
		{filepath.Join(dir, "n2.20260407-090713-500.bin.zst"), "n2", b},
	}
	w, err := format.Create(files[0].path, format.WriterOptions{FlushInterval: -1, FrameSize: 64 << 10, Meta: sanitizetest.Meta("n1", t0)})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range files[0].evs {
		if err := w.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	w.Gap(&pb.Gap{StartMs: files[0].evs[10].Time, EndMs: files[0].evs[10].Time + 5, Reason: "nats down"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sanitizetest.WriteSegment(files[1].path, sanitizetest.Meta("n1", files[1].evs[0].Time), files[1].evs); err != nil {
		t.Fatal(err)
	}
	pw, err := format.Create(filepath.Join(t.TempDir(), "c.seg.zst"), format.WriterOptions{FlushInterval: -1, Meta: sanitizetest.Meta("n1", files[2].evs[0].Time)})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range files[2].evs {
		if err := pw.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.Flush(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(pw.Path() + format.PartialSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files[2].path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := sanitizetest.WriteUpstream(files[3].path, uint64(b[0].Time/1000), b); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		for j := range files[i].evs {
			files[i].evs[j].Node = files[i].node
		}
	}
	return dir, files
}

// readOutputs reads every output of rep, per node in the order written.
func readOutputs(t testing.TB, rep *Report) map[string][]event.Event {
	t.Helper()
	got := map[string][]event.Event{}
	for _, o := range rep.Outputs {
		r, err := format.Open(o.Path)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Complete() || r.Index() == nil {
			t.Fatalf("%s: not a complete segment with index", o.Path)
		}
		n := 0
		for r.Next() {
			got[o.Node] = append(got[o.Node], r.Event())
			n++
		}
		if r.Err() != nil || len(r.Problems()) > 0 || uint64(n) != o.Events || r.Index().Events != o.Events {
			t.Fatalf("%s: %d events read, report %d, index %d: %v %v", o.Path, n, o.Events, r.Index().Events, r.Err(), r.Problems())
		}
		if r.Meta().Node != o.Node {
			t.Fatalf("%s: node %q, report %q", o.Path, r.Meta().Node, o.Node)
		}
		r.Close()
	}
	return got
}

func sameEvents(t testing.TB, what string, got, want []event.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Raw, want[i].Raw) || got[i].Node != want[i].Node {
			t.Fatalf("%s: event %d differs (node %q/%q, %s/%s)", what, i, got[i].Node, want[i].Node, got[i].Selector(), want[i].Selector())
		}
	}
}

// refPeer is an independent (decoding) implementation of what --peer
// matches, from the documentation of Peers.
func refPeer(t testing.TB, ev event.Event, ids map[uint64]bool, hosts map[string]string) bool {
	m, err := ev.Decode()
	if err != nil {
		t.Fatal(err)
	}
	addrIs := func(a string) bool {
		for h, port := range hosts {
			host, p := a, ""
			if i := strings.LastIndex(a, ":"); i > 0 && !strings.HasSuffix(a, "]") {
				host, p = strings.Trim(a[:i], "[]"), a[i+1:]
			}
			if ip, err := netip.ParseAddr(host); err == nil {
				host = ip.Unmap().String()
			}
			if strings.EqualFold(host, h) && (port == "" || port == p) {
				return true
			}
		}
		return false
	}
	textIs := func(s string) bool {
		for id := range ids {
			for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '(' || r == ')' }) {
				if f == fmt.Sprintf("peer=%d", id) {
					return true
				}
			}
		}
		for h := range hosts {
			for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '(' || r == ')' || r == '-' }) {
				if addrIs(f) || strings.EqualFold(f, h) {
					return true
				}
			}
		}
		return false
	}
	e := m.GetEbpfExtractor()
	if meta := e.GetMessage().GetMeta(); meta != nil && ev.Kind == event.NetMsg {
		return ids[meta.GetPeerId()] || addrIs(meta.GetAddr())
	}
	if c := e.GetConnection(); c != nil {
		for _, conn := range []*pb.Connection{c.GetInbound().GetConn(), c.GetOutbound().GetConn(), c.GetClosed().GetConn(), c.GetInboundEvicted().GetConn()} {
			if conn != nil && (ids[conn.GetPeerId()] || addrIs(conn.GetAddr())) {
				return true
			}
		}
		return c.GetMisbehaving() != nil && ids[c.GetMisbehaving().GetId()]
	}
	if a := e.GetAddrman(); a != nil {
		return addrIs(a.GetNew().GetAddr()) || addrIs(a.GetNew().GetSource()) || addrIs(a.GetTried().GetAddr()) || addrIs(a.GetTried().GetSource())
	}
	for _, p := range m.GetRpcExtractor().GetPeerInfos().GetInfos() {
		if ids[uint64(p.GetId())] || addrIs(p.GetAddress()) {
			return true
		}
	}
	if l := m.GetLogExtractor(); l != nil {
		return textIs(l.GetThreadname()) || textIs(l.GetUnknownLogMessage().GetRawMessage()) || textIs(l.GetBlockCheckedLog().GetDebugMessage())
	}
	return false
}

func TestFilter(t *testing.T) {
	dir, files := inputs(t, 3000)
	var all []event.Event
	first := files[0].evs[0].Time
	for _, f := range files {
		all = append(all, f.evs...)
		for _, ev := range f.evs {
			first = min(first, ev.Time)
		}
	}
	// A peer of n1 by address without port, one by host:port, one by id.
	m, _ := files[0].evs[0].Decode()
	peerAddr := m.GetEbpfExtractor().GetMessage().GetMeta().GetAddr()
	host := peerAddr[:strings.LastIndex(peerAddr, ":")]
	kinds, _ := event.NewFilter([]string{"netmsg", "netconn:inbound"}, []string{"netmsg:inv"})
	for _, c := range []struct {
		name     string
		sel      Selection
		from, to int64
		peers    []string
	}{
		{name: "everything"},
		{name: "time range", sel: Selection{From: event.AbsTime(t0 + 700), To: event.AbsTime(t0 + 2500)}, from: t0 + 700, to: t0 + 2500},
		{name: "offsets", sel: Selection{From: mustSpec(t, "+1s"), To: mustSpec(t, "+2s")}, from: first + 1000, to: first + 2000},
		{name: "kinds", sel: Selection{Kinds: kinds}},
		{name: "peer by host", peers: []string{host}},
		{name: "peer by host:port and id", peers: []string{peerAddr + ",7"}},
		{name: "peer and time", sel: Selection{To: event.AbsTime(t0 + 3000)}, to: t0 + 3000, peers: []string{"3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.peers != nil {
				p, err := ParsePeers(c.peers)
				if err != nil {
					t.Fatal(err)
				}
				c.sel.Peers = p
			}
			ids, hosts := map[uint64]bool{}, map[string]string{}
			for _, s := range strings.Split(strings.Join(c.peers, ","), ",") {
				var id uint64
				if _, err := fmt.Sscan(s, &id); err == nil && s != "" {
					ids[id] = true
				} else if s != "" {
					h, p := hostPort(s)
					hosts[h] = p
				}
			}
			want := map[string][]event.Event{}
			for _, ev := range all {
				if (c.from != 0 && ev.Time < c.from) || (c.to != 0 && ev.Time >= c.to) || !c.sel.Kinds.Match(ev) {
					continue
				}
				if c.peers != nil && !refPeer(t, ev, ids, hosts) {
					continue
				}
				want[ev.Node] = append(want[ev.Node], ev)
			}
			if len(want["n1"]) == 0 {
				t.Fatal("test selects nothing")
			}
			out := filepath.Join(t.TempDir(), "out")
			rep, err := Filter(context.Background(), []string{dir}, c.sel, Options{Out: out, Label: "filter test"})
			if err != nil {
				t.Fatal(err)
			}
			got := readOutputs(t, rep)
			for _, node := range []string{"n1", "n2"} {
				sameEvents(t, node, got[node], want[node])
			}
			if rep.Written != uint64(len(want["n1"])+len(want["n2"])) || rep.Files != 4 || len(rep.Problems) != 0 {
				t.Fatalf("report %+v", rep)
			}
			r, _ := format.Open(rep.Outputs[0].Path)
			defer r.Close()
			meta := r.Meta()
			if meta.Labels[LabelKey] != "filter test" || meta.CreatedMs != rep.Outputs[0].FirstMs || meta.Hostname != sanitizetest.HostName {
				t.Errorf("metadata %v", meta)
			}
			if c.sel.Kinds != nil && strings.Join(meta.GetFilter().GetOnly(), ",") != "netmsg,netconn:inbound" {
				t.Errorf("filter in metadata %v", meta.GetFilter())
			}
			if c.name == "everything" {
				if gs := r.Gaps(); len(gs) != 1 || gs[0].Reason != "nats down" {
					t.Errorf("gap not carried: %v", gs)
				}
			}
		})
	}
}

func mustSpec(t testing.TB, s string) event.TimeSpec {
	ts, err := event.ParseTimeSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestFilterSingleFileAndRefusals(t *testing.T) {
	dir, files := inputs(t, 600)
	out := filepath.Join(t.TempDir(), "x.seg.zst")
	if _, err := Filter(context.Background(), []string{dir}, Selection{}, Options{Out: out}); err == nil || !strings.Contains(err.Error(), "2 nodes") {
		t.Fatalf("two nodes into one file: %v", err)
	}
	rep, err := Filter(context.Background(), []string{files[0].path, files[1].path}, Selection{}, Options{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Outputs) != 1 || rep.Outputs[0].Path != out {
		t.Fatalf("outputs %v", rep.Outputs)
	}
	sameEvents(t, "single file", readOutputs(t, rep)["n1"], append(append([]event.Event(nil), files[0].evs...), files[1].evs...))
	if _, err := Filter(context.Background(), []string{files[0].path}, Selection{}, Options{Out: out}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("overwrite: %v", err)
	}
	// A sanitized and an unsanitized archive of one node are not mixed.
	meta := sanitizetest.Meta("n1", t0)
	meta.Sanitization = &pb.Sanitization{KeyFingerprint: "0123456789abcdef"}
	san := filepath.Join(t.TempDir(), "s.seg.zst")
	if err := sanitizetest.WriteSegment(san, meta, files[0].evs[:10]); err != nil {
		t.Fatal(err)
	}
	_, err = Filter(context.Background(), []string{files[0].path, san}, Selection{}, Options{Out: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "sanitization") {
		t.Fatalf("mixing sanitized and not: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o2 := t.TempDir()
	if _, err := Filter(ctx, []string{dir}, Selection{}, Options{Out: o2}); err != context.Canceled {
		t.Fatalf("cancelled: %v", err)
	}
	if left, _ := os.ReadDir(o2); len(left) != 0 {
		t.Fatalf("cancelled filter left %v", left)
	}
}

// Merge interleaves by event time, stably (equal times in input order),
// per node, byte for byte.
func TestMerge(t *testing.T) {
	dir, files := inputs(t, 3000)
	// A second recording of n1 overlapping the first, with some times
	// equal to the first recording's.
	extra := sanitizetest.Events(500, 9, t0+300, sanitizetest.Options{})
	for i := range extra {
		if i%5 == 0 {
			extra[i] = rewriteTime(t, extra[i], files[0].evs[i].Time)
			if i > 0 && extra[i].Time < extra[i-1].Time {
				extra[i] = rewriteTime(t, extra[i], extra[i-1].Time)
			}
		}
		extra[i].Node = "n1"
	}
	extraPath := filepath.Join(t.TempDir(), "n1-z.seg.zst")
	if err := sanitizetest.WriteSegment(extraPath, sanitizetest.Meta("n1", t0), extra); err != nil {
		t.Fatal(err)
	}
	type keyed struct {
		ev   event.Event
		file int
		pos  int
	}
	var all []keyed
	for i, f := range append(files, file{extraPath, "n1", extra}) {
		for j, ev := range f.evs {
			all = append(all, keyed{ev, i, j})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.ev.Time != b.ev.Time {
			return a.ev.Time < b.ev.Time
		}
		if a.file != b.file {
			return a.file < b.file
		}
		return a.pos < b.pos
	})
	want := map[string][]event.Event{}
	for _, k := range all {
		want[k.ev.Node] = append(want[k.ev.Node], k.ev)
	}
	out := filepath.Join(t.TempDir(), "merged")
	rep, err := Merge(context.Background(), []string{dir, extraPath}, Options{Out: out, Label: "merge"})
	if err != nil {
		t.Fatal(err)
	}
	got := readOutputs(t, rep)
	sameEvents(t, "n1", got["n1"], want["n1"])
	sameEvents(t, "n2", got["n2"], want["n2"])
	if len(rep.Outputs) != 2 || rep.Read != uint64(len(all)) || rep.Files != 5 {
		t.Fatalf("report %+v", rep)
	}
	for _, evs := range got {
		for i := 1; i < len(evs); i++ {
			if evs[i].Time < evs[i-1].Time {
				t.Fatalf("output not in time order at %d", i)
			}
		}
	}
}

func rewriteTime(t testing.TB, ev event.Event, ms int64) event.Event {
	m, err := ev.Decode()
	if err != nil {
		t.Fatal(err)
	}
	m.Timestamp = proto.Uint64(uint64(ms))
	raw, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := event.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	out.Node = ev.Node
	return out
}

func TestSplitEvery(t *testing.T) {
	// Six hours of events, one a minute, with one record stepping back
	// across the 2h boundary.
	base := sanitizetest.Events(360, 4, 0, sanitizetest.Options{})
	start := int64(1_775_548_800_000) // 2026-04-07T08:00:00Z
	evs := make([]event.Event, len(base))
	for i, ev := range base {
		evs[i] = rewriteTime(t, ev, start+int64(i)*60_000+7)
	}
	back := 121 // first event of 10:00 is followed by one from 09:59
	evs[back] = rewriteTime(t, evs[back], start+2*3600_000-1000)
	p := filepath.Join(t.TempDir(), "n1.seg.zst")
	if err := sanitizetest.WriteSegment(p, sanitizetest.Meta("n1", start), evs); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	rep, err := Split(context.Background(), []string{p}, time.Hour, 0, Options{Out: out, Label: "split --every 1h"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Outputs) != 6 {
		t.Fatalf("%d outputs, want 6: %+v", len(rep.Outputs), rep.Outputs)
	}
	var got []event.Event
	prev := ""
	for i, o := range rep.Outputs {
		hour := start + int64(i)*3600_000
		evs := readOutputs(t, &Report{Outputs: []Output{o}})["n1"]
		for j, ev := range evs {
			if (ev.Time < hour || ev.Time >= hour+3600_000) && !(i == 2 && j == 1) {
				t.Fatalf("output %d (%s) holds event at %s", i, o.Path, event.FormatTime(ev.Time))
			}
		}
		want := fmt.Sprintf("n1-%s-%06d.seg.zst", time.UnixMilli(hour+7).UTC().Format("20060102T150405Z"), i)
		if filepath.Base(o.Path) != want {
			t.Errorf("output %d named %s, want %s", i, filepath.Base(o.Path), want)
		}
		r, _ := format.Open(o.Path)
		if m := r.Meta(); m.Sequence != uint64(i) || m.Previous != prev {
			t.Errorf("output %d: sequence %d previous %q, want %d %q", i, m.Sequence, m.Previous, i, prev)
		}
		r.Close()
		prev = filepath.Base(o.Path)
		got = append(got, evs...)
	}
	for i := range evs {
		evs[i].Node = "n1"
	}
	sameEvents(t, "split then concatenated", got, evs)
}

func TestSplitSize(t *testing.T) {
	evs := sanitizetest.Events(20000, 5, t0, sanitizetest.Options{Unknown: true})
	p := filepath.Join(t.TempDir(), "n1.seg.zst")
	if err := sanitizetest.WriteSegment(p, sanitizetest.Meta("n1", t0), evs); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	const size = 200 << 10
	rep, err := Split(context.Background(), []string{p}, 0, size, Options{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Outputs) < 4 {
		t.Fatalf("%d outputs", len(rep.Outputs))
	}
	for i, o := range rep.Outputs {
		st, err := os.Stat(o.Path)
		if err != nil {
			t.Fatal(err)
		}
		// At most one flush (a second of events) and the index beyond.
		if st.Size() > size+64<<10 || (i < len(rep.Outputs)-1 && st.Size() < size) {
			t.Errorf("%s: %d bytes for --size %d", o.Path, st.Size(), size)
		}
	}
	for i := range evs {
		evs[i].Node = "n1"
	}
	var got []event.Event
	for _, o := range rep.Outputs {
		got = append(got, readOutputs(t, &Report{Outputs: []Output{o}})["n1"]...)
	}
	sameEvents(t, "split by size", got, evs)
	if _, err := Split(context.Background(), []string{p}, time.Hour, size, Options{Out: t.TempDir()}); err == nil {
		t.Error("both --every and --size accepted")
	}
}

// TestProgress: every edit reports input bytes, never going back, and
// ends at done == total = the inputs' size — also a merge that
// interleaves (event-time estimate) and one that concatenates (frames).
func TestProgress(t *testing.T) {
	dir, files := inputs(t, 3000)
	overlap := filepath.Join(t.TempDir(), "n1-z.seg.zst")
	if err := sanitizetest.WriteSegment(overlap, sanitizetest.Meta("n1", t0), sanitizetest.Events(500, 9, t0+300, sanitizetest.Options{})); err != nil {
		t.Fatal(err)
	}
	size := func(paths ...string) int64 {
		var n int64
		for _, p := range paths {
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			n += st.Size()
		}
		return n
	}
	var all []string
	for _, f := range files {
		all = append(all, f.path)
	}
	for _, tc := range []struct {
		name  string
		total int64
		run   func(o Options) (*Report, error)
	}{
		{"filter", size(all...), func(o Options) (*Report, error) { return Filter(context.Background(), []string{dir}, Selection{}, o) }},
		{"split", size(all...), func(o Options) (*Report, error) { return Split(context.Background(), []string{dir}, time.Second, 0, o) }},
		{"merge concatenating", size(files[0].path, files[1].path), func(o Options) (*Report, error) {
			return Merge(context.Background(), []string{files[1].path, files[0].path}, o)
		}},
		{"merge interleaving", size(append(all, overlap)...), func(o Options) (*Report, error) {
			return Merge(context.Background(), []string{dir, overlap}, o)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls int
			var last int64
			o := Options{Out: filepath.Join(t.TempDir(), "out"), Progress: func(done, total int64) {
				calls++
				if total != tc.total || done < last || done > total {
					t.Errorf("progress %d / %d after %d, want total %d, never back", done, total, last, tc.total)
				}
				last = done
			}}
			if _, err := tc.run(o); err != nil {
				t.Fatal(err)
			}
			if calls == 0 || last != tc.total {
				t.Errorf("%d calls, last %d, want the end at %d", calls, last, tc.total)
			}
		})
	}
}
