package format

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 5000, 1, 1_700_000_000_000)
	path := writeSegment(t, dir, "a.seg.zst", evs, WriterOptions{FrameSize: 64 << 10})

	if _, err := os.Stat(path + PartialSuffix); !os.IsNotExist(err) {
		t.Fatalf(".partial left behind: %v", err)
	}
	got, r := readAll(t, path)
	sameEvents(t, got, evs)
	if !r.Complete() || r.Format() != FormatSegment {
		t.Fatalf("complete=%v format=%v", r.Complete(), r.Format())
	}
	if len(r.Problems()) != 0 {
		t.Fatalf("problems: %v", r.Problems())
	}
	idx := r.Index()
	if idx == nil || idx.Events != uint64(len(evs)) {
		t.Fatalf("index events = %v", idx.GetEvents())
	}
	if len(idx.Frames) < 3 {
		t.Fatalf("want several frames with a 64 KiB frame size, got %d", len(idx.Frames))
	}
	var sum uint64
	for _, fi := range idx.Frames {
		sum += fi.Events
	}
	if sum != idx.Events {
		t.Fatalf("frame events sum %d != %d", sum, idx.Events)
	}
	wantKinds := map[string]uint64{}
	wantCmds := map[string]uint64{}
	for _, ev := range evs {
		wantKinds[ev.Kind.String()]++
		if ev.Kind == event.NetMsg {
			wantCmds[ev.Type]++
		}
	}
	for k, n := range wantKinds {
		if idx.Kinds[k] != n {
			t.Errorf("kind %s: index %d, want %d", k, idx.Kinds[k], n)
		}
	}
	for c, n := range wantCmds {
		if idx.Commands[c] != n {
			t.Errorf("command %s: index %d, want %d", c, idx.Commands[c], n)
		}
	}
	if idx.FirstTimeMs != evs[0].Time || idx.LastTimeMs != evs[len(evs)-1].Time {
		t.Errorf("times %d..%d", idx.FirstTimeMs, idx.LastTimeMs)
	}
	if r.Meta().Node != "n1" || got[0].Node != "n1" {
		t.Errorf("node %q / %q", r.Meta().Node, got[0].Node)
	}

	// Scanning without the index finds the same records and rebuilds the
	// same frame layout.
	got2, r2 := readAll(t, path, ReadOptions{NoIndex: true})
	sameEvents(t, got2, evs)
	si := r2.ScannedIndex()
	if len(si.Frames) != len(idx.Frames) {
		t.Fatalf("scanned %d frames, index has %d", len(si.Frames), len(idx.Frames))
	}
	for i := range si.Frames {
		a, b := si.Frames[i], idx.Frames[i]
		if a.Offset != b.Offset || a.CompressedLen != b.CompressedLen || a.RawLen != b.RawLen || a.Events != b.Events {
			t.Fatalf("frame %d: scanned %v, index %v", i, a, b)
		}
	}
}

// `zstd -dc SEGMENT` must print a peer-observer archive: the header, then
// the records, nothing of peertape's own frames.
func TestZstdCLIDecodesToUpstreamArchive(t *testing.T) {
	zstd, err := exec.LookPath("zstd")
	if err != nil {
		t.Skip("zstd CLI not installed (Debian package zstd; `make deps` installs it)")
	}
	dir := t.TempDir()
	evs := testEvents(t, 2000, 2, 1_700_000_000_000)
	path := writeSegment(t, dir, "a.seg.zst", evs, WriterOptions{FrameSize: 32 << 10, Meta: &pb.SegmentMeta{Node: "n1", CreatedMs: 1_700_000_123_000, LowData: true}})
	out, err := exec.Command(zstd, "-dc", path).Output()
	if err != nil {
		t.Fatalf("zstd -dc: %v", err)
	}
	bin := filepath.Join(dir, "mainnet.20260407-090713-133.bin")
	if err := os.WriteFile(bin, out, 0o644); err != nil {
		t.Fatal(err)
	}
	got, r := readAll(t, bin)
	if r.Format() != FormatUpstreamRaw || !r.Complete() {
		t.Fatalf("format %v complete %v", r.Format(), r.Complete())
	}
	if r.Header().GetCreated() != 1_700_000_123 || !r.Header().GetLowData() {
		t.Fatalf("header %v", r.Header())
	}
	if r.Meta().Node != "mainnet" {
		t.Fatalf("upstream node %q, want base name prefix", r.Meta().Node)
	}
	for i := range got {
		got[i].Node = evs[i].Node
	}
	sameEvents(t, got, evs)
}

// A crash after a flush: the .partial holds every flushed record.
func TestPartialAfterFlushIsReadable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.seg.zst")
	w, err := Create(path, WriterOptions{FlushInterval: -1, Meta: &pb.SegmentMeta{Node: "n"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	evs := testEvents(t, 3000, 3, 1_700_000_000_000)
	for i, ev := range evs {
		if err := w.Append(ev); err != nil {
			t.Fatal(err)
		}
		if i == 1999 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			// Snapshot the file as a crash would leave it.
			copyFile(t, path+PartialSuffix, filepath.Join(dir, "crash.seg.zst.partial"))
		}
	}
	got, r := readAll(t, filepath.Join(dir, "crash.seg.zst.partial"))
	if r.Complete() || r.Index() != nil {
		t.Fatal("a .partial must not look complete")
	}
	sameEvents(t, got, evs[:2000])
	if len(r.Problems()) != 0 {
		t.Fatalf("problems: %v", r.Problems())
	}
}

// Cutting a segment at every kind of offset never panics and yields a
// prefix of the records.
func TestTruncatedAnywhere(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 1500, 4, 1_700_000_000_000)
	path := writeSegment(t, dir, "t.seg.zst", evs, WriterOptions{FrameSize: 16 << 10})
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	step := len(full) / 97
	for cut := 1; cut < len(full); cut += step {
		p := filepath.Join(dir, "cut.seg.zst.partial")
		if err := os.WriteFile(p, full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Open(p)
		if err != nil {
			continue // too short to even hold the metadata: a clear error is right
		}
		n := 0
		for r.Next() {
			if !bytes.Equal(r.RawEvent().Raw, evs[n].Raw) {
				t.Fatalf("cut %d: event %d differs", cut, n)
			}
			n++
		}
		r.Close()
		if r.Err() != nil {
			t.Fatalf("cut %d: %v", cut, r.Err())
		}
		if len(r.Problems()) != 0 {
			t.Fatalf("cut %d: torn tail reported as damage: %v", cut, r.Problems())
		}
		if n < len(evs) && r.Dropped() == 0 && r.DroppedRaw() == 0 {
			t.Fatalf("cut %d: read %d of %d events but reported nothing dropped", cut, n, len(evs))
		}
	}
}

// A damaged frame in the middle is reported with its offset and the other
// frames stay readable.
func TestCorruptFrameInTheMiddle(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 3000, 5, 1_700_000_000_000)
	path := writeSegment(t, dir, "c.seg.zst", evs, WriterOptions{FrameSize: 32 << 10})
	_, r := readAll(t, path)
	idx := r.Index()
	if len(idx.Frames) < 4 {
		t.Fatalf("need at least 4 frames, got %d", len(idx.Frames))
	}
	bad := idx.Frames[2]
	data, _ := os.ReadFile(path)
	for i := int(bad.Offset) + 40; i < int(bad.Offset)+60; i++ {
		data[i] ^= 0xff
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, noIndex := range []bool{false, true} {
		got, r := readAll(t, path, ReadOptions{NoIndex: noIndex})
		if len(r.Problems()) == 0 {
			t.Fatalf("noIndex=%v: damage not reported", noIndex)
		}
		var ce *CorruptError
		if !errors.As(r.Problems()[0], &ce) || ce.Frame != 2 || ce.Offset != int64(bad.Offset) {
			t.Fatalf("noIndex=%v: problem %v, want frame 2 at %d", noIndex, r.Problems()[0], bad.Offset)
		}
		// Every record outside frame 2 is there, in order.
		var want []event.Event
		for i, ev := range evs {
			if uint64(i) < bad.FirstEvent || uint64(i) >= bad.FirstEvent+bad.Events {
				want = append(want, ev)
			}
		}
		// Records of frame 2 decoded before the damage may come first.
		j := 0
		for _, ev := range got {
			if j < len(want) && bytes.Equal(ev.Raw, want[j].Raw) {
				j++
			}
		}
		if j != len(want) {
			t.Fatalf("noIndex=%v: only %d of %d records outside the damaged frame came back", noIndex, j, len(want))
		}
	}
}

func TestSeekMatchesFullScan(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 6000, 6, 1_700_000_000_000)
	path := writeSegment(t, dir, "s.seg.zst", evs, WriterOptions{FrameSize: 16 << 10})
	f, _ := event.NewFilter([]string{"netmsg:inv", "rpc"}, nil)
	first, last := evs[0].Time, evs[len(evs)-1].Time
	cases := []ReadOptions{
		{From: first + (last-first)/2},
		{To: first + (last-first)/3},
		{From: first + (last-first)/4, To: first + (last-first)/2},
		{From: first + (last-first)/4, To: first + (last-first)/2, Filter: f},
		{From: last + 1},
		{From: evs[100].Time, To: evs[100].Time + 1},
	}
	for i, o := range cases {
		got, _ := readAll(t, path, o)
		var want []event.Event
		for _, ev := range evs {
			if o.match(&ev) {
				want = append(want, ev)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("case %d: %d events, full scan gives %d", i, len(got), len(want))
		}
		sameEvents(t, got, want)
	}
}

// EventTimeFlush flushes by event time: with a flush every 100 ms of event
// time the file has many more blocks than without, and reads back the same.
func TestEventTimeFlush(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 4000, 13, 1_700_000_000_000) // ~8 s of event time
	a := writeSegment(t, dir, "a.seg.zst", evs, WriterOptions{})
	b := writeSegment(t, dir, "b.seg.zst", evs, WriterOptions{EventTimeFlush: 100 * time.Millisecond})
	ga, _ := readAll(t, a)
	gb, _ := readAll(t, b)
	sameEvents(t, gb, ga)
	count := func(p string) int {
		data, _ := os.ReadFile(p)
		_, r := readAll(t, p)
		fi := r.Index().Frames[0]
		fs, err := scanFrame(bytes.NewReader(data), int64(fi.Offset), int64(fi.Offset+fi.CompressedLen))
		if err != nil || !fs.complete {
			t.Fatal(err)
		}
		n := 0
		for pos := fs.off + int64(len(fs.hdr.raw)); pos < fs.blocksEnd; n++ {
			v := uint32(data[pos]) | uint32(data[pos+1])<<8 | uint32(data[pos+2])<<16
			size := int64(v >> 3)
			if (v>>1)&3 == blockRLE {
				size = 1
			}
			pos += 3 + size
		}
		return n
	}
	if na, nb := count(a), count(b); nb < 50 || nb <= na {
		t.Fatalf("blocks: %d without, %d with event-time flushes", na, nb)
	}
}

// Raw reading yields the same records, classifies on demand, and refuses
// selections that need classification.
func TestRawReading(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 3000, 14, 1_700_000_000_000)
	p := writeSegment(t, dir, "r.seg.zst", evs, WriterOptions{FrameSize: 16 << 10})
	r, err := Open(p, ReadOptions{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for r.Next() {
		if !bytes.Equal(r.Record(), evs[i].Raw) {
			t.Fatalf("record %d differs", i)
		}
		if i%100 == 0 {
			if ev := r.RawEvent(); ev.Time != evs[i].Time || ev.Kind != evs[i].Kind || ev.Node != "n1" {
				t.Fatalf("record %d classified as %+v", i, ev)
			}
		}
		i++
	}
	r.Close()
	if i != len(evs) {
		t.Fatalf("%d records, want %d", i, len(evs))
	}
	if _, err := Open(p, ReadOptions{Raw: true, From: 1}); err == nil {
		t.Fatal("raw reading accepted a time range")
	}
}
