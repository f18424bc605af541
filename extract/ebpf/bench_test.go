package ebpf

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peertape/peertape/bpf/bpftest"
	"github.com/peertape/peertape/event"
)

// countSink counts events and drops them: the benchmark measures the
// extractor, not a sink.
type countSink struct{ n atomic.Int64 }

func (c *countSink) Consume(event.Event) error { c.n.Add(1); return nil }

// processCPU returns the user+system CPU time of pid from /proc.
func processCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may contain spaces).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ
	return time.Duration(utime+stime) * time.Second / ticks
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadPayloads writes a small mix of everyday messages for fakecore's load
// command: pings, wtx invs, feefilters and transactions.
func loadPayloads(t testing.TB, fc *bpftest.FakeCore) string {
	t.Helper()
	tx, _ := segwitTx(t)
	return strings.Join([]string{
		"ping=" + fc.Payload(le64(7)),
		"inv=" + fc.Payload(cat(varint(1), le32(5), seq32(1))),
		"feefilter=" + fc.Payload(le64(1000)),
		"tx=" + fc.Payload(tx),
	}, " ")
}

// runLoad fires n messages as fast as fakecore can and waits until every
// one is accounted for, delivered or lost. It returns the counts and
// timings.
type loadResult struct {
	delivered, lost   int64
	wall, fire        time.Duration
	extractorCPU, cpu time.Duration
}

func runLoad(t testing.TB, n, threads int, o Options) loadResult {
	bin := bpftest.Binary(t, "-O2")
	fc := bpftest.Start(t, bin)
	reg := prometheus.NewRegistry()
	sink := &countSink{}
	o.BinaryPath, o.PID, o.Registerer = bin, fc.Pid, reg
	if o.PollInterval == 0 {
		o.PollInterval = 10 * time.Millisecond
	}
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx, sink) }()
	defer func() {
		cancel()
		<-done
	}()
	fc.Wait("net:inbound_message")
	r := &running{reg: reg}
	r.attachedTo(t, fc.Pid)
	// Every way a fired message can fail to arrive.
	lost := func() int64 {
		var n float64
		for _, reason := range []string{"ring_full", "no_spec", "bad_arg"} {
			n += r.metric(t, "peertape_ebpf_lost_total", "tracepoint", "net:inbound_message", "reason", reason)
		}
		for _, reason := range []string{"read_error", "oversized", "malformed", "unknown_type"} {
			n += r.metric(t, "peertape_ebpf_record_errors_total", "tracepoint", "net:inbound_message", "reason", reason)
		}
		return int64(n)
	}
	payloads := loadPayloads(t, fc)

	cpu0, child0, start := selfCPU(), processCPU(t, fc.Pid), time.Now()
	reply := fc.Do("load %d %d in %s", n, threads, payloads)
	fireNs, _ := strconv.ParseInt(reply, 10, 64)
	deadline := time.Now().Add(time.Minute)
	for sink.n.Load()+lost() < int64(n) {
		if time.Now().After(deadline) {
			mfs, _ := reg.Gather()
			for _, mf := range mfs {
				for _, m := range mf.GetMetric() {
					if (m.Counter != nil && m.Counter.GetValue() != 0) || (m.Gauge != nil && m.Gauge.GetValue() != 0) {
						t.Logf("%s %v %v%v", mf.GetName(), m.GetLabel(), m.GetCounter().GetValue(), m.GetGauge().GetValue())
					}
				}
			}
			t.Fatalf("only %d delivered and %d lost of %d after a minute", sink.n.Load(), lost(), n)
		}
		time.Sleep(time.Millisecond)
	}
	return loadResult{
		delivered: sink.n.Load(), lost: lost(),
		wall: time.Since(start), fire: time.Duration(fireNs),
		extractorCPU: selfCPU() - cpu0, cpu: processCPU(t, fc.Pid) - child0,
	}
}

// TestLoadAccounting fires a burst of messages and checks that every one
// is accounted for: delivered, or counted as lost. (Speed is the
// benchmark's business.)
func TestLoadAccounting(t *testing.T) {
	bpftest.Require(t)
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	res := runLoad(t, n, 2, Options{})
	if res.delivered+res.lost != int64(n) {
		t.Fatalf("delivered %d + lost %d != fired %d", res.delivered, res.lost, n)
	}
	t.Logf("%d fired in %v, %d delivered, %d lost", n, res.fire, res.delivered, res.lost)
}

// BenchmarkLoad fires b.N P2P messages (ping, inv, feefilter, tx) through
// the probes as fast as fakecore can, from one thread (as Core's message
// handler) and from two, and reports what the extractor delivered with the
// default ring buffer sizes. Run it with -benchtime=1000000x for the
// million-message load test.
func BenchmarkLoad(b *testing.B) {
	bpftest.Require(b)
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			res := runLoad(b, b.N, threads, Options{})
			b.ReportMetric(float64(res.delivered)/res.wall.Seconds(), "events/s")
			b.ReportMetric(float64(b.N)/res.fire.Seconds(), "fired/s")
			b.ReportMetric(float64(res.lost), "lost")
			b.ReportMetric(float64(res.extractorCPU.Nanoseconds())/float64(b.N), "extractor-cpu-ns/event")
			b.ReportMetric(float64(res.cpu.Nanoseconds())/float64(b.N), "probe-cpu-ns/event")
		})
	}
}

// BenchmarkDecodeRecord measures the user side alone (record to event
// bytes) on the load test's message mix, so its capacity can be read
// apart from the kernel's uprobe cost.
func BenchmarkDecodeRecord(b *testing.B) {
	tx, _ := segwitTx(b)
	recs := [][]byte{
		msgRecord(true, 1, "203.0.113.7:8333", "outbound-full-relay", "ping", le64(7)),
		msgRecord(true, 2, "203.0.113.7:8333", "outbound-full-relay", "inv", cat(varint(1), le32(5), seq32(1))),
		msgRecord(true, 3, "203.0.113.7:8333", "outbound-full-relay", "feefilter", le64(1000)),
		msgRecord(true, 4, "203.0.113.7:8333", "outbound-full-relay", "tx", tx),
	}
	var scratch []byte
	var bytesIn int
	for _, r := range recs {
		bytesIn += len(r)
	}
	b.SetBytes(int64(bytesIn / len(recs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := decodeRecord(recs[i%len(recs)], fixedTime, &scratch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
