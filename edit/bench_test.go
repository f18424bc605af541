package edit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/internal/testevents"
	"github.com/peertape/peertape/sanitize/sanitizetest"
)

// Benchmarks run on $PEERTAPE_BENCH_ARCHIVE when set (make bench points
// it at a synth archive), otherwise on two generated nodes of 150,000
// events each. Each iteration edits the whole input, so -benchtime 1x (as
// make bench runs) measures a real stream.

var benchIn struct {
	once   sync.Once
	inputs []string
	events int
}

// benchTemp lists the directories the benchmarks generated, removed by
// TestMain: a benchmark has no t.TempDir that outlives one iteration, and
// each run used to leave ~60 MB in /tmp.
var benchTemp []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range benchTemp {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func benchInputs(b *testing.B) ([]string, int) {
	benchIn.once.Do(func() {
		if dir := os.Getenv("PEERTAPE_BENCH_ARCHIVE"); dir != "" {
			files, err := format.Expand([]string{dir})
			if err != nil {
				b.Fatal(err)
			}
			for _, f := range files {
				s, err := format.Summarize(f)
				if err != nil {
					b.Fatal(err)
				}
				benchIn.events += int(s.Events)
			}
			benchIn.inputs = []string{dir}
			return
		}
		dir, err := os.MkdirTemp("", "peertape-edit-bench")
		if err != nil {
			b.Fatal(err)
		}
		benchTemp = append(benchTemp, dir)
		for i, node := range []string{"n1", "n2"} {
			evs := testevents.Mixed(150_000, uint64(i+1), t0)
			if err := sanitizetest.WriteSegment(filepath.Join(dir, node+".seg.zst"), sanitizetest.Meta(node, t0), evs); err != nil {
				b.Fatal(err)
			}
			benchIn.events += len(evs)
		}
		benchIn.inputs = []string{dir}
	})
	return benchIn.inputs, benchIn.events
}

// benchEdit reports events/s as input events gone through per second
// (frames the index rules out count too: skipping them is the point) and
// written/s as events written per second.
func benchEdit(b *testing.B, run func(out string) (*Report, error)) {
	_, n := benchInputs(b)
	b.ReportAllocs()
	var read, written uint64
	cpu0 := cpuTime()
	for b.Loop() {
		out := filepath.Join(b.TempDir(), "out")
		rep, err := run(out)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Written == 0 {
			b.Fatal("wrote nothing")
		}
		read += uint64(n)
		written += rep.Written
	}
	b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(written)/b.Elapsed().Seconds(), "written/s")
	// CPU time does not count the time other processes held the core:
	// on a busy machine it shows what one core of our own achieves.
	b.ReportMetric(float64(read)/(cpuTime()-cpu0).Seconds(), "events/cpu-s")
}

// cpuTime returns the user and system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFilterCopy copies every event (the worst case: everything is
// recompressed).
func BenchmarkFilterCopy(b *testing.B) {
	in, _ := benchInputs(b)
	benchEdit(b, func(out string) (*Report, error) {
		return Filter(context.Background(), in, Selection{}, Options{Out: out})
	})
}

// BenchmarkFilterKinds keeps the P2P messages of a middle stretch.
func BenchmarkFilterKinds(b *testing.B) {
	in, _ := benchInputs(b)
	only, _ := event.NewFilter([]string{"netmsg:ping", "netconn"}, nil)
	from, _ := event.ParseTimeSpec("+1m")
	benchEdit(b, func(out string) (*Report, error) {
		return Filter(context.Background(), in, Selection{From: from, Kinds: only}, Options{Out: out})
	})
}

// BenchmarkFilterPeer keeps the events about one peer id.
func BenchmarkFilterPeer(b *testing.B) {
	in, _ := benchInputs(b)
	p, err := ParsePeers([]string{benchPeer(b, in)})
	if err != nil {
		b.Fatal(err)
	}
	benchEdit(b, func(out string) (*Report, error) {
		return Filter(context.Background(), in, Selection{Peers: p}, Options{Out: out})
	})
}

// benchPeer is the id of the first inbound peer in the inputs, so the
// peer filter has something to keep whatever archive the benchmark runs on
// (a fixed id is absent from most archives: the filter then wrote nothing).
func benchPeer(b *testing.B, in []string) string {
	files, err := format.Expand(in)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range files {
		r, err := format.Open(f, format.ReadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for r.Next() {
			ev := r.Event()
			if ev.Kind != event.NetConn {
				continue
			}
			m, err := ev.Decode()
			if err != nil {
				continue
			}
			if c := m.GetEbpfExtractor().GetConnection().GetInbound().GetConn(); c != nil {
				r.Close()
				return fmt.Sprint(c.GetPeerId())
			}
		}
		r.Close()
	}
	b.Fatal("no inbound connection in the benchmark inputs")
	return ""
}

// BenchmarkMerge merges every input by event time.
func BenchmarkMerge(b *testing.B) {
	in, _ := benchInputs(b)
	benchEdit(b, func(out string) (*Report, error) {
		return Merge(context.Background(), in, Options{Out: out})
	})
}

// BenchmarkSplit splits every input into 1-minute segments.
func BenchmarkSplit(b *testing.B) {
	in, _ := benchInputs(b)
	benchEdit(b, func(out string) (*Report, error) {
		return Split(context.Background(), in, 60e9, 0, Options{Out: out})
	})
}

var benchOverlap struct {
	once   sync.Once
	inputs []string
}

// BenchmarkMergeOverlap merges two recordings of one node that overlap in
// time (two recorders of one node): the records must be interleaved, so
// no frame can be copied and every event is recompressed. make bench's
// archive is one node's consecutive segments, which BenchmarkMerge
// concatenates frame by frame; this is the other end.
func BenchmarkMergeOverlap(b *testing.B) {
	benchOverlap.once.Do(func() {
		dir, err := os.MkdirTemp("", "peertape-edit-bench-overlap")
		if err != nil {
			b.Fatal(err)
		}
		benchTemp = append(benchTemp, dir)
		for i := range 2 {
			evs := testevents.Mixed(150_000, uint64(i+1), t0)
			p := filepath.Join(dir, fmt.Sprintf("rec%d.seg.zst", i))
			if err := sanitizetest.WriteSegment(p, sanitizetest.Meta("n1", t0), evs); err != nil {
				b.Fatal(err)
			}
			benchOverlap.inputs = append(benchOverlap.inputs, p)
		}
	})
	in := benchOverlap.inputs
	n := 300_000
	b.ReportAllocs()
	var written uint64
	cpu0 := cpuTime()
	for b.Loop() {
		rep, err := Merge(context.Background(), in, Options{Out: filepath.Join(b.TempDir(), "out")})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Written != uint64(n) || rep.CopiedFrames != 0 {
			b.Fatalf("wrote %d events, copied %d frames: want %d and 0", rep.Written, rep.CopiedFrames, n)
		}
		written += rep.Written
	}
	b.ReportMetric(float64(written)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(written)/(cpuTime()-cpu0).Seconds(), "events/cpu-s")
}
