package sanitize

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/proto/pb"
	"github.com/peertape/peertape/replay"
	"github.com/peertape/peertape/sanitize/sanitizetest"
)

const archiveStart = 1_775_552_833_133

// archiveInputs writes the synthetic stream as two complete segments (the
// first with a gap whose reason names an address), a .partial left by a
// crash, and a peer-observer archive, and returns the directory and the
// events of each file in order.
func archiveInputs(t testing.TB, n int, o sanitizetest.Options) (string, [][]event.Event) {
	t.Helper()
	dir := t.TempDir()
	evs := sanitizetest.Events(n, 7, archiveStart, o)
	q := n / 4
	parts := [][]event.Event{evs[:q], evs[q : 2*q], evs[2*q : 3*q], evs[3*q:]}

	w, err := format.Create(filepath.Join(dir, "honeypot-a.seg.zst"), format.WriterOptions{FlushInterval: -1, Meta: sanitizetest.Meta("honeypot", archiveStart)})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range parts[0] {
		if err := w.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	w.Gap(&pb.Gap{StartMs: archiveStart + 10, EndMs: archiveStart + 20, Reason: "nats://" + sanitizetest.NATSHost + ":4222 unreachable"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sanitizetest.WriteSegment(filepath.Join(dir, "honeypot-b.seg.zst"), sanitizetest.Meta("honeypot", parts[1][0].Time), parts[1]); err != nil {
		t.Fatal(err)
	}
	// A recorder killed after a flush leaves a .partial.
	pw, err := format.Create(filepath.Join(t.TempDir(), "c.seg.zst"), format.WriterOptions{FlushInterval: -1, Meta: sanitizetest.Meta("honeypot", parts[2][0].Time)})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range parts[2] {
		if err := pw.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.Flush(); err != nil {
		t.Fatal(err)
	}
	copyFile(t, pw.Path()+format.PartialSuffix, filepath.Join(dir, "honeypot-c.seg.zst.partial"))
	pw.Close()
	if err := sanitizetest.WriteUpstream(filepath.Join(dir, "honeypot.20260407-090713-000.bin.zst"), uint64(parts[3][0].Time/1000), parts[3]); err != nil {
		t.Fatal(err)
	}
	return dir, parts
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func readEvents(t testing.TB, path string) ([]event.Event, *format.Reader) {
	t.Helper()
	r, err := format.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for r.Next() {
		evs = append(evs, r.Event())
	}
	if r.Err() != nil || len(r.Problems()) > 0 {
		t.Fatalf("read %s: %v %v", path, r.Err(), r.Problems())
	}
	r.Close()
	return evs, r
}

var segName = regexp.MustCompile(`^honeypot-\d{8}T\d{6}Z-\d{6}\.seg\.zst$`)

// Every input form is sanitized into complete segments without a leak,
// with the same events per kind, the node's own addresses learned in the
// first pass, and metadata that says what was done.
func TestArchive(t *testing.T) {
	in, parts := archiveInputs(t, 4000, sanitizetest.Options{})
	out := filepath.Join(t.TempDir(), "out")
	key := testKey(t, 9)
	now := time.UnixMilli(archiveStart + 99)
	rep, err := Archive(context.Background(), key, []string{in}, out, ArchiveOptions{
		Options: Options{KeyedTimeShift: true}, ToolVersion: "peertape test", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Files) != 4 || rep.SelfLearned != 2 || rep.SelfGiven != 0 || rep.KeyFingerprint != key.Fingerprint() || rep.Problems() != 0 {
		t.Fatalf("report %+v", rep)
	}
	s, _ := New(key, Options{KeyedTimeShift: true})
	shift := s.TimeShift().Milliseconds()
	// Archive's sanitizer lends its buffers to the writer; each written
	// record must still be byte for byte what a sanitizer with the same
	// self addresses returns for the event on its own.
	var learned []string
	for _, p := range parts {
		for _, ev := range p {
			a, err := SelfAddresses(ev)
			if err != nil {
				t.Fatal(err)
			}
			learned = append(learned, a...)
		}
	}
	alone, err := New(key, Options{KeyedTimeShift: true, Self: learned})
	if err != nil {
		t.Fatal(err)
	}
	for i, fr := range rep.Files {
		want := parts[i]
		if !segName.MatchString(filepath.Base(fr.Output)) {
			t.Errorf("output name %s", fr.Output)
		}
		got, r := readEvents(t, fr.Output)
		if !r.Complete() || r.Format() != format.FormatSegment {
			t.Fatalf("%s: not a complete segment", fr.Output)
		}
		if fr.EventsIn != uint64(len(want)) || fr.EventsOut != fr.EventsIn || len(got) != len(want) {
			t.Fatalf("%s: in %d out %d read %d, want %d", fr.Input, fr.EventsIn, fr.EventsOut, len(got), len(want))
		}
		for j := range got {
			if got[j].Selector() != want[j].Selector() || got[j].Time != want[j].Time+shift {
				t.Fatalf("%s event %d: %s at %d, want %s at %d", fr.Output, j, got[j].Selector(), got[j].Time, want[j].Selector(), want[j].Time+shift)
			}
			exp, _, err := alone.Event(want[j])
			if err != nil || !bytes.Equal(got[j].Raw, exp.Raw) {
				t.Fatalf("%s event %d (%s): written record differs from Sanitizer.Event's (%v)", fr.Output, j, want[j].Selector(), err)
			}
		}
		m := r.Meta()
		if m.Sanitization.GetKeyFingerprint() != key.Fingerprint() || m.Sanitization.GetToolVersion() != "peertape test" ||
			m.Hostname != "" || m.Node != "honeypot" || strings.Contains(m.Source, sanitizetest.NATSHost) || m.UpstreamFile != "" {
			t.Errorf("%s: metadata %v", fr.Output, m)
		}
		if m.CreatedMs != want[0].Time/1000*1000+shift && m.CreatedMs != archiveStart+shift && m.CreatedMs != want[0].Time+shift {
			t.Errorf("%s: created %d not shifted (first event %d, shift %d)", fr.Output, m.CreatedMs, want[0].Time, shift)
		}
		if i == 0 {
			gaps := r.Gaps()
			if len(gaps) != 1 || gaps[0].StartMs != archiveStart+10+shift || strings.Contains(gaps[0].Reason, sanitizetest.NATSHost) {
				t.Errorf("gaps %v", gaps)
			}
		}
		// The node's own address is the placeholder everywhere, also in
		// events before the first getnetworkinfo.
		for j, ev := range got {
			m, _ := ev.Decode()
			if v := m.GetEbpfExtractor().GetMessage().GetVersion(); v != nil && v.GetReceiver().GetIpv4() != SelfIPv4.String() {
				t.Fatalf("event %d: version receiver %s, want the placeholder", j, v.GetReceiver().GetIpv4())
			}
			for _, p := range m.GetRpcExtractor().GetPeerInfos().GetInfos() {
				if p.GetAddressLocal() != SelfIPv4.String()+":8333" {
					t.Fatalf("event %d: address_local %s", j, p.GetAddressLocal())
				}
			}
		}
	}
	if rep.Stats.FastPath == 0 || rep.Stats.PayloadsRewritten == 0 || rep.Stats.PayloadsDropped == 0 {
		t.Errorf("stats %+v", rep.Stats)
	}

	var leaks []FileLeak
	crep, err := CheckArchive(context.Background(), []string{out}, []string{in}, CheckOptions{OnLeak: func(l FileLeak) { leaks = append(leaks, l) }})
	if err != nil {
		t.Fatal(err)
	}
	if crep.Leaks != 0 || len(leaks) != 0 || crep.Files != 4 || crep.Events != 4000 || crep.Addresses < 500 || len(crep.Problems) != 0 {
		t.Fatalf("check %+v leaks %v", crep, leaks)
	}
	// Checking the originals against themselves finds every place.
	crep, err = CheckArchive(context.Background(), []string{in}, []string{in}, CheckOptions{OnLeak: func(l FileLeak) { leaks = append(leaks, l) }})
	if err != nil || crep.Leaks == 0 {
		t.Fatalf("originals against themselves: %v %+v", err, crep)
	}
	paths := map[string]bool{}
	for _, l := range leaks {
		paths[regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(l.Path, "[]")] = true
	}
	for _, p := range []string{"ebpf_extractor.message.meta.addr", "ebpf_extractor.message.version.receiver.ipv4", "ebpf_extractor.message.addrv2.addresses[].torv3",
		"ebpf_extractor.message.unknown.payload", "ebpf_extractor.connection.misbehaving.message", "ebpf_extractor.addrman.new.source",
		"rpc_extractor.peer_infos.infos[].address_local", "rpc_extractor.network_info.local_addresses[].address", "rpc_extractor.addrman.new[].entries[].source",
		"p2p_extractor.address_announcement.addresses[].i2p", "log_extractor.unknown_log_message.raw_message", "log_extractor.threadname",
		"meta.source", "gaps[].reason", "ebpf_extractor.message.addrv2.addresses[].unknown.address"} {
		if !paths[p] {
			t.Errorf("self-check found no leak at %s", p)
		}
	}
}

// Unknown fields are copied by default — and then the leak check sees the
// address they carry — and removed by DropUnknownFields.
func TestArchiveUnknownFields(t *testing.T) {
	in, _ := archiveInputs(t, 1000, sanitizetest.Options{Unknown: true})
	for _, drop := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "out")
		rep, err := Archive(context.Background(), testKey(t, 3), []string{in}, out, ArchiveOptions{Options: Options{DropUnknownFields: drop}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Stats.UnknownFieldEvents != 10 {
			t.Errorf("drop=%v: %d events with unknown fields, want 10", drop, rep.Stats.UnknownFieldEvents)
		}
		var leaks []FileLeak
		crep, err := CheckArchive(context.Background(), []string{out}, []string{in}, CheckOptions{OnLeak: func(l FileLeak) { leaks = append(leaks, l) }})
		if err != nil {
			t.Fatal(err)
		}
		if drop && crep.Leaks != 0 {
			t.Errorf("dropped unknown fields still leak: %v", leaks)
		}
		if !drop {
			if crep.Leaks != 10 {
				t.Fatalf("copied unknown fields: %d leaks, want 10: %v", crep.Leaks, leaks)
			}
			for _, l := range leaks {
				if l.Path != "<unknown fields>" || l.Record < 0 {
					t.Errorf("leak %v", l)
				}
			}
		}
	}
}

// A field the sanitizer missed (simulated by putting one original address
// back) is caught, at its file, event and field.
func TestCheckCatchesMissedField(t *testing.T) {
	in, parts := archiveInputs(t, 400, sanitizetest.Options{})
	out := filepath.Join(t.TempDir(), "out")
	rep, err := Archive(context.Background(), testKey(t, 4), []string{in}, out, ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	victim := rep.Files[1].Output
	evs, r := readEvents(t, victim)
	// Event 111 of the stream (the second file starts at 100) is a
	// getpeerinfo; put one original peer address back.
	idx := 111 - 100
	orig, _ := parts[1][idx].Decode()
	want := orig.GetRpcExtractor().GetPeerInfos().GetInfos()[2].GetAddress()
	m, _ := evs[idx].Decode()
	m.GetRpcExtractor().GetPeerInfos().GetInfos()[2].Address = proto.String(want)
	raw, _ := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
	evs[idx], _ = event.Parse(raw)
	os.Remove(victim)
	if err := sanitizetest.WriteSegment(victim, r.Meta(), evs); err != nil {
		t.Fatal(err)
	}
	var leaks []FileLeak
	crep, err := CheckArchive(context.Background(), []string{out}, []string{in}, CheckOptions{OnLeak: func(l FileLeak) { leaks = append(leaks, l) }})
	if err != nil {
		t.Fatal(err)
	}
	host := want[:strings.LastIndexByte(want, ':')]
	host = strings.Trim(host, "[]")
	if crep.Leaks != 1 || len(leaks) != 1 || leaks[0].File != victim || leaks[0].Record != int64(idx) ||
		leaks[0].Path != "rpc_extractor.peer_infos.infos[2].address" || !strings.Contains(want, leaks[0].Address) {
		t.Fatalf("leaks %v (want %s in %s event %d)", leaks, host, victim, idx)
	}
	if s := leaks[0].String(); !strings.Contains(s, "event 11 rpc_extractor.peer_infos.infos[2].address: ") {
		t.Errorf("leak text %q", s)
	}
}

func TestArchiveRefusesExistingAndCancels(t *testing.T) {
	in, _ := archiveInputs(t, 400, sanitizetest.Options{})
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Archive(context.Background(), testKey(t, 5), []string{in}, out, ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := Archive(context.Background(), testKey(t, 5), []string{in}, out, ArchiveOptions{})
	if err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second run into the same directory: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out2 := filepath.Join(t.TempDir(), "out")
	_, err = Archive(ctx, testKey(t, 5), []string{in}, out2, ArchiveOptions{NoLearnSelf: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	left, _ := os.ReadDir(out2)
	if len(left) != 0 {
		t.Fatalf("cancelled run left %v", left)
	}
}

// BenchmarkArchive measures the whole file path — first pass, read,
// sanitize, write — on one segment of the realistic mix (or on
// $PEERTAPE_BENCH_ARCHIVE), reporting events per second.
func BenchmarkArchive(b *testing.B) {
	var inputs []string
	var n int
	if dir := os.Getenv("PEERTAPE_BENCH_ARCHIVE"); dir != "" {
		inputs = []string{dir}
		files, err := format.Expand(inputs)
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range files {
			s, err := format.Summarize(f)
			if err != nil {
				b.Fatal(err)
			}
			n += int(s.Events)
		}
	} else {
		evs := realisticMix(b, 200_000)
		p := filepath.Join(b.TempDir(), "in.seg.zst")
		if err := sanitizetest.WriteSegment(p, &pb.SegmentMeta{Node: "bench", CreatedMs: evs[0].Time}, evs); err != nil {
			b.Fatal(err)
		}
		inputs, n = []string{p}, len(evs)
	}
	key := testKey(b, 1)
	b.ReportAllocs()
	events := 0
	cpu0 := cpuTime()
	for b.Loop() {
		out := filepath.Join(b.TempDir(), "out")
		if _, err := Archive(context.Background(), key, inputs, out, ArchiveOptions{Options: Options{KeyedTimeShift: true}}); err != nil {
			b.Fatal(err)
		}
		events += n
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	// CPU time does not count the time other processes held the core:
	// on a busy machine it shows what one core of our own achieves.
	b.ReportMetric(float64(events)/(cpuTime()-cpu0).Seconds(), "events/cpu-s")
}

// cpuTime returns the user and system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countSink counts replayed events per kind:type and node.
type countSink map[string]int

func (c countSink) Consume(ev event.Event) error {
	c[ev.Node+" "+ev.Selector()]++
	return nil
}

// A sanitized archive replays like the original: the same events per node
// and kind:type, in the same order of kinds.
func TestSanitizeThenReplay(t *testing.T) {
	in, _ := archiveInputs(t, 3000, sanitizetest.Options{})
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Archive(context.Background(), testKey(t, 6), []string{in}, out, ArchiveOptions{Options: Options{KeyedTimeShift: true}}); err != nil {
		t.Fatal(err)
	}
	counts := map[string]countSink{}
	var orders [2][]string
	for i, dir := range []string{in, out} {
		r, err := replay.Open([]string{dir}, replay.Speed(replay.Max))
		if err != nil {
			t.Fatal(err)
		}
		c := countSink{}
		if err := r.Run(context.Background(), event.SinkFunc(func(ev event.Event) error {
			orders[i] = append(orders[i], ev.Selector())
			return c.Consume(ev)
		})); err != nil {
			t.Fatal(err)
		}
		if st := r.Stats(); st.Events != 3000 || st.Problems != 0 {
			t.Fatalf("replay of %s: %+v", dir, st)
		}
		r.Close()
		counts[dir] = c
	}
	if len(counts[in]) < 25 {
		t.Fatalf("only %d kinds in the input", len(counts[in]))
	}
	for k, n := range counts[in] {
		if counts[out][k] != n {
			t.Errorf("%s: %d events after sanitizing, %d before", k, counts[out][k], n)
		}
	}
	for i := range orders[0] {
		if orders[0][i] != orders[1][i] {
			t.Fatalf("replay order differs at %d: %s vs %s", i, orders[0][i], orders[1][i])
		}
	}
}

// Every archive among the fixtures sanitizes without a leak, and so does
// every debug.log line there (as a log event). Fixtures arrive from other
// parts of the project; the test covers whatever is there.
func TestFixturesNoLeaks(t *testing.T) {
	var archives, logs []string
	filepath.WalkDir(filepath.Join("..", "fixtures"), func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil || d.IsDir():
		case format.IsArchiveName(d.Name()):
			archives = append(archives, p)
		case strings.HasSuffix(d.Name(), ".log"):
			logs = append(logs, p)
		}
		return nil
	})
	if len(archives)+len(logs) == 0 {
		t.Skip("no archive or debug.log fixtures under ../fixtures yet")
	}
	for _, a := range archives {
		out := filepath.Join(t.TempDir(), "out")
		if _, err := Archive(context.Background(), testKey(t, 7), []string{a}, out, ArchiveOptions{}); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		var leaks []FileLeak
		rep, err := CheckArchive(context.Background(), []string{out}, []string{a}, CheckOptions{OnLeak: func(l FileLeak) { leaks = append(leaks, l) }})
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if rep.Leaks != 0 {
			t.Errorf("%s: %d leaks: %v", a, rep.Leaks, leaks[:min(len(leaks), 10)])
		}
	}
	s := newSanitizer(t, Options{})
	for _, l := range logs {
		raw, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(raw), "\n") {
			in := build(t, logEv(ts0, &pb.Log{LogTimestamp: proto.Uint64(ts0 * 1000), Category: pb.LogDebugCategory_NET.Enum(),
				LogEvent: &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String(line)}}}))
			set := NewAddressSet()
			if err := set.Add(in); err != nil {
				t.Fatal(err)
			}
			out, _, err := s.Event(in)
			if err != nil {
				t.Fatal(err)
			}
			if leaks, _ := set.Check(uint64(i), out); len(leaks) > 0 {
				t.Errorf("%s:%d: %v", l, i+1, leaks)
			}
		}
	}
}
