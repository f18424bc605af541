package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/common/expfmt"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/internal/testenv"
	"github.com/peertape/peertape/internal/testevents"
	"github.com/peertape/peertape/natsbus"
	"github.com/peertape/peertape/proto/pb"
)

// runAsync runs the recorder's sources in the background and returns a
// function that cancels them and returns Run's result.
func runAsync(r *Recorder, sources ...event.Source) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, sources...) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			return errors.New("Run did not return within 20s of cancellation")
		}
	}
}

// Every event published on NATS is recorded byte for byte, in arrival
// order, unknown kinds and unknown fields included.
func TestByteExactFromNATS(t *testing.T) {
	srv := testenv.NATS(t)
	r, _ := newTestRecorder(t, Options{Source: "nats test"})
	sub := natsbus.NewSubscriber(srv.ClientURL(), natsbus.SubscriberOptions{Node: "n1", Logger: testLogger(t)})
	stop := runAsync(r, sub)
	<-sub.Ready()

	evs := testevents.Mixed(3000, 1, 1_700_000_000_000)
	evs = append(evs, unknownEvents(t, evs[0])...)
	evs = append(evs, testevents.Mixed(500, 2, 1_700_000_100_000)...)
	pub := natsbus.NewPublisher(testenv.NATSConn(t, srv))
	for _, ev := range evs {
		if err := pub.Consume(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all events recorded", func() bool { return r.Stats().Events == uint64(len(evs)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	dir := r.o.Dir
	if p := partials(t, dir); len(p) > 0 {
		t.Fatalf("left unfinished: %v", p)
	}
	verifyAll(t, dir)
	got := readDir(t, dir)
	sameEvents(t, got, evs)
	if got[3000].Kind != event.Unknown {
		t.Fatalf("unknown-arm event classified as %v", got[3000].Kind)
	}
}

// Sources calling the recorder from their own goroutines are serialized:
// nothing is lost or interleaved inside a record, and each source's order
// is kept.
func TestSourcesSerialized(t *testing.T) {
	r, _ := newTestRecorder(t, Options{})
	a := testevents.Mixed(2000, 3, 1_000)
	b := testevents.Mixed(2000, 4, 2_000)
	c := testevents.Mixed(2000, 5, 3_000)
	if err := r.Run(context.Background(), sliceSource{evs: a}, sliceSource{evs: b}, sliceSource{evs: c}); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	got := readDir(t, r.o.Dir)
	if len(got) != len(a)+len(b)+len(c) {
		t.Fatalf("recorded %d events, want %d", len(got), len(a)+len(b)+len(c))
	}
	// Split the merged stream back by source (the inputs are disjoint).
	owner := map[string]int{}
	for i, src := range [][]event.Event{a, b, c} {
		for _, ev := range src {
			owner[string(ev.Raw)] = i
		}
	}
	var split [3][]event.Event
	for _, ev := range got {
		i, ok := owner[string(ev.Raw)]
		if !ok {
			t.Fatalf("recorded an event no source sent: %x", ev.Raw)
		}
		split[i] = append(split[i], ev)
	}
	for i, src := range [][]event.Event{a, b, c} {
		sameEvents(t, split[i], src)
	}
}

// Rotation by size: a new segment once the compressed size passes the
// limit; every segment is complete and the stream is unbroken.
func TestRotationBySize(t *testing.T) {
	r, reg := newTestRecorder(t, Options{MaxSegmentSize: 64 << 10, FrameSize: 32 << 10})
	evs := bulkyEvents(t, 400, 1000, 1) // ~400 KB, incompressible
	if err := r.Run(context.Background(), sliceSource{evs: evs}); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segments(t, r.o.Dir)
	if len(segs) < 5 {
		t.Fatalf("%d segments for ~400 KB at a 64 KiB limit:\n%s", len(segs), dump(t, r.o.Dir))
	}
	if got := metric(t, reg, "peertape_record_segments_rotated_total"); got != float64(len(segs)-1) {
		t.Fatalf("segments_rotated_total = %v, want %d", got, len(segs)-1)
	}
	for _, s := range segs[:len(segs)-1] {
		st, _ := os.Stat(s)
		// A segment ends at the first event that takes it over the limit:
		// at most one flush of blocks beyond it.
		if st.Size() < 64<<10 || st.Size() > 64<<10+200<<10 {
			t.Errorf("%s: %d bytes, limit 64 KiB", filepath.Base(s), st.Size())
		}
	}
	verifyAll(t, r.o.Dir)
	sameEvents(t, readDir(t, r.o.Dir), evs)
}

// Rotation by age happens on the UTC boundary (1h: on the hour), both
// when an event arrives and on an idle stream.
func TestRotationByAge(t *testing.T) {
	clk := newClock(time.Date(2026, 4, 7, 10, 30, 0, 0, time.UTC))
	r, _ := newTestRecorder(t, Options{Now: clk.Now, MaxSegmentAge: time.Hour, FlushInterval: 20 * time.Millisecond})
	evs := testevents.Mixed(30, 1, 0)
	feed := func(evs []event.Event) {
		for _, ev := range evs {
			if err := r.Consume(ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	feed(evs[:10])
	clk.Set(time.Date(2026, 4, 7, 10, 59, 59, 0, time.UTC))
	feed(evs[10:20])
	if s := r.Stats().Segment; s != "n1-20260407T103000Z-000000.seg.zst" {
		t.Fatalf("rotated early: active %s", s)
	}
	clk.Set(time.Date(2026, 4, 7, 11, 0, 0, 0, time.UTC))
	feed(evs[20:])
	if s := r.Stats().Segment; s != "n1-20260407T110000Z-000001.seg.zst" {
		t.Fatalf("active segment %s after the hour", s)
	}
	// Idle: no events, the housekeeping tick rotates.
	clk.Set(time.Date(2026, 4, 7, 12, 0, 0, 1, time.UTC))
	waitFor(t, "idle rotation", func() bool { return r.Stats().Segment == "n1-20260407T120000Z-000002.seg.zst" })
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segments(t, r.o.Dir)
	want := []string{"n1-20260407T103000Z-000000.seg.zst", "n1-20260407T110000Z-000001.seg.zst", "n1-20260407T120000Z-000002.seg.zst"}
	if len(segs) != len(want) {
		t.Fatalf("segments:\n%s", dump(t, r.o.Dir))
	}
	counts := []int{20, 10, 0}
	for i, s := range segs {
		if filepath.Base(s) != want[i] {
			t.Fatalf("segment %d is %s, want %s", i, filepath.Base(s), want[i])
		}
		if n := len(readFile(t, s)); n != counts[i] {
			t.Errorf("%s holds %d events, want %d", want[i], n, counts[i])
		}
	}
	verifyAll(t, r.o.Dir)
}

// Retention by size deletes the oldest finished segments until the node's
// segments (the active one included) fit; what remains is the newest part
// of the stream, unbroken.
func TestRetentionBySize(t *testing.T) {
	r, reg := newTestRecorder(t, Options{MaxSegmentSize: 64 << 10, FrameSize: 32 << 10, RetainSize: 300 << 10})
	// Another node's segment and a foreign file in the directory are never touched.
	foreign := filepath.Join(r.o.Dir, "other-20200101T000000Z-000000.seg.zst")
	os.WriteFile(foreign, []byte("not ours"), 0o644)
	evs := bulkyEvents(t, 1500, 1000, 2) // ~1.5 MB
	if err := r.Run(context.Background(), sliceSource{evs: evs}); err != nil {
		t.Fatal(err)
	}
	total := func() int64 {
		var n int64
		for _, s := range segments(t, r.o.Dir) {
			if s == foreign {
				continue
			}
			st, err := os.Stat(s)
			if err == nil {
				n += st.Size()
			}
		}
		return n + r.Stats().SegmentBytes
	}
	waitFor(t, "retention to bring the directory under 300 KiB", func() bool { return total() <= 300<<10 })
	if metric(t, reg, "peertape_record_retention_deleted_segments_total", "reason", "size") == 0 {
		t.Fatal("no deletion counted")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Fatalf("foreign segment deleted: %v", err)
	}
	os.Remove(foreign)
	got := readDir(t, r.o.Dir)
	if len(got) == 0 || len(got) >= len(evs) {
		t.Fatalf("%d of %d events left after retention", len(got), len(evs))
	}
	sameEvents(t, got, evs[len(evs)-len(got):])
}

// Retention by age deletes segments whose end (the next segment's start)
// is older than the limit.
func TestRetentionByAge(t *testing.T) {
	clk := newClock(time.Date(2026, 4, 7, 10, 30, 0, 0, time.UTC))
	r, reg := newTestRecorder(t, Options{Now: clk.Now, MaxSegmentAge: time.Hour, RetainAge: 90 * time.Minute, FlushInterval: 20 * time.Millisecond})
	evs := testevents.Mixed(40, 1, 0)
	for i, hour := range []int{10, 11, 12, 13} {
		if hour > 10 {
			clk.Set(time.Date(2026, 4, 7, hour, 0, 0, 0, time.UTC))
		}
		for _, ev := range evs[i*10 : i*10+10] {
			if err := r.Consume(ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Now 13:00: the 10:30 segment ended at 11:00, two hours ago; the
	// 11:00 one ended at 12:00, one hour ago.
	waitFor(t, "the oldest segment to be deleted", func() bool {
		return metric(t, reg, "peertape_record_retention_deleted_segments_total", "reason", "age") >= 1
	})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := metric(t, reg, "peertape_record_retention_deleted_segments_total", "reason", "age"); got != 1 {
		t.Fatalf("deleted by age: %v, want 1\n%s", got, dump(t, r.o.Dir))
	}
	if _, err := os.Stat(filepath.Join(r.o.Dir, "n1-20260407T103000Z-000000.seg.zst")); !os.IsNotExist(err) {
		t.Fatalf("the 10:30 segment was not the one deleted:\n%s", dump(t, r.o.Dir))
	}
	sameEvents(t, readDir(t, r.o.Dir), evs[10:])
}

// Retention at start, before any event opened a segment: the newest
// finished segment counts as ending now, older ones by their successor.
func TestRetentionByAgeAtStart(t *testing.T) {
	dir := t.TempDir()
	evs := testevents.Mixed(30, 1, 0)
	for i, name := range []string{"n1-20260407T100000Z-000000.seg.zst", "n1-20260407T110000Z-000001.seg.zst", "n1-20260407T120000Z-000002.seg.zst"} {
		w, err := format.Create(filepath.Join(dir, name), format.WriterOptions{FlushInterval: -1, Meta: &pb.SegmentMeta{Node: "n1"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs[i*10 : i*10+10] {
			w.Append(ev)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	clk := newClock(time.Date(2026, 4, 8, 12, 30, 0, 0, time.UTC)) // a day later
	r, reg := newTestRecorder(t, Options{Dir: dir, Now: clk.Now, RetainAge: 25 * time.Hour})
	waitFor(t, "retention at start", func() bool {
		return metric(t, reg, "peertape_record_retention_deleted_segments_total", "reason", "age") == 1
	})
	r.Close()
	// 10:00 ended at 11:00 the day before (25.5 h ago): deleted. 11:00 ended
	// at 12:00 (24.5 h ago) and 12:00 ends "now": kept.
	sameEvents(t, readDir(t, dir), evs[10:])
}

// Segment metadata says who wrote what and how; node facts learned from
// a source carry over to later segments; gaps land in the index.
func TestMetadata(t *testing.T) {
	clk := newClock(time.Date(2026, 4, 7, 10, 30, 0, 0, time.UTC))
	f, err := event.NewFilter([]string{"netmsg,rpc"}, []string{"netmsg:ping"})
	if err != nil {
		t.Fatal(err)
	}
	r, reg := newTestRecorder(t, Options{Now: clk.Now, Source: "nats nats://x *", Filter: f, LowData: true, Recorder: "peertape test",
		Hostname: "h1", RunID: "run42", Labels: map[string]string{"site": "a"}, Level: 5})
	evs := testevents.Mixed(70, 1, 0)
	r.NodeInfo(event.NodeInfo{Implementation: "Bitcoin Core", Version: "/Satoshi:29.0.0/", Network: "mainnet"})
	for _, ev := range evs[:35] {
		r.Consume(ev)
	}
	r.Gap(&pb.Gap{StartMs: 1000, EndMs: 2000, Reason: "nats disconnected", Dropped: 0})
	r.Gap(&pb.Gap{StartMs: 3000, EndMs: 3000, Reason: "nats slow consumer on *", Dropped: 17})
	clk.Set(time.Date(2026, 4, 7, 11, 0, 0, 0, time.UTC))
	for _, ev := range evs[35:] {
		r.Consume(ev)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segments(t, r.o.Dir)
	if len(segs) != 2 {
		t.Fatalf("segments:\n%s", dump(t, r.o.Dir))
	}
	var recorded []event.Event
	for i, s := range segs {
		rd, err := format.Open(s)
		if err != nil {
			t.Fatal(err)
		}
		m := rd.Meta()
		checks := []struct {
			what      string
			got, want any
		}{
			{"node", m.Node, "n1"},
			{"implementation", m.Implementation, "Bitcoin Core"},
			{"version", m.ImplementationVersion, "/Satoshi:29.0.0/"},
			{"network", m.Network, "mainnet"},
			{"source", m.Source, "nats nats://x *"},
			{"recorder", m.Recorder, "peertape test"},
			{"hostname", m.Hostname, "h1"},
			{"run id", m.RunId, "run42"},
			{"low data", m.LowData, true},
			{"header low data", rd.Header().GetLowData(), true},
			{"sequence", m.Sequence, uint64(i)},
			{"level", m.CompressionLevel, int32(5)},
			{"only", strings.Join(m.GetFilter().GetOnly(), ","), "netmsg,rpc"},
			{"exclude", strings.Join(m.GetFilter().GetExclude(), ","), "netmsg:ping"},
			{"label", m.Labels["site"], "a"},
		}
		if i == 1 {
			checks = append(checks, struct {
				what      string
				got, want any
			}{"previous", m.Previous, filepath.Base(segs[0])})
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("segment %d: %s = %v, want %v", i, c.what, c.got, c.want)
			}
		}
		if i == 0 {
			gaps := rd.Gaps()
			if len(gaps) != 2 || gaps[1].Dropped != 17 || gaps[0].Reason != "nats disconnected" {
				t.Errorf("gaps in the index: %v", gaps)
			}
		}
		for rd.Next() {
			recorded = append(recorded, rd.Event())
		}
		rd.Close()
	}
	// The filter: netmsg and rpc only, no pings; tx events lost their raw bytes.
	var want []event.Event
	for _, ev := range evs {
		if !f.Match(ev) {
			continue
		}
		s, _, err := event.StripLowData(ev)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, s)
	}
	sameEvents(t, recorded, want)
	if got := metric(t, reg, "peertape_record_filtered_events_total"); got != float64(len(evs)-len(want)) {
		t.Errorf("filtered_events_total = %v, want %d", got, len(evs)-len(want))
	}
	if metric(t, reg, "peertape_record_low_data_stripped_bytes_total") == 0 {
		t.Error("low_data_stripped_bytes_total is 0")
	}
	if got := metric(t, reg, "peertape_record_gap_dropped_events_total"); got != 17 {
		t.Errorf("gap_dropped_events_total = %v, want 17", got)
	}
}

// A second recorder on the same directory refuses to start and says why;
// once the first is closed, it starts.
func TestLockRefusesSecondRecorder(t *testing.T) {
	r1, _ := newTestRecorder(t, Options{})
	_, err := New(Options{Dir: r1.o.Dir, Node: "n2", MinFree: -1, Logger: testLogger(t)})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second recorder: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("error does not name the holder: %v", err)
	}
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	r2, err := New(Options{Dir: r1.o.Dir, Node: "n1", MinFree: -1, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	r2.Close()
}

// A .partial left by a crash is recovered before recording starts, with
// everything that was flushed; the new run continues the sequence.
func TestRecoversPartialAtStart(t *testing.T) {
	crashed := t.TempDir()
	evs := testevents.Mixed(500, 7, 1_000)
	w, err := format.Create(filepath.Join(crashed, "n1-20260407T100000Z-000004.seg.zst"), format.WriterOptions{FlushInterval: -1, Meta: &pb.SegmentMeta{Node: "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		w.Append(ev)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// The writer is abandoned, as by kill -9; copy what is on disk.
	partial, err := os.ReadFile(filepath.Join(crashed, "n1-20260407T100000Z-000004.seg.zst.partial"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "n1-20260407T100000Z-000004.seg.zst.partial"), append(partial, 0x28, 0xb5), 0o644) // plus a torn tail
	os.WriteFile(filepath.Join(dir, "n1-20260407T090000Z-000003.seg.zst.partial"), nil, 0o644)                         // killed before its first byte
	os.WriteFile(filepath.Join(dir, ".n1-20260407T080000Z-000002.seg.zst.compacting.partial"), []byte("junk"), 0o644)

	r, reg := newTestRecorder(t, Options{Dir: dir})
	if len(r.Recovered) != 1 || r.Recovered[0].Err != nil || r.Recovered[0].Report.Events != 500 {
		t.Fatalf("recovered: %+v", r.Recovered)
	}
	if r.Recovered[0].Report.DroppedBytes == 0 {
		t.Error("torn tail not reported as dropped")
	}
	if got := metric(t, reg, "peertape_record_recovered_segments_total", "result", "ok"); got != 1 {
		t.Errorf("recovered_segments_total = %v", got)
	}
	if r.Stats().Segment != "" {
		t.Fatal("a segment was opened before the first event")
	}
	if err := r.Consume(evs[0]); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats().Segment; !strings.HasSuffix(s, "-000005.seg.zst") {
		t.Errorf("new segment %s does not continue the sequence", s)
	}
	if m := r.Meta(); m.Previous != "n1-20260407T100000Z-000004.seg.zst" {
		t.Errorf("previous = %q", m.Previous)
	}
	r.Close()
	if p := partials(t, dir); len(p) > 0 {
		t.Fatalf("partials left: %v", p)
	}
	if _, err := os.Stat(filepath.Join(dir, ".n1-20260407T080000Z-000002.seg.zst.compacting.partial")); !os.IsNotExist(err) {
		t.Error("compaction temporary not removed")
	}
	verifyAll(t, dir)
	sameEvents(t, readFile(t, filepath.Join(dir, "n1-20260407T100000Z-000004.seg.zst")), evs)
}

// Payloads that are not protobuf at all go to malformed.jsonl and are
// counted, never into a segment.
func TestMalformedKeptInSideFile(t *testing.T) {
	srv := testenv.NATS(t)
	r, reg := newTestRecorder(t, Options{})
	sub := natsbus.NewSubscriber(srv.ClientURL(), natsbus.SubscriberOptions{Node: "n1", OnMalformed: r.Malformed, Registerer: reg, Logger: testLogger(t)})
	stop := runAsync(r, sub)
	<-sub.Ready()
	nc := testenv.NATSConn(t, srv)
	good := testevents.Mixed(3, 1, 0)
	pub := natsbus.NewPublisher(nc)
	pub.Consume(good[0])
	nc.Publish("netmsg", []byte{0xff, 0xff, 0x00})
	pub.Consume(good[1])
	nc.Publish("rpc", []byte("hello"))
	pub.Consume(good[2])
	nc.Flush()
	waitFor(t, "events and malformed payloads", func() bool {
		return r.Stats().Events == 3 && metric(t, reg, "peertape_record_malformed_payloads_total", "stored", "true") == 2
	})
	stop()
	r.Close()
	sameEvents(t, readDir(t, r.o.Dir), good)
	b, err := os.ReadFile(filepath.Join(r.o.Dir, "malformed.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"subject":"netmsg","bytes":3,"data":"//8A"`) || !strings.Contains(lines[1], `"data":"aGVsbG8="`) {
		t.Fatalf("malformed.jsonl:\n%s", b)
	}
	if got := metric(t, reg, "peertape_nats_messages_malformed_total"); got != 2 {
		t.Errorf("peertape_nats_messages_malformed_total = %v", got)
	}
}

// A burst larger than the subscriber's buffer while the recorder is busy:
// every message is either recorded or counted as dropped, in the metrics
// and as a gap in the segment.
func TestSlowConsumerDropsCounted(t *testing.T) {
	srv := testenv.NATS(t)
	r, reg := newTestRecorder(t, Options{})
	sub := natsbus.NewSubscriber(srv.ClientURL(), natsbus.SubscriberOptions{Node: "n1", PendingMsgs: 500, Registerer: reg, Logger: testLogger(t)})
	stop := runAsync(r, sub)
	<-sub.Ready()
	evs := testevents.Mixed(20000, 9, 0)
	pub := natsbus.NewPublisher(testenv.NATSConn(t, srv))
	r.mu.Lock() // the recorder is busy (a slow disk) while the burst arrives
	for _, ev := range evs {
		pub.Consume(ev)
	}
	if err := pub.Flush(context.Background()); err != nil {
		r.mu.Unlock()
		t.Fatal(err)
	}
	// The burst has reached the client; wait until it gave up on some.
	waitFor(t, "the client to drop messages", func() bool {
		return metric(t, reg, "peertape_nats_slow_consumer_dropped_total") > 0
	})
	r.mu.Unlock()
	waitFor(t, "every message recorded or counted", func() bool {
		return float64(r.Stats().Events)+metric(t, reg, "peertape_record_gap_dropped_events_total") == float64(len(evs))
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	recorded := readDir(t, r.o.Dir)
	dropped := metric(t, reg, "peertape_nats_slow_consumer_dropped_total")
	if dropped == 0 || float64(len(recorded))+dropped != float64(len(evs)) {
		t.Fatalf("recorded %d + dropped %v != published %d", len(recorded), dropped, len(evs))
	}
	var inGaps uint64
	for _, f := range segments(t, r.o.Dir) {
		rd, _ := format.Open(f)
		for _, g := range rd.Gaps() {
			inGaps += g.Dropped
		}
		rd.Close()
	}
	if float64(inGaps) != dropped {
		t.Fatalf("gaps in the segments count %d dropped, metrics %v", inGaps, dropped)
	}
	// What was recorded is in publish order.
	pos := map[string]int{}
	for i, ev := range evs {
		pos[string(ev.Raw)] = i
	}
	last := -1
	for _, ev := range recorded {
		p := pos[string(ev.Raw)]
		if p <= last {
			t.Fatal("recorded events out of publish order")
		}
		last = p
	}
}

func natsConnect(t *testing.T, url string) (*nats.Conn, error) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, nil
}

// The NATS server restarts: the recorder keeps running, reconnects,
// records the outage as a gap and counts it.
func TestNATSRestart(t *testing.T) {
	srv, err := natsbus.StartServer(natsbus.ServerOptions{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	port := srv.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndex(port, ":")+1:]
	var portN int
	fmt.Sscan(port, &portN)
	r, reg := newTestRecorder(t, Options{})
	sub := natsbus.NewSubscriber(srv.ClientURL(), natsbus.SubscriberOptions{Node: "n1", ReconnectWait: 20 * time.Millisecond, Registerer: reg, Logger: testLogger(t)})
	stop := runAsync(r, sub)
	<-sub.Ready()
	evs := testevents.Mixed(200, 1, 0)
	nc, _ := natsConnect(t, srv.ClientURL())
	pub := natsbus.NewPublisher(nc)
	for _, ev := range evs[:100] {
		pub.Consume(ev)
	}
	pub.Flush(context.Background())
	waitFor(t, "first half", func() bool { return r.Stats().Events == 100 })
	nc.Close()
	srv.Close()
	srv2, err := natsbus.StartServer(natsbus.ServerOptions{Port: portN})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	waitFor(t, "reconnect", func() bool { return metric(t, reg, "peertape_nats_reconnects_total") >= 1 })
	nc2, _ := natsConnect(t, srv2.ClientURL())
	pub2 := natsbus.NewPublisher(nc2)
	for _, ev := range evs[100:] {
		pub2.Consume(ev)
	}
	pub2.Flush(context.Background())
	waitFor(t, "second half", func() bool { return r.Stats().Events == 200 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	sameEvents(t, readDir(t, r.o.Dir), evs)
	segs := segments(t, r.o.Dir)
	rd, err := format.Open(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	gaps := rd.Gaps()
	rd.Close()
	if len(gaps) == 0 || !strings.Contains(gaps[0].Reason, "nats") || gaps[0].EndMs < gaps[0].StartMs {
		t.Fatalf("outage not recorded as a gap: %v", gaps)
	}
	for _, m := range []string{"peertape_nats_disconnects_total", "peertape_nats_reconnects_total", "peertape_record_gaps_total"} {
		if metric(t, reg, m) < 1 {
			t.Errorf("%s not counted", m)
		}
	}
}

// Shutdown while NATS is unreachable: Run returns within its bound and
// Close finalizes the segment with every event received.
func TestShutdownWithNATSUnreachable(t *testing.T) {
	srv, err := natsbus.StartServer(natsbus.ServerOptions{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := newTestRecorder(t, Options{ShutdownTimeout: 3 * time.Second})
	sub := natsbus.NewSubscriber(srv.ClientURL(), natsbus.SubscriberOptions{Node: "n1", DrainTimeout: 2 * time.Second, Logger: testLogger(t)})
	stop := runAsync(r, sub)
	<-sub.Ready()
	evs := testevents.Mixed(300, 1, 0)
	nc, _ := natsConnect(t, srv.ClientURL())
	pub := natsbus.NewPublisher(nc)
	for _, ev := range evs {
		pub.Consume(ev)
	}
	pub.Flush(context.Background())
	waitFor(t, "events", func() bool { return r.Stats().Events == 300 })
	nc.Close()
	srv.Close()
	if err := stop(); err != nil { // bounded by runAsync's 20 s guard
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if p := partials(t, r.o.Dir); len(p) > 0 {
		t.Fatalf("left unfinished: %v", p)
	}
	verifyAll(t, r.o.Dir)
	sameEvents(t, readDir(t, r.o.Dir), evs)
}

// A source that fails stops the recorder with its error; the segment is
// still finalized by Close.
func TestSourceErrorStops(t *testing.T) {
	r, _ := newTestRecorder(t, Options{})
	boom := errors.New("probe detached")
	failing := sourceFunc(func(ctx context.Context, sink event.Sink) error {
		for _, ev := range testevents.Mixed(10, 1, 0) {
			sink.Consume(ev)
		}
		return boom
	})
	blocking := sourceFunc(func(ctx context.Context, sink event.Sink) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if err := r.Run(context.Background(), failing, blocking); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want %v", err, boom)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(readDir(t, r.o.Dir)); n != 10 {
		t.Fatalf("%d events recorded, want 10", n)
	}
}

type sourceFunc func(ctx context.Context, sink event.Sink) error

func (f sourceFunc) Run(ctx context.Context, sink event.Sink) error { return f(ctx, sink) }

// Rotated segments are compacted in the background, one at a time, and
// keep exactly their records; a shutdown interrupts compaction safely.
func TestCompactInBackground(t *testing.T) {
	var mu sync.Mutex
	var compacted []string
	var running, maxRunning atomic.Int32 // one compaction at a time
	compact := func(ctx context.Context, path string) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := maxRunning.Load(); n > m && !maxRunning.CompareAndSwap(m, n); m = maxRunning.Load() {
		}
		if _, err := format.Compact(path, format.CompactOptions{}); err != nil {
			return err
		}
		mu.Lock()
		compacted = append(compacted, filepath.Base(path))
		mu.Unlock()
		return nil
	}
	r, reg := newTestRecorder(t, Options{MaxSegmentSize: 64 << 10, FrameSize: 32 << 10, Compact: compact})
	evs := bulkyEvents(t, 300, 1000, 3)
	if err := r.Run(context.Background(), sliceSource{evs: evs}); err != nil {
		t.Fatal(err)
	}
	rotated := int(metric(t, reg, "peertape_record_segments_rotated_total"))
	if rotated < 3 {
		t.Fatalf("only %d rotations", rotated)
	}
	waitFor(t, "rotated segments compacted", func() bool {
		return metric(t, reg, "peertape_record_compactions_total", "result", "ok") == float64(rotated)
	})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if m := maxRunning.Load(); m != 1 {
		t.Errorf("%d compactions ran at once, want one at a time", m)
	}
	segs := segments(t, r.o.Dir)
	if len(segs) != rotated+1 {
		t.Fatalf("%d segments after %d rotations", len(segs), rotated)
	}
	for _, s := range segs[:rotated] {
		rd, _ := format.Open(s)
		lvl := rd.Meta().CompressionLevel
		rd.Close()
		if lvl != 19 {
			t.Errorf("%s: level %d after compaction", filepath.Base(s), lvl)
		}
	}
	verifyAll(t, r.o.Dir)
	sameEvents(t, readDir(t, r.o.Dir), evs)

	// The next start compacts the segment the shutdown finished.
	before := len(compacted)
	r2, reg2 := newTestRecorder(t, Options{Dir: r.o.Dir, Compact: compact})
	waitFor(t, "left-over segment compacted", func() bool {
		return metric(t, reg2, "peertape_record_compactions_total", "result", "ok") >= 1
	})
	r2.Close()
	if len(compacted) != before+1 || compacted[before] != filepath.Base(segs[rotated]) {
		t.Fatalf("compacted %v at restart, want %s", compacted[before:], filepath.Base(segs[rotated]))
	}
}

// The free-space guard keeps the recorder from starting on a full disk.
func TestMinFreeRefusesStart(t *testing.T) {
	_, err := New(Options{Dir: t.TempDir(), Node: "n1", MinFree: 1 << 62, Logger: testLogger(t)})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("New = %v, want ErrDiskFull", err)
	}
}

// The exposition is valid and passes promtool's lint.
func TestMetricsPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	srv := testenv.NATS(t)
	r, reg := newTestRecorder(t, Options{})
	sub := natsbus.NewSubscriber(srv.ClientURL(), natsbus.SubscriberOptions{Node: "n1", Registerer: reg})
	stop := runAsync(r, sub)
	<-sub.Ready()
	pub := natsbus.NewPublisher(testenv.NATSConn(t, srv))
	for _, ev := range testevents.Mixed(100, 1, 0) {
		pub.Consume(ev)
	}
	pub.Flush(context.Background())
	waitFor(t, "events", func() bool { return r.Stats().Events == 100 })
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "peertape_") {
			t.Errorf("metric %s lacks the peertape_ prefix", mf.GetName())
		}
		enc.Encode(mf)
	}
	stop()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n%s", err, out, buf.String())
	}
	for _, want := range []string{"peertape_record_events_total{kind=\"netmsg\"}", "peertape_record_fsync_duration_seconds_bucket",
		"peertape_record_seconds_since_last_event", "peertape_nats_slow_consumer_dropped_total", "peertape_record_flushes_total",
		// every metric issue 4 lists
		"peertape_record_event_bytes_total{kind=\"netmsg\"}", "peertape_record_segments_rotated_total",
		"peertape_record_retention_deleted_segments_total{reason=\"size\"}", "peertape_record_retention_deleted_segments_total{reason=\"age\"}",
		"peertape_record_frames_closed_total", "peertape_record_write_errors_total", "peertape_nats_disconnects_total",
		"peertape_nats_reconnects_total", "peertape_record_gaps_total"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
}
