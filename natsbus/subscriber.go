package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// SubscriberOptions configures a Subscriber. The zero value subscribes to
// "*" — every peer-observer subject, as its own tools do.
type SubscriberOptions struct {
	// Subjects to subscribe to; default {"*"}. Each is its own NATS
	// subscription with its own dispatcher: events keep arrival order
	// within a subject, not across several subjects ("*" keeps it for all).
	Subjects []string
	// Node is set as event.Event.Node on every event.
	Node string
	// Name is the NATS client name shown by the server; default "peertape".
	Name string
	// User and Password authenticate, when set.
	User, Password string
	// PendingMsgs and PendingBytes bound the client-side buffer of each
	// subscription. Past them the NATS client drops messages (a slow
	// consumer); drops are counted, logged and reported as gaps. Defaults:
	// 1,000,000 messages and 256 MiB.
	PendingMsgs, PendingBytes int
	// DrainTimeout bounds shutdown: buffered messages are still delivered
	// for at most this long, even when the server is unreachable. Default 5s.
	DrainTimeout time.Duration
	// ReconnectWait is the pause between reconnection attempts; default 250ms.
	ReconnectWait time.Duration
	// ReadCoalesce: after a read that nearly drained the socket, the next
	// read waits until this long has passed, so messages published one at
	// a time are read several per wake-up (the per-message wake-up was
	// most of the subscriber's CPU at peer-observer's rates). It adds at
	// most this much latency; reads that fill half the buffer go on at
	// once, so throughput is not limited. Default DefaultReadCoalesce
	// (25ms); negative disables. Only TCP connections coalesce with
	// SO_RCVLOWAT; others only wait.
	ReadCoalesce time.Duration
	// OnMalformed receives payloads that are not protobuf at all, which
	// cannot be recorded as events. Default: log and count.
	OnMalformed func(subject string, data []byte)
	// Registerer, when set, receives the subscriber's metrics.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Subscriber is an event.Source of NATS messages. It keeps running through
// server restarts (reconnecting forever), and reports each outage and each
// slow-consumer drop to the sink as a gap (event.GapSink).
type Subscriber struct {
	url   string
	o     SubscriberOptions
	log   *slog.Logger
	ready chan struct{}
	m     subscriberMetrics
}

type subscriberMetrics struct {
	received, malformed, disconnects, reconnects, dropped prometheus.Counter
	connected                                             prometheus.Gauge
}

// NewSubscriber returns a Subscriber for the server at url.
func NewSubscriber(url string, o SubscriberOptions) *Subscriber {
	if len(o.Subjects) == 0 {
		o.Subjects = []string{"*"}
	}
	if o.Name == "" {
		o.Name = "peertape"
	}
	if o.PendingMsgs == 0 {
		o.PendingMsgs = 1_000_000
	}
	if o.PendingBytes == 0 {
		o.PendingBytes = 256 << 20
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 5 * time.Second
	}
	if o.ReconnectWait == 0 {
		o.ReconnectWait = 250 * time.Millisecond
	}
	if o.ReadCoalesce == 0 {
		o.ReadCoalesce = DefaultReadCoalesce
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Subscriber{url: url, o: o, log: o.Logger.With("component", "nats", "url", url), ready: make(chan struct{})}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "peertape_nats_" + name, Help: help})
		if o.Registerer != nil {
			o.Registerer.MustRegister(c)
		}
		return c
	}
	s.m = subscriberMetrics{
		received:    counter("messages_received_total", "NATS messages received."),
		malformed:   counter("messages_malformed_total", "NATS payloads that were not an event.Event protobuf."),
		disconnects: counter("disconnects_total", "Times the connection to NATS was lost."),
		reconnects:  counter("reconnects_total", "Times the connection to NATS was re-established."),
		dropped:     counter("slow_consumer_dropped_total", "Messages the NATS client dropped because the subscriber fell behind."),
		connected:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "peertape_nats_connected", Help: "1 while connected to NATS."}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(s.m.connected)
	}
	return s
}

// Ready is closed once the subscriptions are registered with the server, so
// a caller (or test) can start publishing without losing the first events.
func (s *Subscriber) Ready() <-chan struct{} { return s.ready }

// Run subscribes and passes every message to sink until ctx is cancelled
// (returns ctx.Err()) or the sink fails (returns its error). It calls the
// sink from one goroutine at a time. Run starts even when the server is
// down, and waits for it.
func (s *Subscriber) Run(ctx context.Context, sink event.Sink) error {
	var (
		mu        sync.Mutex // serializes sink calls and the fields below
		sinkErr   error
		downSince time.Time
		down      string
	)
	gapSink, _ := sink.(event.GapSink)
	reportGap := func(g *pb.Gap) {
		if gapSink != nil {
			gapSink.Gap(g)
		}
	}
	var closing atomic.Bool // our own shutdown is not an outage
	// endOutage reports the outage that just ended as a gap, if one was
	// going on; it says whether there was one.
	endOutage := func(nc *nats.Conn, msg string) bool {
		mu.Lock()
		defer mu.Unlock()
		if downSince.IsZero() {
			return false
		}
		end := time.Now()
		s.log.Info(msg, "server", nc.ConnectedUrlRedacted(), "outage", end.Sub(downSince).Round(time.Millisecond))
		reportGap(&pb.Gap{StartMs: downSince.UnixMilli(), EndMs: end.UnixMilli(), Reason: "nats " + down})
		downSince = time.Time{}
		return true
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	closed := make(chan struct{})

	opts := []nats.Option{
		nats.Name(s.o.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(s.o.ReconnectWait),
		nats.DrainTimeout(s.o.DrainTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if closing.Load() {
				return
			}
			s.m.disconnects.Inc()
			s.m.connected.Set(0)
			reason := "disconnected"
			if err != nil {
				reason = "disconnected: " + err.Error()
			}
			s.log.Warn("nats connection lost", "err", err)
			mu.Lock()
			if downSince.IsZero() {
				downSince, down = time.Now(), reason
			}
			mu.Unlock()
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			s.m.reconnects.Inc()
			s.m.connected.Set(1)
			endOutage(nc, "nats reconnected")
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			s.m.connected.Set(1)
			// nats.go calls this handler, not ReconnectHandler, when the
			// server was down at start and comes up (RetryOnFailedConnect).
			if !endOutage(nc, "nats connected") {
				s.log.Info("nats connected", "server", nc.ConnectedUrlRedacted())
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				return // counted by the drop poller, which knows how many
			}
			s.log.Warn("nats async error", "err", err)
		}),
	}
	if s.o.User != "" {
		opts = append(opts, nats.UserInfo(s.o.User, s.o.Password))
	}
	if s.o.ReadCoalesce > 0 {
		// nats.go's own dialer is a net.Dialer with this timeout
		// (nats.DefaultTimeout).
		opts = append(opts, nats.SetCustomDialer(&coalescingDialer{Dialer: net.Dialer{Timeout: nats.DefaultTimeout}, wait: s.o.ReadCoalesce}))
	}
	nc, err := nats.Connect(s.url, opts...)
	if err != nil {
		return fmt.Errorf("nats connect %s: %w", s.url, err)
	}
	// Checked under mu: a connect that lands after the check reaches
	// endOutage only once downSince is set.
	mu.Lock()
	if !nc.IsConnected() {
		s.log.Warn("nats server not reachable yet; retrying", "url", s.url)
		downSince, down = time.Now(), "not reachable at start"
	}
	mu.Unlock()

	handler := func(m *nats.Msg) {
		s.m.received.Inc()
		ev, err := event.Parse(m.Data)
		if err != nil {
			s.m.malformed.Inc()
			if s.o.OnMalformed != nil {
				s.o.OnMalformed(m.Subject, m.Data)
			} else {
				s.log.Warn("dropping NATS payload that is not an event", "subject", m.Subject, "bytes", len(m.Data), "err", err)
			}
			return
		}
		ev.Node = s.o.Node
		mu.Lock()
		defer mu.Unlock()
		if sinkErr != nil {
			return
		}
		if err := sink.Consume(ev); err != nil {
			sinkErr = err
			stop()
		}
	}
	var subs []*nats.Subscription
	for _, subj := range s.o.Subjects {
		sub, err := nc.Subscribe(subj, handler)
		if err != nil {
			nc.Close()
			return fmt.Errorf("nats subscribe %q: %w", subj, err)
		}
		if err := sub.SetPendingLimits(s.o.PendingMsgs, s.o.PendingBytes); err != nil {
			nc.Close()
			return fmt.Errorf("nats subscribe %q: %w", subj, err)
		}
		subs = append(subs, sub)
	}
	go func() {
		// Registered means the server has processed our SUB: a flush
		// round-trip after connecting proves it.
		for runCtx.Err() == nil {
			if nc.IsConnected() {
				if err := nc.FlushTimeout(time.Second); err == nil {
					close(s.ready)
					return
				}
			}
			select {
			case <-runCtx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	dropped := make([]int, len(subs))
	pollDrops := func() {
		for i, sub := range subs {
			n, err := sub.Dropped()
			if err != nil || n <= dropped[i] {
				continue
			}
			delta := n - dropped[i]
			dropped[i] = n
			s.m.dropped.Add(float64(delta))
			s.log.Error("NATS subscriber fell behind: messages dropped", "subject", sub.Subject, "dropped", delta, "dropped_total", n)
			now := time.Now().UnixMilli()
			mu.Lock()
			reportGap(&pb.Gap{StartMs: now, EndMs: now, Reason: "nats slow consumer on " + sub.Subject, Dropped: uint64(delta)})
			mu.Unlock()
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case <-tick.C:
			pollDrops()
		}
	}

	// Shutdown: deliver what the client already holds, bounded in time.
	closing.Store(true)
	if nc.IsConnected() {
		if err := nc.Drain(); err == nil {
			select {
			case <-closed:
			case <-time.After(s.o.DrainTimeout + time.Second):
				s.log.Warn("nats drain timed out")
			}
		}
	} else {
		deadline := time.Now().Add(s.o.DrainTimeout)
		for _, sub := range subs {
			for time.Now().Before(deadline) {
				if n, _, err := sub.Pending(); err != nil || n == 0 {
					break
				}
				time.Sleep(10 * time.Millisecond) // polling the client's queue; there is no signal for "empty"
			}
		}
	}
	nc.Close()
	pollDrops()
	mu.Lock()
	defer mu.Unlock()
	if !downSince.IsZero() {
		reportGap(&pb.Gap{StartMs: downSince.UnixMilli(), EndMs: time.Now().UnixMilli(), Reason: "nats " + down + " (until shutdown)"})
	}
	if sinkErr != nil {
		return sinkErr
	}
	return ctx.Err()
}
