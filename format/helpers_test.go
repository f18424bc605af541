package format

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/internal/testevents"
	"github.com/peertape/peertape/proto/pb"
)

// testEvents returns n varied events of every kind with increasing times.
func testEvents(t testing.TB, n int, seed uint64, start int64) []event.Event {
	t.Helper()
	return testevents.Mixed(n, seed, start)
}

// writeSegment writes evs into dir/name and returns the path.
func writeSegment(t testing.TB, dir, name string, evs []event.Event, o WriterOptions) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if o.Meta == nil {
		o.Meta = &pb.SegmentMeta{Node: "n1", CreatedMs: 1_700_000_000_000}
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = -1 // tests flush explicitly
	}
	w, err := Create(path, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if err := w.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// readAll reads every event of path with opts.
func readAll(t testing.TB, path string, opts ...ReadOptions) ([]event.Event, *Reader) {
	t.Helper()
	r, err := Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for r.Next() {
		evs = append(evs, r.Event())
	}
	if err := r.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	r.Close()
	return evs, r
}

func sameEvents(t testing.TB, got, want []event.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Raw, want[i].Raw) {
			t.Fatalf("event %d differs", i)
		}
		if got[i].Time != want[i].Time || got[i].Kind != want[i].Kind || got[i].Type != want[i].Type {
			t.Fatalf("event %d: got %d/%s/%s, want %d/%s/%s", i, got[i].Time, got[i].Kind, got[i].Type, want[i].Time, want[i].Kind, want[i].Type)
		}
	}
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
