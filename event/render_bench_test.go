package event_test

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
	"github.com/peertape/peertape/synth"
)

// The rendering benchmarks guard `peertape cat`'s per-event cost (issue 3:
// cat with full decode ≥ 500,000 events/s). They run on a realistic mix:
// five minutes of a synthetic mainnet node (about 400,000 events, every
// kind in its real proportion), decoded once up front for the render-only
// figures.

var renderData struct {
	once sync.Once
	evs  []event.Event
	msgs []*pb.Event
	raw  int64
	err  error
}

func renderEvents(b testing.TB) ([]event.Event, []*pb.Event, int64) {
	renderData.once.Do(func() {
		g, err := synth.New(synth.Options{Node: "bench", Duration: 5 * time.Minute, Seed: 1})
		if err != nil {
			renderData.err = err
			return
		}
		renderData.err = g.Run(context.Background(), event.SinkFunc(func(ev event.Event) error {
			ev.Raw = append([]byte(nil), ev.Raw...)
			msg, err := ev.Decode()
			if err != nil {
				return err
			}
			renderData.evs = append(renderData.evs, ev)
			renderData.msgs = append(renderData.msgs, msg)
			renderData.raw += int64(len(ev.Raw))
			return nil
		}))
	})
	if renderData.err != nil {
		b.Fatal(renderData.err)
	}
	return renderData.evs, renderData.msgs, renderData.raw
}

// benchRender runs one pass over the mix per iteration and reports
// events/s; decode includes DecodeInto into a reused message, as cat does.
func benchRender(b *testing.B, decode bool, render func([]byte, event.Event, *pb.Event) ([]byte, error)) {
	evs, msgs, raw := renderEvents(b)
	b.SetBytes(raw)
	b.ReportAllocs()
	var buf []byte
	msg := &pb.Event{}
	out := 0
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, ev := range evs {
			m := msgs[j]
			if decode {
				if err := ev.DecodeInto(msg); err != nil {
					b.Fatal(err)
				}
				m = msg
			}
			var err error
			if buf, err = render(buf[:0], ev, m); err != nil {
				b.Fatal(err)
			}
			out += len(buf)
		}
	}
	n := float64(b.N) * float64(len(evs))
	b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
	// Events per CPU second of the process: what other processes on a
	// shared box do not distort (run with GOMAXPROCS=1 for one core).
	b.ReportMetric(n/(cpuTime(b)-cpu0).Seconds(), "events/cpu-s")
	b.ReportMetric(float64(out)/n, "out-bytes/event")
}

func BenchmarkAppendTextLine(b *testing.B) { benchRender(b, false, event.AppendTextLine) }
func BenchmarkAppendJSONLine(b *testing.B) { benchRender(b, false, event.AppendJSONLine) }

// BenchmarkDecodeText is cat's per-event work after decompression:
// protobuf decode into a reused message plus the text line.
func BenchmarkDecodeText(b *testing.B) { benchRender(b, true, event.AppendTextLine) }
func BenchmarkDecodeJSON(b *testing.B) { benchRender(b, true, event.AppendJSONLine) }

// BenchmarkWireText and BenchmarkWireJSON are what cat does now: render
// straight from the wire (msg == nil), no decode into Go structs.
func BenchmarkWireText(b *testing.B) {
	benchRender(b, false, func(dst []byte, ev event.Event, _ *pb.Event) ([]byte, error) {
		return event.AppendTextLine(dst, ev, nil)
	})
}

func BenchmarkWireJSON(b *testing.B) {
	benchRender(b, false, func(dst []byte, ev event.Event, _ *pb.Event) ([]byte, error) {
		return event.AppendJSONLine(dst, ev, nil)
	})
}

// BenchmarkDecodeOnly is the protobuf share of BenchmarkDecodeText.
func BenchmarkDecodeOnly(b *testing.B) {
	benchRender(b, true, func(dst []byte, _ event.Event, _ *pb.Event) ([]byte, error) { return dst, nil })
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
