package natsbus_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/internal/testenv"
	"github.com/peertape/peertape/natsbus"
	"github.com/peertape/peertape/proto/pb"
)

// collector is a sink that records events and gaps and signals each event.
type collector struct {
	mu     sync.Mutex
	events []event.Event
	gaps   []*pb.Gap
	got    chan struct{}
}

func newCollector() *collector { return &collector{got: make(chan struct{}, 1<<16)} }

func (c *collector) Consume(ev event.Event) error {
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
	c.got <- struct{}{}
	return nil
}

func (c *collector) Gap(g *pb.Gap) {
	c.mu.Lock()
	c.gaps = append(c.gaps, g)
	c.mu.Unlock()
}

func (c *collector) waitN(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-c.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d events", i, n)
		}
	}
}

func mustEvent(t *testing.T, msg *pb.Event) event.Event {
	t.Helper()
	ev, err := event.New(msg)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func sampleEvents(t *testing.T) []event.Event {
	ping := &pb.Event{Timestamp: proto.Uint64(1000), PeerObserverEvent: &pb.Event_EbpfExtractor{EbpfExtractor: &pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: &pb.MessageEvent{
		Meta: &pb.Metadata{PeerId: proto.Uint64(7), Addr: proto.String("1.2.3.4:8333"), ConnType: pb.ConnType_Inbound.Enum(), Command: proto.String("ping"), Inbound: proto.Bool(true), Size: proto.Uint64(8)},
		Msg:  &pb.MessageEvent_Ping{Ping: &pb.Ping{Value: proto.Uint64(42)}},
	}}}}}
	uptime := &pb.Event{Timestamp: proto.Uint64(2000), PeerObserverEvent: &pb.Event_RpcExtractor{RpcExtractor: &pb.Rpc{RpcEvent: &pb.Rpc_Uptime{Uptime: 77}}}}
	dur := &pb.Event{Timestamp: proto.Uint64(3000), PeerObserverEvent: &pb.Event_P2PExtractor{P2PExtractor: &pb.P2P{P2PEvent: &pb.P2P_PingDuration{PingDuration: &pb.PingDuration{Duration: proto.Uint64(5)}}}}}
	evs := []event.Event{mustEvent(t, ping), mustEvent(t, uptime), mustEvent(t, dur)}
	// An event from a newer extractor: timestamp plus an oneof arm this
	// build does not know (field 9). It must travel byte-exactly.
	unknown := []byte{0x50, 0xb8, 0x17, 0x4a, 0x02, 0x08, 0x01} // timestamp 3000, field 9 {08 01}
	u, err := event.Parse(unknown)
	if err != nil {
		t.Fatal(err)
	}
	return append(evs, u)
}

func TestPublishSubscribeByteExact(t *testing.T) {
	srv := testenv.NATS(t)
	evs := sampleEvents(t)

	sub := natsbus.NewSubscriber(srv.ClientURL(), natsbus.SubscriberOptions{Node: "n1"})
	col := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx, col) }()
	<-sub.Ready()

	// Watch subjects with a plain client to check routing.
	nc := testenv.NATSConn(t, srv)
	subjects := make(chan string, 10)
	if _, err := nc.Subscribe("*", func(m *nats.Msg) { subjects <- m.Subject }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	pub := natsbus.NewPublisher(testenv.NATSConn(t, srv))
	for _, ev := range evs {
		if err := pub.Consume(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	col.waitN(t, len(evs))
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}

	if len(col.events) != len(evs) {
		t.Fatalf("received %d events, want %d", len(col.events), len(evs))
	}
	for i, ev := range col.events {
		if !bytes.Equal(ev.Raw, evs[i].Raw) {
			t.Errorf("event %d: bytes differ\n got %x\nwant %x", i, ev.Raw, evs[i].Raw)
		}
		if ev.Node != "n1" {
			t.Errorf("event %d: node %q, want n1", i, ev.Node)
		}
	}
	want := []string{"netmsg", "rpc", "p2p-extractor", "unknown"}
	for i, w := range want {
		select {
		case s := <-subjects:
			if s != w {
				t.Errorf("event %d published on %q, want %q", i, s, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("subject %d not seen", i)
		}
	}
}

// A sink error stops the subscriber and is returned.
func TestSubscriberStopsOnSinkError(t *testing.T) {
	srv := testenv.NATS(t)
	sub := natsbus.NewSubscriber(srv.ClientURL(), natsbus.SubscriberOptions{})
	boom := errors.New("disk full")
	done := make(chan error, 1)
	go func() {
		done <- sub.Run(context.Background(), event.SinkFunc(func(event.Event) error { return boom }))
	}()
	<-sub.Ready()
	pub := natsbus.NewPublisher(testenv.NATSConn(t, srv))
	if err := pub.Consume(sampleEvents(t)[0]); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Fatalf("Run returned %v, want %v", err, boom)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("subscriber did not stop after sink error")
	}
}

// Malformed payloads are reported, not passed on as events.
func TestSubscriberMalformed(t *testing.T) {
	srv := testenv.NATS(t)
	var mu sync.Mutex
	var bad [][]byte
	got := make(chan struct{}, 4)
	sub := natsbus.NewSubscriber(srv.ClientURL(), natsbus.SubscriberOptions{OnMalformed: func(_ string, data []byte) {
		mu.Lock()
		bad = append(bad, append([]byte{}, data...))
		mu.Unlock()
		got <- struct{}{}
	}})
	col := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sub.Run(ctx, col)
	<-sub.Ready()
	nc := testenv.NATSConn(t, srv)
	if err := nc.Publish("netmsg", []byte{0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("malformed payload not reported")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) != 1 || !bytes.Equal(bad[0], []byte{0xff, 0xff, 0xff}) {
		t.Fatalf("OnMalformed got %x", bad)
	}
	if len(col.events) != 0 {
		t.Fatalf("malformed payload reached the sink as %d events", len(col.events))
	}
}

// The subscriber survives a server restart on the same port and reports the
// outage as a gap.
func TestSubscriberReconnectsAndReportsGap(t *testing.T) {
	srv, err := natsbus.StartServer(natsbus.ServerOptions{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().(interface{ String() string }).String()
	_, port := splitPort(t, addr)
	sub := natsbus.NewSubscriber(srv.ClientURL(), natsbus.SubscriberOptions{ReconnectWait: 20 * time.Millisecond})
	col := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx, col) }()
	<-sub.Ready()

	srv.Close()
	srv2, err := natsbus.StartServer(natsbus.ServerOptions{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	// Publish until the resubscribed client receives: that proves the reconnect.
	nc := testenv.NATSConn(t, srv2)
	pub := natsbus.NewPublisher(nc)
	ev := sampleEvents(t)[0]
	deadline := time.Now().Add(15 * time.Second)
	for {
		pub.Consume(ev)
		nc.Flush()
		select {
		case <-col.got:
			goto received
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no event after server restart")
		}
	}
received:
	cancel()
	<-done
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.gaps) == 0 {
		t.Fatal("outage not reported as a gap")
	}
	g := col.gaps[0]
	if g.EndMs < g.StartMs || g.Reason == "" {
		t.Fatalf("bad gap %+v", g)
	}
}

func splitPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// Subjects limits the subscription (record --subjects a,b): only events
// published on those subjects arrive, byte for byte. Each subject is its
// own NATS subscription, dispatched by its own goroutine, so order holds
// within a subject, not across subjects (with the default "*" it holds
// for everything).
func TestSubscriberSubjects(t *testing.T) {
	srv := testenv.NATS(t)
	evs := sampleEvents(t) // netmsg, rpc, p2p-extractor, unknown
	sub := natsbus.NewSubscriber(srv.ClientURL(), natsbus.SubscriberOptions{Node: "n1", Subjects: []string{"rpc", "unknown"}})
	col := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx, col) }()
	<-sub.Ready()
	pub := natsbus.NewPublisher(testenv.NATSConn(t, srv))
	// Rounds with distinct timestamps, so order within a subject shows.
	const rounds = 50
	var rpc, unknown [][]byte
	for round := 0; round < rounds; round++ {
		for i, ev := range evs {
			raw := append([]byte{0x50, byte(0x80 | round), 0x01}, ev.Raw[3:]...) // timestamp field rewritten
			if i == 0 || i == 2 {
				raw = ev.Raw
			}
			e, err := event.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			switch i {
			case 1:
				rpc = append(rpc, raw)
			case 3:
				unknown = append(unknown, raw)
			}
			if err := pub.Consume(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := pub.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	col.waitN(t, 2*rounds)
	cancel()
	<-done
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.events) != 2*rounds {
		t.Fatalf("received %d events, want %d", len(col.events), 2*rounds)
	}
	var gotRPC, gotUnknown [][]byte
	for _, ev := range col.events {
		switch ev.Kind {
		case event.RPC:
			gotRPC = append(gotRPC, ev.Raw)
		case event.Unknown:
			gotUnknown = append(gotUnknown, ev.Raw)
		default:
			t.Fatalf("event of kind %s arrived, not subscribed", ev.Kind)
		}
	}
	for name, pair := range map[string][2][][]byte{"rpc": {gotRPC, rpc}, "unknown": {gotUnknown, unknown}} {
		got, want := pair[0], pair[1]
		if len(got) != len(want) {
			t.Fatalf("%s: %d events, want %d", name, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%s event %d: got %x, want %x", name, i, got[i], want[i])
			}
		}
	}
}

// A subscriber started while the server is down waits for it: Ready
// closes once the server is up and subscribed, events then arrive, and the
// time without a server is reported as a gap.
func TestSubscriberStartsBeforeServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port := splitPort(t, ln.Addr().String())
	ln.Close() // a port nothing listens on, for now
	sub := natsbus.NewSubscriber("nats://127.0.0.1:"+strconv.Itoa(port), natsbus.SubscriberOptions{ReconnectWait: 20 * time.Millisecond})
	col := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx, col) }()
	select {
	case <-sub.Ready():
		t.Fatal("ready without a server")
	case err := <-done:
		t.Fatalf("Run gave up without a server: %v", err)
	case <-time.After(200 * time.Millisecond): // it keeps waiting; nothing to synchronise on
	}
	srv, err := natsbus.StartServer(natsbus.ServerOptions{Host: "127.0.0.1", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	select {
	case <-sub.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("not ready after the server started")
	}
	evs := sampleEvents(t)
	pub := natsbus.NewPublisher(testenv.NATSConn(t, srv))
	for _, ev := range evs {
		pub.Consume(ev)
	}
	if err := pub.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	col.waitN(t, len(evs))
	cancel()
	<-done
	col.mu.Lock()
	defer col.mu.Unlock()
	for i, ev := range col.events {
		if !bytes.Equal(ev.Raw, evs[i].Raw) {
			t.Fatalf("event %d differs", i)
		}
	}
	if len(col.gaps) != 1 || col.gaps[0].EndMs < col.gaps[0].StartMs || col.gaps[0].Reason != "nats not reachable at start" {
		t.Fatalf("gaps %v, want one for the time before the server", col.gaps)
	}
}
