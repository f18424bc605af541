package replay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/proto/pb"
)

const t0 = int64(1_775_552_833_000) // 2026-04-07T09:07:13Z

// tagged returns events at the given times, each an RPC uptime event whose
// value is tag+i, so tests can tell events apart after a merge.
func tagged(t testing.TB, tag int, times ...int64) []event.Event {
	t.Helper()
	evs := make([]event.Event, len(times))
	for i, ts := range times {
		ev, err := event.New(&pb.Event{Timestamp: proto.Uint64(uint64(ts)),
			PeerObserverEvent: &pb.Event_RpcExtractor{RpcExtractor: &pb.Rpc{RpcEvent: &pb.Rpc_Uptime{Uptime: uint32(tag + i)}}}})
		if err != nil {
			t.Fatal(err)
		}
		evs[i] = ev
	}
	return evs
}

// tagOf returns the uptime value tagged put into ev.
func tagOf(t testing.TB, ev event.Event) int {
	t.Helper()
	m, err := ev.Decode()
	if err != nil {
		t.Fatal(err)
	}
	return int(m.GetRpcExtractor().GetUptime())
}

// everyKind returns n events cycling through one event of every kind
// peer-observer publishes (and one of a kind this build does not know),
// one millisecond apart from start.
func everyKind(t testing.TB, n int, start int64) []event.Event {
	t.Helper()
	hash := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	conn := &pb.Connection{PeerId: proto.Uint64(3), Addr: proto.String("192.0.2.1:8333"), ConnType: pb.ConnType_Inbound.Enum(), Network: proto.Uint32(1)}
	ebpf := func(e *pb.Ebpf) *pb.Event {
		return &pb.Event{PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: e}}
	}
	builders := []func(i int) *pb.Event{
		func(i int) *pb.Event {
			return ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: &pb.MessageEvent{
				Meta: &pb.Metadata{PeerId: proto.Uint64(1), Addr: proto.String("198.51.100.1:8333"), ConnType: pb.ConnType_Inbound.Enum(),
					Command: proto.String("ping"), Inbound: proto.Bool(true), Size: proto.Uint64(8)},
				Msg: &pb.MessageEvent_Ping{Ping: &pb.Ping{Value: proto.Uint64(uint64(i))}}}}})
		},
		func(i int) *pb.Event {
			return ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Inbound{
				Inbound: &pb.InboundConnection{Conn: conn, ExistingConnections: proto.Uint64(uint64(i))}}}}})
		},
		func(i int) *pb.Event {
			return ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Mempool{Mempool: &pb.MempoolEvent{Event: &pb.MempoolEvent_Added{
				Added: &pb.Added{Txid: hash(byte(i)), Vsize: proto.Int32(141), Fee: proto.Int64(int64(i))}}}}})
		},
		func(i int) *pb.Event {
			return ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Validation{Validation: &pb.ValidationEvent{Event: &pb.ValidationEvent_BlockConnected{
				BlockConnected: &pb.BlockConnected{Hash: hash(7), Height: proto.Int32(int32(i)), Transactions: proto.Int64(10), Inputs: proto.Int32(20),
					Sigops: proto.Int64(30), ConnectionTime: proto.Uint64(1000)}}}}})
		},
		func(i int) *pb.Event {
			return ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Addrman{Addrman: &pb.AddrmanEvent{Event: &pb.AddrmanEvent_New{New: &pb.InsertNew{
				Inserted: proto.Bool(true), Bucket: proto.Int32(int32(i)), BucketPos: proto.Int32(2), Addr: proto.String("198.51.100.9:8333"),
				Addr_AS: proto.Uint32(64496), Source: proto.String("198.51.100.1:8333"), Source_AS: proto.Uint32(64497)}}}}})
		},
		func(i int) *pb.Event {
			return &pb.Event{PeerObserverEvent: &pb.Event_RpcExtractor{RpcExtractor: &pb.Rpc{RpcEvent: &pb.Rpc_Uptime{Uptime: uint32(i)}}}}
		},
		func(i int) *pb.Event {
			return &pb.Event{PeerObserverEvent: &pb.Event_P2PExtractor{P2PExtractor: &pb.P2P{P2PEvent: &pb.P2P_PingDuration{
				PingDuration: &pb.PingDuration{Duration: proto.Uint64(uint64(i) * 1000)}}}}}
		},
		func(i int) *pb.Event {
			return &pb.Event{PeerObserverEvent: &pb.Event_LogExtractor{LogExtractor: &pb.Log{LogTimestamp: proto.Uint64(uint64(i)),
				Category: pb.LogDebugCategory_NET.Enum(), LogEvent: &pb.Log_UnknownLogMessage{
					UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String(fmt.Sprintf("line %d", i))}}}}}
		},
		func(i int) *pb.Event {
			return &pb.Event{PeerObserverEvent: &pb.Event_IpcExtractor{IpcExtractor: &pb.Ipc{IpcEvent: &pb.Ipc_BlockTip{
				BlockTip: &pb.BlockTip{Height: proto.Int32(int32(i)), Hash: hash(9)}}}}}
		},
		nil, // an oneof arm from a newer extractor: field 9, unknown here
	}
	evs := make([]event.Event, n)
	for i := range evs {
		ts := start + int64(i)
		b := builders[i%len(builders)]
		var ev event.Event
		var err error
		if b == nil {
			raw := protowire.AppendTag(nil, 10, protowire.VarintType)
			raw = protowire.AppendVarint(raw, uint64(ts))
			raw = protowire.AppendTag(raw, 9, protowire.BytesType)
			raw = protowire.AppendBytes(raw, []byte{8, byte(i)})
			ev, err = event.Parse(raw)
		} else {
			m := b(i)
			m.Timestamp = proto.Uint64(uint64(ts))
			ev, err = event.New(m)
		}
		if err != nil {
			t.Fatal(err)
		}
		evs[i] = ev
	}
	return evs
}

// writeSeg writes a complete segment of node with frames of at most
// frameSize raw bytes (0: default).
func writeSeg(t testing.TB, dir, name, node string, evs []event.Event, frameSize int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	w, err := format.Create(p, format.WriterOptions{FlushInterval: -1, FrameSize: frameSize, Meta: &pb.SegmentMeta{Node: node, CreatedMs: t0}})
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
	return p
}

// writeSegWithGap writes a segment holding evs and one recorded outage.
func writeSegWithGap(t testing.TB, dir string, evs []event.Event, start, end int64) string {
	t.Helper()
	p := filepath.Join(dir, "gap.seg.zst")
	w, err := format.Create(p, format.WriterOptions{FlushInterval: -1, Meta: &pb.SegmentMeta{Node: "n", CreatedMs: t0}})
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		if i == len(evs)/2 {
			w.Gap(&pb.Gap{StartMs: start, EndMs: end, Reason: "nats outage"})
		}
		if err := w.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// gapLogger logs events and gaps in the order a sink sees them.
type gapLogger struct{ log *[]string }

func (g *gapLogger) Consume(ev event.Event) error {
	*g.log = append(*g.log, fmt.Sprintf("ev %d", ev.Time-t0))
	return nil
}

func (g *gapLogger) Gap(gp *pb.Gap) {
	*g.log = append(*g.log, fmt.Sprintf("gap %d-%d", gp.StartMs-t0, gp.EndMs-t0))
}

// writePartial leaves dir/name.partial as a crashed recorder would: every
// event flushed, no index, no trailer.
func writePartial(t testing.TB, dir, name, node string, evs []event.Event) string {
	t.Helper()
	tmp := t.TempDir()
	w, err := format.Create(filepath.Join(tmp, name), format.WriterOptions{FlushInterval: -1, Meta: &pb.SegmentMeta{Node: node, CreatedMs: t0}})
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		if err := w.Append(ev); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 { // a live recorder flushes every second
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(tmp, name+format.PartialSuffix))
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	p := filepath.Join(dir, name+format.PartialSuffix)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeUpstream writes a peer-observer archive: a length-delimited
// ArchiveHeader and length-delimited events, zstd-compressed when the name
// ends in .zst, flushed after the header as peer-observer's archiver does
// and every 100 events, so a cut file keeps complete blocks.
func writeUpstream(t testing.TB, dir, name string, evs []event.Event) string {
	t.Helper()
	h, err := proto.Marshal(&pb.ArchiveHeader{Created: proto.Uint64(uint64(t0 / 1000))})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var w io.Writer = &out
	flush := func() {}
	if filepath.Ext(name) == ".zst" {
		enc, err := zstd.NewWriter(&out, zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		w = enc
		flush = func() {
			if err := enc.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.Write(protowire.AppendBytes(nil, h))
	flush()
	for i, ev := range evs {
		w.Write(protowire.AppendBytes(nil, ev.Raw))
		if i%100 == 99 {
			flush()
		}
	}
	if c, ok := w.(io.Closer); ok {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, name)
	writeFile(t, p, out.Bytes())
	return p
}

// collector is a sink that keeps everything it is given, and the fake
// time at which it got it.
type collector struct {
	mu    sync.Mutex
	clock *fakeClock
	evs   []event.Event
	at    []time.Time
	gaps  []*pb.Gap
	each  func(i int, ev event.Event)
}

func (c *collector) Consume(ev event.Event) error {
	c.mu.Lock()
	c.evs = append(c.evs, ev)
	if c.clock != nil {
		c.at = append(c.at, c.clock.Now())
	}
	i := len(c.evs) - 1
	c.mu.Unlock()
	if c.each != nil {
		c.each(i, ev)
	}
	return nil
}

func (c *collector) Gap(g *pb.Gap) { c.gaps = append(c.gaps, g) }

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evs)
}

// readAll drains r as an iterator.
func readAll(t testing.TB, r *Replay) []event.Event {
	t.Helper()
	var out []event.Event
	for r.Next() {
		out = append(out, r.Event())
	}
	return out
}

// open opens paths or fails the test.
func open(t testing.TB, paths []string, opts ...Option) *Replay {
	t.Helper()
	r, err := Open(paths, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// run runs r into a collector and fails on error.
func run(t testing.TB, r *Replay, c *collector) Stats {
	t.Helper()
	if err := r.Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return r.Stats()
}

// manyFilesDir returns a directory for tests that write hundreds of
// segments. Every segment close fsyncs the file and its directory, which
// costs ~80 ms on this kind of disk, so they use a tmpfs when there is one.
func manyFilesDir(t testing.TB) string {
	t.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "peertape-replay-test")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// parallel runs f(0..n-1) on all cores: writing many segments is bound by
// allocating each writer's zstd window.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0)*2)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}

func writeFile(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ---- fake clock ----

// fakeClock is a Clock whose timers fire at once, moving the clock to
// their deadline (plus overshoot, to model a late wake-up). With hold set,
// timers never fire, for tests that cancel a replay mid-sleep.
type fakeClock struct {
	mu        sync.Mutex
	now       time.Time
	overshoot time.Duration
	hold      bool
	sleeps    int
	armed     chan struct{} // signalled when a held timer is armed
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_000_000, 0), armed: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleeps() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sleeps
}

func (c *fakeClock) NewTimer() Timer { return &fakeTimer{c: c, ch: make(chan time.Time, 1)} }

type fakeTimer struct {
	c  *fakeClock
	ch chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Reset(d time.Duration) {
	t.Stop()
	c := t.c
	c.mu.Lock()
	c.sleeps++
	if c.hold {
		c.mu.Unlock()
		select {
		case c.armed <- struct{}{}:
		default:
		}
		return
	}
	c.now = c.now.Add(d + c.overshoot)
	now := c.now
	c.mu.Unlock()
	t.ch <- now
}

func (t *fakeTimer) Stop() {
	select {
	case <-t.ch:
	default:
	}
}
