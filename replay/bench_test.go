package replay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/internal/testevents"
	"github.com/peertape/peertape/natsbus"
	"github.com/peertape/peertape/proto/pb"
)

// Benchmarks replay the segments in $PEERTAPE_BENCH_ARCHIVE when set (make
// bench points it at a multi-million-event synth archive of one node),
// otherwise a generated archive of 1,000,000 mixed events. Each iteration
// replays the whole archive, so `-benchtime 1x` is a real measurement.

var benchArchive struct {
	once  sync.Once
	files []string
	err   error
}

func benchFiles(b *testing.B) []string {
	benchArchive.once.Do(func() {
		if dir := os.Getenv("PEERTAPE_BENCH_ARCHIVE"); dir != "" {
			benchArchive.files, benchArchive.err = format.Expand([]string{dir})
			return
		}
		// Generated once into a fixed place (same seed, same content) and
		// reused by later runs.
		dir := filepath.Join(os.TempDir(), "peertape-replay-bench-1M")
		if files, err := format.Expand([]string{dir}); err == nil && len(files) == 4 {
			benchArchive.files = files
			return
		}
		tmp := dir + ".tmp"
		os.RemoveAll(tmp)
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			benchArchive.err = err
			return
		}
		evs := testevents.Mixed(1_000_000, 1, t0)
		for part := 0; part < 4; part++ {
			chunk := evs[part*len(evs)/4 : (part+1)*len(evs)/4]
			p := filepath.Join(tmp, fmt.Sprintf("bench-%d.seg.zst", part))
			w, err := format.Create(p, format.WriterOptions{FlushInterval: -1, EventTimeFlush: format.DefaultFlushInterval,
				Meta: &pb.SegmentMeta{Node: "bench", CreatedMs: t0}})
			if err != nil {
				benchArchive.err = err
				return
			}
			for _, ev := range chunk {
				w.Append(ev)
			}
			if err := w.Close(); err != nil {
				benchArchive.err = err
				return
			}
		}
		os.RemoveAll(dir)
		if benchArchive.err = os.Rename(tmp, dir); benchArchive.err == nil {
			benchArchive.files, benchArchive.err = format.Expand([]string{dir})
		}
	})
	if benchArchive.err != nil {
		b.Fatal(benchArchive.err)
	}
	return benchArchive.files
}

// benchRun replays files into sink once per iteration at the given speed
// and reports events/s and MB/s of raw event bytes.
func benchRun(b *testing.B, files []string, sink func() (event.Sink, func()), opts ...Option) Stats {
	b.ReportAllocs()
	b.ResetTimer()
	var st Stats
	var events, bytes uint64
	var took time.Duration
	for i := 0; i < b.N; i++ {
		s, done := sink()
		r, err := Open(files, append([]Option{Speed(Max)}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := r.Run(context.Background(), s); err != nil {
			b.Fatal(err)
		}
		if done != nil {
			done()
		}
		took += time.Since(start)
		r.Close()
		st = r.Stats()
		events += st.Events
		bytes += st.Bytes
	}
	b.ReportMetric(float64(events)/took.Seconds(), "events/s")
	b.ReportMetric(float64(bytes)/1e6/took.Seconds(), "MB/s")
	return st
}

// BenchmarkReplayNull: --speed max into a sink that drops everything: the
// cost of reading, merging and handing out owned events.
func BenchmarkReplayNull(b *testing.B) {
	files := benchFiles(b)
	benchRun(b, files, func() (event.Sink, func()) { return Discard, nil })
}

// BenchmarkReplayMerge8: eight nodes replayed together (the same archive
// under eight names), so the heap has work on every event.
func BenchmarkReplayMerge8(b *testing.B) {
	files := benchFiles(b)
	var all []string
	for i := 0; i < 8; i++ {
		all = append(all, files...)
	}
	// Expand drops duplicate paths: link the files under other names.
	dir := b.TempDir()
	for i, f := range all {
		p := filepath.Join(dir, fmt.Sprintf("n%d-%04d.seg.zst", i%8, i))
		abs, _ := filepath.Abs(f)
		if err := os.Symlink(abs, p); err != nil {
			b.Fatal(err)
		}
		all[i] = p
	}
	st := benchRun(b, all, func() (event.Sink, func()) { return Discard, nil })
	b.ReportMetric(float64(st.MaxOpen), "max-open-files")
}

// BenchmarkReplayNATS: --speed max into an embedded NATS server with no
// subscriber: what the replayer and the client can publish.
func BenchmarkReplayNATS(b *testing.B) {
	benchNATS(b, false)
}

// BenchmarkReplayNATSSubscribed: the same with one subscriber in the same
// process receiving every message; the run ends when it has them all.
func BenchmarkReplayNATSSubscribed(b *testing.B) {
	benchNATS(b, true)
}

func benchNATS(b *testing.B, subscribe bool) {
	files := benchFiles(b)
	srv, err := natsbus.StartServer(natsbus.ServerOptions{Port: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	var got atomic.Uint64
	if subscribe {
		sc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		defer sc.Close()
		sub, err := sc.Subscribe("*", func(*nats.Msg) { got.Add(1) })
		if err != nil {
			b.Fatal(err)
		}
		sub.SetPendingLimits(-1, -1)
		sc.Flush()
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.ReconnectBufSize(-1))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	var want uint64
	st := benchRun(b, files, func() (event.Sink, func()) {
		pub := natsbus.NewPublisher(nc)
		return pub, func() {
			if err := pub.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			p, _, _ := pub.Stats()
			want += p
			for subscribe && got.Load() < want {
				time.Sleep(time.Millisecond)
			}
		}
	})
	_ = st
}

// BenchmarkPacing replays a window of the archive on the real clock at
// speed 1 (5 s of event time) and 100 (500 s of event time, 5 s of wall
// time) into a null sink, and reports the lag of actual behind scheduled
// send times, and how far the wall time strays from span/speed.
func BenchmarkPacing(b *testing.B) {
	files := benchFiles(b)
	for _, tc := range []struct {
		speed  float64
		window string
	}{{1, "+5s"}, {100, "+500s"}} {
		b.Run(fmt.Sprintf("speed%v", tc.speed), func(b *testing.B) {
			to, err := event.ParseTimeSpec(tc.window)
			if err != nil {
				b.Fatal(err)
			}
			var st Stats
			for i := 0; i < b.N; i++ {
				r, err := Open(files, Speed(tc.speed), To(to))
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Run(context.Background(), Discard); err != nil {
					b.Fatal(err)
				}
				r.Close()
				st = r.Stats()
			}
			us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
			b.ReportMetric(float64(st.Events)/st.Wall.Seconds(), "events/s")
			b.ReportMetric(us(st.LagP50), "lag-p50-µs")
			b.ReportMetric(us(st.LagP99), "lag-p99-µs")
			b.ReportMetric(us(st.LagMax), "lag-max-µs")
			want := float64(st.EventTime-st.Skipped) / tc.speed
			b.ReportMetric(100*(float64(st.SendSpan)-want)/want, "span-error-%")
		})
	}
}
