package format

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// upstreamBytes builds an uncompressed peer-observer archive.
func upstreamBytes(t testing.TB, evs []event.Event, created uint64) []byte {
	t.Helper()
	hb, err := proto.Marshal(&pb.ArchiveHeader{Created: proto.Uint64(created)})
	if err != nil {
		t.Fatal(err)
	}
	b := protowire.AppendBytes(nil, hb)
	for _, ev := range evs {
		b = protowire.AppendBytes(b, ev.Raw)
	}
	return b
}

func zstdCompress(t testing.TB, raw []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(false))
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(raw, nil)
}

func TestUpstreamArchives(t *testing.T) {
	dir := t.TempDir()
	// Large enough that 30% of the compressed file holds complete blocks.
	evs := testEvents(t, 20000, 7, 1_775_552_833_000)
	raw := upstreamBytes(t, evs, 1_775_552_833)
	files := map[string][]byte{
		"mainnet.20260407-090713-133.bin":     raw,
		"mainnet.20260407-090713-134.bin.zst": zstdCompress(t, raw),
	}
	if zcli, err := exec.LookPath("zstd"); err == nil {
		cmd := exec.Command(zcli, "-q", "--ultra", "-22", "-c")
		cmd.Stdin = bytes.NewReader(raw)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		files["cli.20260407-090713-135.bin.zst"] = out
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			got, r := readAll(t, p)
			if !r.Format().Upstream() || !r.Complete() || len(r.Problems()) > 0 {
				t.Fatalf("format %v complete %v problems %v", r.Format(), r.Complete(), r.Problems())
			}
			for i := range got {
				got[i].Node = ""
			}
			sameEvents(t, got, evs)
			if r.Header().GetCreated() != 1_775_552_833 {
				t.Fatalf("header %v", r.Header())
			}

			// Truncated: every complete record before the cut survives.
			for _, frac := range []float64{0.3, 0.77, 0.999} {
				cut := filepath.Join(dir, "cut-"+name)
				os.WriteFile(cut, data[:int(float64(len(data))*frac)], 0o644)
				got, r := readAll(t, cut)
				if r.Complete() {
					t.Fatalf("%.3f: truncated archive reported complete", frac)
				}
				if len(got) == 0 || len(got) >= len(evs) {
					t.Fatalf("%.3f: read %d of %d", frac, len(got), len(evs))
				}
				for i := range got {
					if !bytes.Equal(got[i].Raw, evs[i].Raw) {
						t.Fatalf("%.3f: event %d differs", frac, i)
					}
				}
				if r.Dropped()+r.DroppedRaw() == 0 {
					t.Fatalf("%.3f: nothing reported dropped", frac)
				}
			}
		})
	}
}

func TestImportThenVerify(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 2000, 8, 1_775_552_833_000)
	p := filepath.Join(dir, "len-mainnet.20260407-090713-133.bin.zst")
	os.WriteFile(p, zstdCompress(t, upstreamBytes(t, evs, 1_775_552_833)), 0o644)
	out := t.TempDir()
	rep, err := Import(p, out, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != uint64(len(evs)) {
		t.Fatalf("imported %d events", rep.Events)
	}
	if want := "len-mainnet-20260407T090713Z-000000.seg.zst"; filepath.Base(rep.Output) != want {
		t.Fatalf("output %s, want %s", filepath.Base(rep.Output), want)
	}
	got, r := readAll(t, rep.Output)
	sameEvents(t, got, withNode(evs, "len-mainnet"))
	if r.Meta().UpstreamFile != filepath.Base(p) {
		t.Fatalf("meta %v", r.Meta())
	}
	v, err := Verify(rep.Output)
	if err != nil || !v.OK() {
		t.Fatalf("verify: %v %v", err, v.Problems)
	}
}

func withNode(evs []event.Event, node string) []event.Event {
	out := make([]event.Event, len(evs))
	for i, ev := range evs {
		ev.Node = node
		out[i] = ev
	}
	return out
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 3000, 9, 1_700_000_000_000)
	good := writeSegment(t, dir, "good.seg.zst", evs, WriterOptions{FrameSize: 32 << 10})
	v, err := Verify(good)
	if err != nil || !v.OK() || v.Events != uint64(len(evs)) {
		t.Fatalf("good segment: %v %+v", err, v)
	}
	data, _ := os.ReadFile(good)
	_, r := readAll(t, good)
	fi := r.Index().Frames[1]

	cases := map[string]func([]byte) []byte{
		"flipped data byte": func(b []byte) []byte { b[fi.Offset+fi.CompressedLen/2] ^= 0x55; return b },
		"flipped checksum":  func(b []byte) []byte { b[fi.Offset+fi.CompressedLen-1] ^= 0x01; return b },
		"flipped index":     func(b []byte) []byte { b[len(b)-trailerSize-10] ^= 0x01; return b },
		"flipped trailer":   func(b []byte) []byte { b[len(b)-3] ^= 0x01; return b },
		"flipped meta":      func(b []byte) []byte { b[14] ^= 0x01; return b },
		"truncated":         func(b []byte) []byte { return b[:len(b)-100] },
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".seg.zst")
			os.WriteFile(p, damage(bytes.Clone(data)), 0o644)
			v, err := Verify(p)
			if err != nil {
				t.Fatal(err)
			}
			if v.OK() {
				t.Fatal("damage not found")
			}
			for _, pr := range v.Problems {
				if !strings.Contains(pr, p) {
					t.Errorf("problem does not name the file: %s", pr)
				}
			}
		})
	}
}

// TestVerifyNamesOnlyTheDamagedFrame: events lost in one damaged frame
// renumber every later frame; verify must not report each of those as a
// mismatch of its own (a regression: one flipped byte listed every frame
// after it).
func TestVerifyNamesOnlyTheDamagedFrame(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 3000, 9, 1_700_000_000_000)
	good := writeSegment(t, dir, "good.seg.zst", evs, WriterOptions{FrameSize: 32 << 10})
	_, r := readAll(t, good)
	frames := r.Index().Frames
	if len(frames) < 4 {
		t.Fatalf("want at least 4 frames, got %d", len(frames))
	}
	fi := frames[1]
	data, _ := os.ReadFile(good)
	data[fi.Offset+fi.CompressedLen/2] ^= 0x55
	bad := filepath.Join(dir, "bad.seg.zst")
	os.WriteFile(bad, data, 0o644)
	v, err := Verify(bad)
	if err != nil {
		t.Fatal(err)
	}
	if v.OK() {
		t.Fatal("damage not found")
	}
	for _, pr := range v.Problems {
		for i := 2; i < len(frames); i++ {
			if strings.Contains(pr, fmt.Sprintf("index: frame %d:", i)) {
				t.Errorf("frame %d is intact but reported: %s", i, pr)
			}
		}
	}
}

func TestRecover(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 4000, 10, 1_700_000_000_000)
	path := filepath.Join(dir, "r.seg.zst")
	w, err := Create(path, WriterOptions{FlushInterval: -1, FrameSize: 32 << 10, Meta: &pb.SegmentMeta{Node: "n", Implementation: "Bitcoin Core"}})
	if err != nil {
		t.Fatal(err)
	}
	w.Gap(&pb.Gap{StartMs: 1, EndMs: 2, Reason: "nats down"})
	for _, ev := range evs[:3000] {
		w.Append(ev)
	}
	w.Flush()
	crash := filepath.Join(dir, "crash.seg.zst.partial")
	copyFile(t, path+PartialSuffix, crash)
	// Tear the tail as a crash in the middle of a write would.
	data, _ := os.ReadFile(crash)
	os.WriteFile(crash, data[:len(data)-7], 0o644)
	w.Close()
	readable, _ := readAll(t, crash)

	rep, err := Recover(crash, RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Output != filepath.Join(dir, "crash.seg.zst") {
		t.Fatalf("output %s", rep.Output)
	}
	if _, err := os.Stat(crash); !os.IsNotExist(err) {
		t.Fatal("the .partial should be gone after recovery")
	}
	got, r := readAll(t, rep.Output)
	if !r.Complete() {
		t.Fatal("recovered segment is not complete")
	}
	// Everything readable from the torn file is kept: all but the records
	// of the torn last block.
	if len(got) != len(readable) || len(got) < 2000 || len(got) >= 3000 || rep.Events != uint64(len(got)) {
		t.Fatalf("kept %d events (report %d), %d were readable", len(got), rep.Events, len(readable))
	}
	sameEvents(t, got, withNode(evs[:len(got)], "n"))
	if rep.DroppedBytes == 0 || r.Index().Recovery == nil {
		t.Fatalf("recovery not recorded: %+v %v", rep, r.Index().Recovery)
	}
	if len(r.Gaps()) != 1 || r.Meta().Implementation != "Bitcoin Core" {
		t.Fatalf("gaps %v meta %v", r.Gaps(), r.Meta())
	}
	if v, _ := Verify(rep.Output); !v.OK() {
		t.Fatalf("recovered segment fails verify: %v", v.Problems)
	}
}

func TestCompact(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 20000, 11, 1_700_000_000_000)
	path := writeSegment(t, dir, "c.seg.zst", evs, WriterOptions{Level: 1, FrameSize: 64 << 10})
	rep, err := Compact(path, CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.After >= rep.Before {
		t.Fatalf("compaction grew the file: %d -> %d", rep.Before, rep.After)
	}
	got, r := readAll(t, path)
	sameEvents(t, got, withNode(evs, "n1"))
	// Frame 0 (the header and the first MiB) and one large frame.
	if len(r.Index().Frames) != 2 || r.Meta().CompressionLevel != 19 {
		t.Fatalf("frames %d level %d", len(r.Index().Frames), r.Meta().CompressionLevel)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	// A .partial is refused.
	p := filepath.Join(dir, "x.seg.zst.partial")
	copyFile(t, path, p)
	os.WriteFile(p, mustRead(t, p)[:1000], 0o644)
	if _, err := Compact(p, CompactOptions{}); err == nil {
		t.Fatal("compact accepted an unfinished file")
	}
}

func mustRead(t testing.TB, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSummarizeAndExpand(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 1000, 12, 1_700_000_000_000)
	a := writeSegment(t, dir, "n1-20231114T221320Z-000001.seg.zst", evs[:500], WriterOptions{})
	b := writeSegment(t, dir, "n1-20231114T221320Z-000000.seg.zst", evs[500:], WriterOptions{})
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, ".n1-tmp.seg.zst.recovering.partial"), []byte("x"), 0o644)
	files, err := Expand([]string{dir, a})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0] != b || files[1] != a {
		t.Fatalf("expand: %v", files)
	}
	s, err := Summarize(a)
	if err != nil {
		t.Fatal(err)
	}
	if s.Events != 500 || !s.Complete || s.Status != "complete" || s.Format != "peertape-v1" || s.Node != "n1" || s.Frames != 1 {
		t.Fatalf("summary %+v", s)
	}
	if s.FirstEventTimeMs != evs[0].Time || s.LastEventTimeMs != evs[499].Time || s.Kinds["netmsg"] == 0 || s.Commands["inv"] == 0 {
		t.Fatalf("summary %+v", s)
	}
	if _, err := Expand([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("missing path accepted")
	}
}

// Regression: info and verify counted 0 events in peer-observer archives,
// complete or torn, because the scanned index never closed the archive's
// pseudo-frame.
func TestSummarizeAndVerifyUpstream(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 20000, 15, 1_775_552_833_000)
	data := zstdCompress(t, upstreamBytes(t, evs, 1_775_552_833))
	full := filepath.Join(dir, "mainnet.20260407-090713-133.bin.zst")
	cut := filepath.Join(dir, "cut.20260407-090713-133.bin.zst")
	os.WriteFile(full, data, 0o644)
	os.WriteFile(cut, data[:len(data)*2/3], 0o644)
	for _, tc := range []struct {
		path     string
		complete bool
	}{{full, true}, {cut, false}} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			got, _ := readAll(t, tc.path)
			if len(got) == 0 || (tc.complete && len(got) != len(evs)) {
				t.Fatalf("read %d events", len(got))
			}
			wantKinds := map[string]uint64{}
			for _, ev := range got {
				wantKinds[ev.Kind.String()]++
			}
			s, err := Summarize(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if s.Events != uint64(len(got)) || s.Complete != tc.complete || s.Format != "peer-observer" {
				t.Fatalf("summary: %d events complete=%v format %s, want %d complete=%v", s.Events, s.Complete, s.Format, len(got), tc.complete)
			}
			if s.FirstEventTimeMs != got[0].Time || s.LastEventTimeMs != got[len(got)-1].Time || s.BytesPerEvent == 0 {
				t.Fatalf("summary times %d..%d, bytes/event %v", s.FirstEventTimeMs, s.LastEventTimeMs, s.BytesPerEvent)
			}
			for k, n := range wantKinds {
				if s.Kinds[k] != n {
					t.Errorf("kind %s: %d, want %d", k, s.Kinds[k], n)
				}
			}
			if s.Frames != 1 {
				t.Errorf("frames %d, want 1", s.Frames)
			}
			v, err := Verify(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if v.Events != uint64(len(got)) || v.OK() != tc.complete {
				t.Fatalf("verify: %d events ok=%v problems %v", v.Events, v.OK(), v.Problems)
			}
		})
	}
}
