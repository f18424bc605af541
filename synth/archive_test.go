package synth

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
)

func readAll(t *testing.T, files []string) ([]event.Event, []*format.Reader) {
	t.Helper()
	var evs []event.Event
	var rs []*format.Reader
	for _, f := range files {
		r, err := format.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			evs = append(evs, r.Event())
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		if !r.Complete() || len(r.Problems()) != 0 {
			t.Fatalf("%s: complete %v, problems %v", f, r.Complete(), r.Problems())
		}
		rs = append(rs, r)
		r.Close()
	}
	return evs, rs
}

func TestWriteArchive(t *testing.T) {
	o := Options{Node: "arch", Duration: 150 * time.Second, Rate: 400, Seed: 5,
		Anomalies: []Anomaly{{Kind: RejectSpike, Offset: 70 * time.Second, Duration: 20 * time.Second}}}
	dir := t.TempDir()
	var progress []time.Duration
	rep, err := WriteArchive(context.Background(), dir, o, ArchiveOptions{SegmentDuration: time.Minute, Recorder: "test 1",
		Progress: func(d time.Duration, n uint64) { progress = append(progress, d) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Files) != 3 {
		t.Fatalf("files %v, want one per minute", rep.Files)
	}
	for i, want := range []string{"arch-20260302T000000Z-000000.seg.zst", "arch-20260302T000100Z-000001.seg.zst", "arch-20260302T000200Z-000002.seg.zst"} {
		if filepath.Base(rep.Files[i]) != want {
			t.Fatalf("file %d is %s, want %s", i, rep.Files[i], want)
		}
	}
	got, rs := readAll(t, rep.Files)
	want, _ := generate(t, o)
	if digest(got) != digest(want) || uint64(len(got)) != rep.Events || rep.Events != rep.Stats.Events {
		t.Fatalf("the archive holds %d events (report %d), the generator gives %d; same bytes: %v", len(got), rep.Events, len(want), digest(got) == digest(want))
	}
	for i, r := range rs {
		m := r.Meta()
		if m.GetImplementation() != "synthetic" || m.GetNode() != "arch" || m.GetRecorder() != "test 1" || m.GetSequence() != uint64(i) ||
			m.GetSynthetic().GetSeed() != 5 || m.GetSynthetic().GetRate() != 400 || m.GetSynthetic().GetDurationMs() != 150_000 ||
			len(m.GetSynthetic().GetAnomalies()) != 1 || m.GetCreatedMs() != DefaultStart.UnixMilli()+int64(i)*60_000 {
			t.Fatalf("segment %d meta %v", i, m)
		}
		if i > 0 && m.GetPrevious() != filepath.Base(rep.Files[i-1]) {
			t.Fatalf("segment %d previous %q", i, m.GetPrevious())
		}
		idx := r.Index()
		if idx.GetMinTimeMs() < m.GetCreatedMs() || idx.GetMaxTimeMs() >= m.GetCreatedMs()+60_000 {
			t.Fatalf("segment %d holds %d..%d", i, idx.GetMinTimeMs(), idx.GetMaxTimeMs())
		}
	}
	if len(progress) == 0 || progress[len(progress)-1] > o.Duration {
		t.Fatalf("progress %v", progress)
	}
	// Same options, same files, byte for byte.
	dir2 := t.TempDir()
	rep2, err := WriteArchive(context.Background(), dir2, o, ArchiveOptions{SegmentDuration: time.Minute, Recorder: "test 1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rep.Files {
		a, _ := os.ReadFile(rep.Files[i])
		b, _ := os.ReadFile(rep2.Files[i])
		if !bytes.Equal(a, b) {
			t.Fatalf("%s differs between two runs", filepath.Base(rep.Files[i]))
		}
	}
	// Existing files are not overwritten.
	if _, err := WriteArchive(context.Background(), dir, o, ArchiveOptions{SegmentDuration: time.Minute}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("writing over an archive: %v", err)
	}
}

func TestWriteArchiveCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	rep, err := WriteArchive(ctx, dir, Options{Duration: time.Hour, Seed: 1}, ArchiveOptions{
		Progress: func(d time.Duration, n uint64) {
			if n >= 50_000 {
				cancel()
			}
		}})
	if err == nil || rep == nil || rep.Events < 50_000 || len(rep.Files) != 1 {
		t.Fatalf("cancelled: %v, report %+v", err, rep)
	}
	evs, _ := readAll(t, rep.Files)
	if uint64(len(evs)) != rep.Events {
		t.Fatalf("%d events readable, %d written", len(evs), rep.Events)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*"+format.PartialSuffix)); len(m) != 0 {
		t.Fatalf("left %v", m)
	}
}
