package synth

import (
	"context"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
)

// BenchmarkGenerate measures generation speed at the default rate: each
// iteration generates one minute of event time (about 78,000 events).
func BenchmarkGenerate(b *testing.B) {
	g, err := New(Options{Duration: time.Minute, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var events, bytes int64
	start := time.Now()
	for b.Loop() {
		err := g.Run(context.Background(), event.SinkFunc(func(ev event.Event) error {
			events++
			bytes += int64(len(ev.Raw))
			return nil
		}))
		if err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	b.SetBytes(bytes / int64(b.N))
	b.ReportMetric(float64(events)/el.Seconds(), "events/s")
	b.ReportMetric(float64(bytes)/float64(events), "bytes/event")
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}
