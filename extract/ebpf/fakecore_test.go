package ebpf

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// collector is a sink that hands events to the test.
type collector struct {
	ch   chan event.Event
	mu   sync.Mutex
	gaps []*pb.Gap
	node []event.NodeInfo
}

func newCollector() *collector { return &collector{ch: make(chan event.Event, 1<<16)} }

func (c *collector) Consume(ev event.Event) error {
	c.ch <- ev
	return nil
}

func (c *collector) Gap(g *pb.Gap) {
	c.mu.Lock()
	c.gaps = append(c.gaps, g)
	c.mu.Unlock()
}

func (c *collector) NodeInfo(n event.NodeInfo) {
	c.mu.Lock()
	c.node = append(c.node, n)
	c.mu.Unlock()
}

// next returns the next event, failing after a generous deadline.
func (c *collector) next(t testing.TB) event.Event {
	t.Helper()
	select {
	case ev := <-c.ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return event.Event{}
}

// running is an extractor started by a test.
type running struct {
	x    *Extractor
	reg  *prometheus.Registry
	sink *collector
	done chan error
	stop context.CancelFunc
}

// startExtractor runs an extractor until the test ends.
func startExtractor(t testing.TB, o Options) *running {
	t.Helper()
	r := &running{reg: prometheus.NewRegistry(), sink: newCollector(), done: make(chan error, 1)}
	o.Registerer = r.reg
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	if o.MaxDelay == 0 {
		// Tests wait for each event: keep the batched wakeup path but
		// read quiet rings quickly.
		o.MaxDelay = 2 * time.Millisecond
	}
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	r.x = x
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.done <- x.Run(ctx, r.sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("extractor did not stop within 10s")
		}
	})
	return r
}

// metric returns the value of one series of the registry.
func (r *running) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}

// attachedTo waits until the extractor has attached every probe to pid.
// fakecore's semaphore wait is not enough on its own: the kernel raises a
// semaphore just before it writes the probe's breakpoint, so a probe fired
// in between is missed.
func (r *running) attachedTo(t testing.TB, pid int) {
	t.Helper()
	waitFor(t, "the extractor to attach", func() bool {
		return r.metric(t, "peertape_ebpf_attached") == 1 && int(r.metric(t, "peertape_ebpf_traced_pid")) == pid
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}
