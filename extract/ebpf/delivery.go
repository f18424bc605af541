package ebpf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/peertape/peertape/bpf"
	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// delivery turns ring buffer records into events for one sink. The two
// ring readers call it concurrently; sink calls are serialised.
type delivery struct {
	x          *Extractor
	sink       event.Sink
	gaps       event.GapSink
	nodeInfo   event.NodeInfoSink
	cancel     context.CancelCauseFunc
	mu         sync.Mutex
	failed     atomic.Bool
	sawVersion atomic.Bool
	logs       logLimiter
}

// read delivers the records of one ring until it is flushed or closed.
// With a wakeup threshold the probes do not wake it for every record, so
// it also wakes every MaxDelay to read what a quiet ring holds.
func (d *delivery) read(rd *ringbuf.Reader) {
	var rec ringbuf.Record
	var scratch []byte
	batched := d.x.opts.WakeupBytes > 0
	if batched {
		rd.SetDeadline(time.Now().Add(d.x.opts.MaxDelay))
	}
	for {
		if err := rd.ReadInto(&rec); err != nil {
			if batched && errors.Is(err, os.ErrDeadlineExceeded) {
				rd.SetDeadline(time.Now().Add(d.x.opts.MaxDelay))
				continue
			}
			if !errors.Is(err, ringbuf.ErrFlushed) && !errors.Is(err, ringbuf.ErrClosed) {
				d.fail(fmt.Errorf("ebpf extractor: read ring buffer: %w", err))
			}
			return
		}
		if d.failed.Load() {
			continue // drain until Run stops the readers; nothing more is delivered
		}
		d.handle(rec.RawSample, &scratch)
	}
}

func (d *delivery) fail(err error) {
	if d.failed.CompareAndSwap(false, true) {
		d.cancel(err)
	}
}

// handle decodes one record, accounts for every problem and hands the
// event to the sink.
func (d *delivery) handle(raw []byte, scratch *[]byte) {
	x := d.x
	ev, info, err := decodeRecord(raw, x.timeMs, scratch)
	if err != nil {
		reason := recordErrorReason(err)
		x.m.recordErrors.WithLabelValues(recTypeName(info.Type), reason).Inc()
		d.warn("record:"+recTypeName(info.Type)+":"+reason, "probe record dropped", "error", err)
		return
	}
	if info.Flags != 0 {
		for _, f := range truncFields {
			if info.Flags&f.flag != 0 {
				x.m.truncated.WithLabelValues(recTypeName(info.Type), f.name).Inc()
				d.warn("trunc:"+recTypeName(info.Type)+":"+f.name, "string longer than its BPF buffer, published cut",
					"tracepoint", recTypeName(info.Type), "field", f.name)
			}
		}
	}
	if info.PayloadErr != nil {
		x.m.decodeErrors.WithLabelValues(info.Command).Inc()
		d.warn("decode:"+info.Command, "P2P payload did not parse; published as unknown with its raw payload",
			"command", info.Command, "error", info.PayloadErr)
	}
	if info.Type == recInboundMessage || info.Type == recOutboundMessage {
		x.m.payloadBytes.Add(float64(info.Size))
	}
	ev.Node = x.opts.Node
	if info.Type == recOutboundMessage && info.Command == "version" && d.nodeInfo != nil && d.sawVersion.CompareAndSwap(false, true) {
		d.reportNode(ev)
	}
	d.mu.Lock()
	err = d.sink.Consume(ev)
	d.mu.Unlock()
	if err != nil {
		d.fail(err)
		return
	}
	x.events[info.Type].Inc()
	x.m.lastEventTime.Set(float64(ev.Time) / 1e3)
}

// reportNode tells a NodeInfoSink what the node is, from the version
// message it sends its peers.
func (d *delivery) reportNode(ev event.Event) {
	msg, err := ev.Decode()
	if err != nil {
		return
	}
	ua := msg.GetEbpfExtractor().GetMessage().GetVersion().GetUserAgent()
	if ua == "" {
		return
	}
	impl := "unknown"
	switch {
	case strings.Contains(ua, "Knots"):
		impl = "Bitcoin Knots"
	case strings.HasPrefix(ua, "/Satoshi:"):
		impl = "Bitcoin Core"
	}
	d.mu.Lock()
	d.nodeInfo.NodeInfo(event.NodeInfo{Implementation: impl, Version: ua})
	d.mu.Unlock()
}

func (d *delivery) gap(g *pb.Gap) {
	if d.gaps == nil {
		return
	}
	d.mu.Lock()
	d.gaps.Gap(g)
	d.mu.Unlock()
}

func (d *delivery) warn(key, msg string, args ...any) {
	if ok, suppressed := d.logs.allow(key); ok {
		if suppressed > 0 {
			args = append(args, "suppressed_since_last", suppressed)
		}
		d.x.log.Warn(msg, args...)
	}
}

func recordErrorReason(err error) string {
	switch {
	case errors.Is(err, ErrReadFailed):
		return "read_error"
	case errors.Is(err, ErrOversized):
		return "oversized"
	case errors.Is(err, ErrUnknownRecord):
		return "unknown_type"
	}
	return "malformed"
}

// logLimiter lets one warning per key through every logEvery, counting
// the ones it holds back, so a misbehaving peer cannot flood the log while
// nothing goes unmentioned.
type logLimiter struct {
	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

const logEvery = 10 * time.Second

func (l *logLimiter) allow(key string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last, l.suppressed = map[string]time.Time{}, map[string]int{}
	}
	now := time.Now()
	if t, ok := l.last[key]; ok && now.Sub(t) < logEvery {
		l.suppressed[key]++
		return false, 0
	}
	n := l.suppressed[key]
	l.last[key], l.suppressed[key] = now, 0
	return true, n
}

// dropCounter turns the BPF per-CPU drop counters into metric increments,
// warnings and gaps.
type dropCounter struct {
	m    *ebpf.Map
	x    *Extractor
	last []uint64
	at   time.Time
}

var dropReasons = [...]string{
	bpf.TracingDropReasonDROP_RING_FULL: "ring_full",
	bpf.TracingDropReasonDROP_NO_SPEC:   "no_spec",
	bpf.TracingDropReasonDROP_BAD_ARG:   "bad_arg",
}

func newDropCounter(m *ebpf.Map, x *Extractor) *dropCounter {
	return &dropCounter{m: m, x: x, last: make([]uint64, numRecTypes*len(dropReasons)), at: time.Now()}
}

// collect reads the counters; it is called from one goroutine at a time.
func (c *dropCounter) collect(d *delivery) {
	now := time.Now()
	sums, err := c.read()
	if err != nil {
		d.warn("drops-lookup", "cannot read BPF drop counters", "error", err)
		return
	}
	var total uint64
	var parts []string
	for key, sum := range sums {
		delta := sum - c.last[key]
		if delta == 0 {
			continue
		}
		c.last[key] = sum
		typ, reason := recTypeName(uint16(key/len(dropReasons))), dropReasons[key%len(dropReasons)]
		c.x.m.lost.WithLabelValues(typ, reason).Add(float64(delta))
		total += delta
		parts = append(parts, fmt.Sprintf("%s %s: %d", typ, reason, delta))
	}
	if total > 0 {
		desc := strings.Join(parts, ", ")
		c.x.log.Warn("probe hits lost in BPF", "lost", total, "detail", desc)
		d.gap(&pb.Gap{StartMs: c.at.UnixMilli(), EndMs: now.UnixMilli(), Reason: "ebpf records lost (" + desc + ")", Dropped: total})
	}
	c.at = now
}

// read returns every counter summed over CPUs: one batch lookup where the
// kernel has it (5.6+), else one lookup per key.
func (c *dropCounter) read() ([]uint64, error) {
	n := len(c.last)
	sums := make([]uint64, n)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	keys := make([]uint32, n)
	vals := make([]uint64, n*ncpu)
	var cursor ebpf.MapBatchCursor
	got, err := c.m.BatchLookup(&cursor, keys, vals, nil)
	if err == nil || errors.Is(err, ebpf.ErrKeyNotExist) {
		for i := 0; i < got; i++ {
			if k := int(keys[i]); k < n {
				for _, v := range vals[i*ncpu : (i+1)*ncpu] {
					sums[k] += v
				}
			}
		}
		if got == n {
			return sums, nil
		}
	}
	for key := range sums {
		var perCPU []uint64
		if err := c.m.Lookup(uint32(key), &perCPU); err != nil {
			return nil, err
		}
		sums[key] = 0
		for _, v := range perCPU {
			sums[key] += v
		}
	}
	return sums, nil
}
