package edit

import (
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/sanitize/sanitizetest"
)

// writeChain writes evs of one node as consecutive segments of k events
// each, with small frames so whole frames can be copied.
func writeChain(t *testing.T, dir string, evs []event.Event, k int) []string {
	t.Helper()
	var paths []string
	for i := 0; i < len(evs); i += k {
		part := evs[i:min(i+k, len(evs))]
		p := filepath.Join(dir, format.SegmentName("n1", time.UnixMilli(part[0].Time), uint64(i/k)))
		w, err := format.Create(p, format.WriterOptions{FlushInterval: -1, FrameSize: 16 << 10, Meta: sanitizetest.Meta("n1", part[0].Time)})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range part {
			if err := w.Append(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// Frames whose every record is selected are copied verbatim, and the
// outputs hold exactly the events a record-by-record edit selects.
func TestWholeFramesCopied(t *testing.T) {
	evs := sanitizetest.Events(6000, 7, t0, sanitizetest.Options{Unknown: true})
	for i := range evs {
		evs[i].Node = "n1"
	}
	in := writeChain(t, t.TempDir(), evs, 2000)
	first, last := evs[0].Time, evs[len(evs)-1].Time
	from, to := first+(last-first)/5, first+(last-first)*4/5
	// Every frame holds every kind but ipc: excluding ipc keeps whole
	// frames; excluding log would keep none (other tests cover that path).
	kinds, _ := event.NewFilter(nil, []string{"ipc", "netmsg:sendtxrcncl"})

	var want []event.Event
	for _, ev := range evs {
		if ev.Time >= from && ev.Time < to && kinds.Match(ev) {
			want = append(want, ev)
		}
	}
	rep, err := Filter(context.Background(), in, Selection{From: event.AbsTime(from), To: event.AbsTime(to), Kinds: kinds}, Options{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.CopiedFrames == 0 {
		t.Fatal("filter copied no frame verbatim")
	}
	sameEvents(t, "filter", readOutputs(t, rep)["n1"], want)

	// Merge of one node's consecutive segments: concatenation, by frames.
	rep, err = Merge(context.Background(), in, Options{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.CopiedFrames == 0 {
		t.Fatal("merge of disjoint inputs copied no frame verbatim")
	}
	sameEvents(t, "merge", readOutputs(t, rep)["n1"], evs)
	// Given out of order, equal times at a boundary follow the order the
	// files were given (the stable merge): a stable sort of the inputs'
	// concatenation in that order.
	rep, err = Merge(context.Background(), []string{in[2], in[0], in[1]}, Options{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	scrambled := append(append(append([]event.Event(nil), evs[4000:]...), evs[:2000]...), evs[2000:4000]...)
	sort.SliceStable(scrambled, func(i, j int) bool { return scrambled[i].Time < scrambled[j].Time })
	sameEvents(t, "merge, inputs out of order", readOutputs(t, rep)["n1"], scrambled)

	// Split by time: frames inside a bucket are copied, boundaries hold.
	rep, err = Split(context.Background(), in, time.Second, 0, Options{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "split", readOutputs(t, rep)["n1"], evs)
	for _, o := range rep.Outputs {
		if o.FirstMs/1000 != o.LastMs/1000 && o.LastMs/1000 != o.FirstMs/1000+1 {
			t.Fatalf("%s spans %d..%d, more than its second", o.Path, o.FirstMs, o.LastMs)
		}
	}
}
