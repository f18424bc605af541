package record

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/internal/testenv"
	"github.com/peertape/peertape/internal/testevents"
	"github.com/peertape/peertape/natsbus"
)

// benchEvents returns up to n realistic events: from the synthetic archive
// `make bench` generates (PEERTAPE_BENCH_ARCHIVE), else testevents.Mixed.
func benchEvents(b *testing.B, n int) []event.Event {
	b.Helper()
	if dir := os.Getenv("PEERTAPE_BENCH_ARCHIVE"); dir != "" {
		files, err := format.Expand([]string{dir})
		if err == nil {
			var out []event.Event
			for _, f := range files {
				r, err := format.Open(f)
				if err != nil {
					b.Fatal(err)
				}
				for len(out) < n && r.Next() {
					out = append(out, r.Event())
				}
				r.Close()
				if len(out) >= n {
					break
				}
			}
			if len(out) > 0 {
				return out
			}
		}
	}
	return testevents.Mixed(n, 1, 1_700_000_000_000)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// BenchmarkRecorderConsume measures the recorder's own cost per event
// (filter, write, compress at the live level, rotate checks), without a
// transport: the ceiling of what any source can push into it. One
// iteration records 500,000 events into a fresh directory, so
// `-benchtime 1x` (make bench) is a real measurement.
func BenchmarkRecorderConsume(b *testing.B) {
	const batch = 500_000
	evs := benchEvents(b, 200_000)
	var raw, disk int64
	var el time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		r, err := New(Options{Dir: dir, Node: "bench", MinFree: -1, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for j := 0; j < batch; j++ {
			ev := evs[j%len(evs)]
			raw += int64(len(ev.Raw))
			if err := r.Consume(ev); err != nil {
				b.Fatal(err)
			}
		}
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
		el += time.Since(start)
		b.StopTimer()
		m, _ := filepath.Glob(filepath.Join(dir, "*.seg.zst"))
		for _, f := range m {
			st, _ := os.Stat(f)
			disk += st.Size()
		}
	}
	n := float64(b.N) * batch
	b.SetBytes(raw / int64(b.N))
	b.ReportMetric(n/el.Seconds(), "events/s")
	b.ReportMetric(float64(disk)/n, "bytes/event")
}

// BenchmarkPublishToDurable measures the end-to-end latency from a NATS
// publish to the event being durable, at peer-observer's demo-node rate
// (1,300 events/s) and the default 1 s flush interval: "flushed" means
// handed to the kernel (survives kill -9), "fsynced" on stable storage
// (survives power loss) under the fsync policy of the sub-benchmark.
// Each iteration runs 30 s of publishing (8 s with -short).
func BenchmarkPublishToDurable(b *testing.B) {
	for _, policy := range []format.FsyncPolicy{format.FsyncInterval, format.FsyncAlways} {
		b.Run("fsync="+policy.String(), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchLatency(b, policy)
			}
		})
	}
}

func benchLatency(b *testing.B, policy format.FsyncPolicy) {
	const rate = 1300
	dur := 30 * time.Second
	if testing.Short() {
		dur = 8 * time.Second
	}
	evs := benchEvents(b, int(rate*dur.Seconds())+rate)
	srv := testenv.NATS(b)
	r, err := New(Options{Dir: b.TempDir(), Node: "bench", MinFree: -1, Fsync: policy, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	sub := natsbus.NewSubscriber(srv.ClientURL(), natsbus.SubscriberOptions{Node: "bench", Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, sub) }()
	<-sub.Ready()
	pub := natsbus.NewPublisher(testenv.NATSConn(b, srv))

	n := int(rate * dur.Seconds())
	sent := make([]time.Time, n)
	var published atomic.Int64
	flushed := make([]time.Duration, 0, n)
	synced := make([]time.Duration, 0, n)
	// Poll the recorder's durability counters every millisecond: event i
	// (in arrival order, which is publish order on one subscription) is
	// durable once the counter passes i.
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for len(synced) < n {
			now := <-t.C
			st := r.Stats()
			p := int(published.Load())
			for len(flushed) < p && uint64(len(flushed)) < st.Durable {
				flushed = append(flushed, now.Sub(sent[len(flushed)]))
			}
			for len(synced) < p && uint64(len(synced)) < st.Synced {
				synced = append(synced, now.Sub(sent[len(synced)]))
			}
			if ctx.Err() != nil {
				return
			}
		}
	}()
	b.ResetTimer()
	start := time.Now()
	const batch = 13 // 100 batches a second
	for i := 0; i < n; i += batch {
		due := start.Add(time.Duration(i) * time.Second / rate)
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // pacing the publisher at the target rate
		}
		for j := i; j < min(i+batch, n); j++ {
			sent[j] = time.Now()
			pub.Consume(evs[j%len(evs)])
			published.Store(int64(j + 1))
		}
	}
	pub.Flush(context.Background())
	// Wait for the last events to become durable (at most an fsync
	// interval plus a flush).
	deadline := time.Now().Add(format.DefaultFsyncInterval + 5*time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-pollDone:
			deadline = time.Now()
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	<-done
	<-pollDone
	b.StopTimer()
	if len(flushed) < n {
		b.Fatalf("only %d of %d events became durable", len(flushed), n)
	}
	q := func(d []time.Duration, p float64) float64 {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(flushed, 0.5), "flushed-p50-ms")
	b.ReportMetric(q(flushed, 0.99), "flushed-p99-ms")
	if len(synced) > 0 {
		b.ReportMetric(q(synced, 0.5), "fsynced-p50-ms")
		b.ReportMetric(q(synced, 0.99), "fsynced-p99-ms")
	}
	b.ReportMetric(float64(n)/dur.Seconds(), "events/s")
}
