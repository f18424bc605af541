package record

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/proto/pb"
)

// testLogger writes the recorder's logs to the test log, so a failing test
// shows what the recorder said.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newTestRecorder starts a recorder on a fresh directory (unless o.Dir is
// set) with its own registry, closed at cleanup.
func newTestRecorder(t testing.TB, o Options) (*Recorder, *prometheus.Registry) {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Node == "" {
		o.Node = "n1"
	}
	reg := prometheus.NewRegistry()
	if o.Registerer == nil {
		o.Registerer = reg
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	if o.MinFree == 0 {
		o.MinFree = -1 // tests do not depend on the free space of /tmp
	}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, reg
}

// readDir returns every event of every segment in dir, in file order.
func readDir(t testing.TB, dir string) []event.Event {
	t.Helper()
	files, err := format.Expand([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Event
	for _, f := range files {
		out = append(out, readFile(t, f)...)
	}
	return out
}

func readFile(t testing.TB, path string) []event.Event {
	t.Helper()
	r, err := format.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []event.Event
	for r.Next() {
		out = append(out, r.Event())
	}
	if err := r.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

// segments lists the files in dir that end in .seg.zst (finished ones).
func segments(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg.zst"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func partials(t testing.TB, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+format.PartialSuffix))
	return m
}

func verifyAll(t testing.TB, dir string) {
	t.Helper()
	for _, f := range segments(t, dir) {
		rep, err := format.Verify(f)
		if err != nil {
			t.Fatalf("verify %s: %v", f, err)
		}
		if !rep.OK() {
			t.Fatalf("verify %s: %v", f, rep.Problems)
		}
	}
}

// sameEvents fails unless got equals want byte for byte, in order.
func sameEvents(t testing.TB, got, want []event.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("recorded %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Raw, want[i].Raw) {
			t.Fatalf("event %d differs\n got %x\nwant %x", i, got[i].Raw, want[i].Raw)
		}
	}
}

// isPrefix fails unless got is a prefix of want, byte for byte.
func isPrefix(t testing.TB, got, want []event.Event) {
	t.Helper()
	if len(got) > len(want) {
		t.Fatalf("recorded %d events, only %d were sent", len(got), len(want))
	}
	sameEvents(t, got, want[:len(got)])
}

// waitFor polls cond until it holds or 15 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metric returns the value of a counter or gauge (summed over label sets
// matching labels) from reg.
func metric(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, l := range m.Label {
			if l.GetName() == kv[i] && l.GetValue() == kv[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// clock is a settable clock for rotation and retention tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// sliceSource feeds a fixed list of events, then ends.
type sliceSource struct {
	evs   []event.Event
	delay time.Duration // between events, to interleave with other sources
}

func (s sliceSource) Run(ctx context.Context, sink event.Sink) error {
	for _, ev := range s.evs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := sink.Consume(ev); err != nil {
			return err
		}
		if s.delay > 0 {
			time.Sleep(s.delay)
		}
	}
	return nil
}

// bulkyEvents returns n tx events with incompressible raw bytes of size
// bytes each, to fill disks quickly.
func bulkyEvents(t testing.TB, n, size int, seed uint64) []event.Event {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]event.Event, n)
	for i := range out {
		raw := make([]byte, size)
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		hash := bytes.Repeat([]byte{byte(i)}, 32)
		msg := &pb.Event{Timestamp: proto.Uint64(uint64(1_700_000_000_000 + i)), PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: &pb.MessageEvent{
			Meta: &pb.Metadata{PeerId: proto.Uint64(1), Addr: proto.String("10.0.0.1:8333"), ConnType: pb.ConnType_Inbound.Enum(), Command: proto.String("tx"), Inbound: proto.Bool(true), Size: proto.Uint64(uint64(size))},
			Msg:  &pb.MessageEvent_Tx{Tx: &pb.Tx{Tx: &pb.Transaction{Txid: hash, Wtxid: hash, Raw: raw}}},
		}}}}}
		ev, err := event.New(msg)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = ev
	}
	return out
}

// unknownEvents are events this build cannot fully classify: an unknown
// oneof arm, and a known event with an unknown field appended. Both must
// be recorded byte for byte.
func unknownEvents(t testing.TB, base event.Event) []event.Event {
	t.Helper()
	var out []event.Event
	for _, raw := range [][]byte{
		{0x50, 0xb8, 0x17, 0x4a, 0x02, 0x08, 0x01},                             // timestamp 3000, arm 9 {08 01}
		append(append([]byte{}, base.Raw...), 0xfa, 0x06, 0x03, 'n', 'e', 'w'), // field 111 "new"
	} {
		ev, err := event.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func dump(t testing.TB, dir string) string {
	ents, _ := os.ReadDir(dir)
	var b strings.Builder
	for _, e := range ents {
		info, _ := e.Info()
		fmt.Fprintf(&b, "%s %d\n", e.Name(), info.Size())
	}
	return b.String()
}

var _ = io.Discard
